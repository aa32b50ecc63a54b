// SPDX-License-Identifier: LGPL-2.1-or-later
// One core for both front ends (issue 11): `ukey --json` and ukeyd's API give the same answer for the same key, in
// every state the other tests build, errors included.
//
// Each test builds one SoftHSM2 state (keys from the reference CA, PIN tries counted through the CLI), then starts
// one ukeyd on the same module and state dir with the same CA (--ca-url, --ca-trust for both), and compares
//
//   ukey --json list           token.list
//   ukey --json certs          cert.list
//   ukey --json pin status     pin.status
//   ukey --json renew --check  renew.check
//
// (with --token X on the CLI exactly when "token": X is in the params). A success must be the same JSON; an error
// the same id, rule, PIN state (tries_left, max_tries, locked) and message, the CLI's {"error": {...}} against
// the API's error.message and error.data.
//
// Normalised, and only these, because PROTOCOL.md documents them as differing on purpose:
//   - `revocation` in `ukey certs` only: the CLI asks the CA's OCSP responder or CRL, which may take seconds, and
//     an API call does not wait on the network ("cert.list ... Not revocation");
//   - `der` in cert.list only: the API hands the certificate to the page ("plus der"); the CLI prints none;
//   - the CLI's `exit_code` against the API's `error.code`: each front end's own number for the same id; checked
//     separately, the exit code against the process's exit status and the code against PROTOCOL.md's table;
//   - the order of keys and of certificates: neither PROTOCOL.md nor the CLI promises one, so both are sorted.
// Everything else must be equal, renew.check's `ca` (the CA's confirmation, which `ukey renew --check` asks
// for) included: the same check, the same answer everywhere (issue 11, "One core entry point per capability").

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { PIN, WRONG, Sandbox, sleep, startRefCa } from '../lib/agent.mjs';

const T = { timeout: 90000 };
const DAY = 86400;

// The JSON-RPC code of each error id (PROTOCOL.md, "Messages").
const RPC_CODE = {
	'pin-incorrect': -32010, 'pin-locked': -32011, 'pin-invalid': -32012, 'not-logged-in': -32013,
	'no-token': -32020, 'token-not-found': -32021, 'token-ambiguous': -32022, 'token-removed': -32023,
	'token-failed': -32024, 'state-unavailable': -32040, 'state-corrupt': -32041, 'module-load': -32030,
	'cert-unreadable': -32050, 'key-not-found': -32051, 'unsupported': -32060, 'ca-unreachable': -32090,
	'ca-untrusted': -32091, 'ca-refused': -32092, 'ca-failed': -32093, 'ca-bad-response': -32094,
	'renew-not-open': -32095, 'renew-pending': -32096, usage: -32602, internal: -32000,
};

// The four pairs: the CLI's words, the API's method.
const PAIRS = [
	[['list'], 'token.list'],
	[['certs'], 'cert.list'],
	[['pin', 'status'], 'pin.status'],
	[['renew', '--check'], 'renew.check'],
];

// One state: the reference CA, the keys (mktoken argument lists, certificates from that CA), then prepare(sb,
// serials, ca) (e.g. wrong PINs through the CLI), then one ukeyd on it all. caArgs: ukey-refca serve's options.
// Resolves {sb, ca, agent, client, serials}.
async function state(t, keys, prepare = async () => {}, caArgs = ['--autopay']) {
	const sb = await Sandbox.create(t);
	const ca = await startRefCa(t, sb, caArgs);
	const serials = [];
	for (const args of keys)
		serials.push(await sb.mktoken('--refca', ca.dir, ...args));
	await prepare(sb, serials, ca);
	const agent = await sb.startAgent({ args: ['--ca-url', ca.url, '--ca-trust', ca.trust] });
	const client = await agent.local();
	return { sb, ca, agent, client, serials };
}

// n wrong PINs through `ukey pin verify`, each counted (exit 3, pin-incorrect; the tenth locks and is still 3).
async function wrongPins(sb, n, token) {
	for (let i = 0; i < n; i++) {
		const r = await sb.ukey(['pin', 'verify', ...(token ? ['--token', token] : [])], { input: `${WRONG}\n` });
		assert.equal(r.code, 3, `SETUP: wrong PIN ${i + 1} of ${n}: ${r.stderr}`);
	}
}

const byKey = (...fields) => (a, b) => {
	for (const f of fields) {
		const c = String(a[f]).localeCompare(String(b[f]));
		if (c)
			return c;
	}
	return 0;
};

// A success, normalised as the header says.
function normalResult(method, doc, from) {
	const o = structuredClone(doc);
	if (method === 'token.list' && Array.isArray(o.tokens))
		o.tokens.sort(byKey('serial'));
	if (method === 'cert.list' && Array.isArray(o.certificates)) {
		for (const c of o.certificates) {
			if (from === 'cli')
				delete c.revocation; // the CLI asks OCSP/CRL; cert.list does not wait on the network
			if (from === 'api') {
				if (c.readable)
					assert.equal(typeof c.der, 'string', 'cert.list: der for a readable certificate');
				delete c.der; // the API hands the page the certificate; the CLI prints none
			}
		}
		o.certificates.sort(byKey('token_serial', 'id'));
	}
	return o;
}

// The CLI's error and the API's, as one shape: {id, rule?, tries_left?, max_tries?, locked?, message}.
function cliError(e) {
	const { exit_code: _, ...rest } = e;
	return rest;
}
function apiError(e) {
	return { ...e.data, message: e.message };
}

// Runs one pair in the current state and compares. token: the key selector for both, or undefined.
async function compare(sb, ca, client, words, method, token) {
	const what = `ukey --json ${token ? `--token ${token} ` : ''}${words.join(' ')} against ${method}` +
		`${token ? ` {"token": "${token}"}` : ''}`;
	const cli = await sb.ukey(['--json', '--ca-url', ca.url, '--ca-trust', ca.trust,
		...(token ? ['--token', token] : []), ...words]);
	assert.ok(cli.json, `${what}: the CLI printed no JSON (exit ${cli.code}): ${cli.stdout}${cli.stderr}`);
	const api = await client.call(method, token ? { token } : {});
	if (cli.json.error) {
		assert.equal(cli.json.error.exit_code, cli.code, `${what}: the CLI's exit_code is its exit status`);
		assert.ok(api.error, `${what}: the CLI fails (${JSON.stringify(cli.json.error)}), the API answers ` +
			JSON.stringify(api.result));
		assert.equal(api.error.code, RPC_CODE[api.error.data?.id], `${what}: the API's code for its id`);
		assert.deepEqual(apiError(api.error), cliError(cli.json.error),
			`${what}: the same error (id, rule, PIN state, message); actual: API, expected: CLI`);
	} else {
		assert.ok(!api.error, `${what}: the CLI answers, the API fails with ${JSON.stringify(api.error)}`);
		assert.deepEqual(normalResult(method, api.result, 'api'), normalResult(method, cli.json, 'cli'),
			`${what}: the same JSON; actual: API, expected: CLI`);
	}
	return { cli, api };
}

// Every pair, each as a subtest named by the pair, for the selectors given (undefined: no --token).
async function compareAll(t, s, tokens = [undefined]) {
	for (const token of tokens)
		for (const [words, method] of PAIRS)
			await t.test(`${words.join(' ')} = ${method}${token ? ' with token' : ''}`, () =>
				compare(s.sb, s.ca, s.client, words, method, token));
}

test('fresh-key/cli-and-api-agree', T, async (t) => {
	const s = await state(t, [['--label', 'fresh']]);
	await compareAll(t, s, [undefined, s.serials[0], 'fresh']);
});

test('R-P1/three-wrong-pins/cli-and-api-agree', T, async (t) => {
	const s = await state(t, [[]], (sb) => wrongPins(sb, 3));
	assert.equal((await s.sb.pinStatus()).tries_left, 7, 'SETUP: 3 tries used');
	await compareAll(t, s);
});

test('R-P2/locked/cli-and-api-agree', T, async (t) => {
	const s = await state(t, [[]], (sb) => wrongPins(sb, 10));
	await compareAll(t, s);
	// And the refusal itself: a PIN on a locked key, pin verify against pin.verify (nothing reaches the key).
	await t.test('pin-verify=pin.verify refused R-P2', async () => {
		const cli = await s.sb.ukey(['--json', 'pin', 'verify'], { input: `${PIN}\n` });
		const api = await s.client.call('pin.verify', { pin: PIN });
		assert.ok(cli.json?.error && api.error, 'both refuse');
		assert.equal(api.error.code, -32011);
		assert.deepEqual(apiError(api.error), cliError(cli.json.error), 'the same pin-locked error');
	});
});

test('R-R2/R-R3/expiring-inside-the-renewal-window/cli-and-api-agree', T, async (t) => {
	const s = await state(t, [['--not-before', `-${335 * DAY}`, '--not-after', `+${30 * DAY}`]]);
	await compareAll(t, s);
});

test('R-R2/outside-the-renewal-window/cli-and-api-agree', T, async (t) => {
	// renew --check: the CLI prints the plan and exits renew-not-open; renew.check answers the same plan.
	const s = await state(t, [['--not-before', `-${165 * DAY}`, '--not-after', `+${200 * DAY}`]]);
	await compareAll(t, s);
});

test('R-R4/expired-10-days/cli-and-api-agree', T, async (t) => {
	const s = await state(t, [['--not-before', `-${355 * DAY}`, '--not-after', `-${10 * DAY}`]]);
	await compareAll(t, s);
});

test('R-R5/expired-400-days/cli-and-api-agree', T, async (t) => {
	const s = await state(t, [['--not-before', `-${765 * DAY}`, '--not-after', `-${400 * DAY}`]]);
	await compareAll(t, s);
});

test('R-R7/several-keys/cli-and-api-agree-ambiguous-and-each-by-token', T, async (t) => {
	const s = await state(t, [['--label', 'first'], ['--label', 'second', '--not-after', `+${30 * DAY}`]],
		(sb, serials) => wrongPins(sb, 2, serials[1]));
	// Without a selector: list and certs show both; pin status and renew --check are ambiguous. Then each key by
	// serial, each by label, and a selector that matches nothing (token-not-found).
	await compareAll(t, s, [undefined, ...s.serials, 'first', 'second', 'no-such-key']);
});

test('R-R7/two-keys-one-label/cli-and-api-agree-token-ambiguous', T, async (t) => {
	const s = await state(t, [['--label', 'twin'], ['--label', 'twin']]);
	await compareAll(t, s, ['twin']);
});

test('R-D3/unreadable-certificate/cli-and-api-agree', T, async (t) => {
	// mktoken --cert garbage: a certificate object that is not DER (badinput.sh, diagnose.sh).
	const s = await state(t, [['--cert', 'garbage']]);
	await compareAll(t, s);
});

test('no-certificate/cli-and-api-agree', T, async (t) => {
	const s = await state(t, [['--cert', 'none']]);
	await compareAll(t, s);
});

test('certificate-for-another-key/cli-and-api-agree', T, async (t) => {
	// mktoken --cert mismatch: a valid certificate stored with the key's id, for another key (key_match).
	const s = await state(t, [['--cert', 'mismatch']]);
	await compareAll(t, s);
});

test('ec-key-and-two-certificates/cli-and-api-agree', T, async (t) => {
	const s = await state(t, [['--key', 'ec', '--label', 'ec'], ['--extra-cert', '--label', 'two-certs']]);
	await compareAll(t, s, s.serials);
});

test('two-certificates/the-same-default-key-and-renewal-certificate-on-every-call', T, async (t) => {
	// Two certificates with the same dates on one key (mktoken --extra-cert, ids 01 and 02): which one is "the
	// first certificate" (sign's default key, PROTOCOL.md) and which one renew.check reads must not depend on the
	// order the module happens to list its objects in, which for SoftHSM2 changes when ukeyd re-initialises it
	// (UKEY_POLL_MS=200 here). The same answer on every call, and the CLI's, a process of its own.
	const s = await state(t, [['--extra-cert']]);
	const keys = [], renewed = [];
	for (let i = 0; i < 6; i++) {
		keys.push((await s.client.request('sign', { pin: PIN, mechanism: 'rsa-pkcs1-sha256', data: 'eA==' })).key_id);
		renewed.push((await s.client.request('renew.check')).certificate.serial);
		await sleep(400); // past the poll: the module is looked at again between calls
	}
	assert.equal(new Set(keys).size, 1, `sign without key_id used the keys ${keys.join(', ')} over six calls`);
	assert.equal(new Set(renewed).size, 1, `renew.check read the certificates ${renewed.join(', ')} over six calls`);
	const cli = await s.sb.ukey(['--json', '--ca-url', s.ca.url, '--ca-trust', s.ca.trust, 'renew', '--check']);
	assert.equal(cli.json?.certificate?.serial, renewed[0], 'ukey renew --check reads the same certificate');
});

test('R-R6/renewal-waiting-at-the-ca/cli-and-api-agree', T, async (t) => {
	// A renewal the CA holds for payment (no --autopay): journaled, in_progress in renew --check and renew.check.
	const s = await state(t, [['--not-before', `-${335 * DAY}`, '--not-after', `+${30 * DAY}`]], async (sb, _, ca) => {
		const r = await sb.ukey(['--json', '--ca-url', ca.url, '--ca-trust', ca.trust, 'renew'], { input: `${PIN}\n` });
		assert.equal(r.json?.error?.id, 'renew-pending', `SETUP: the renewal waits at the CA: ${r.stdout}${r.stderr}`);
	}, []);
	await compareAll(t, s);
});

test('no-key/cli-and-api-agree', T, async (t) => {
	const s = await state(t, []);
	await compareAll(t, s, [undefined, 'no-such-key']);
});
