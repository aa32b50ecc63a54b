// SPDX-License-Identifier: LGPL-2.1-or-later
// ukeyd's workers (issue 11, "A worker pool"): a renewal waiting on a slow CA does not stall the other connections.
//
// The slow CA is tests/ca/fault-ca --delay: it answers simplereenroll only after CA_DELAY_S, with a certificate
// signed by the reference CA's own key and over the reference CA's own TLS certificate, so to ukeyd it is that CA,
// only slow, and the renewal ends "renewed". The bound on token.list (1 s) is generous on purpose: this shows
// that the call is answered while the renewal waits, not how fast (that is `make bench`, tests/bench/run).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { PIN, Sandbox, sleep, startRefCa, until, within } from '../lib/agent.mjs';

const T = { timeout: 90000 };
const DAY = 86400;
const CA_DELAY_S = 6;
const PROMPT_MS = 1000;
const FAULT_CA = process.env.UKEY_FAULT_CA || fileURLToPath(new URL('../../ca/fault-ca', import.meta.url));

// tests/ca/fault-ca with the reference CA's TLS certificate and key, signing with its CA key, slow by delayS.
// Resolves {url, log()}; stopped after the test t.
async function startSlowCa(t, sb, ca, delayS) {
	if (!fs.existsSync('/usr/bin/python3'))
		throw new Error('SETUP ERROR: /usr/bin/python3 not found (apt-get install python3): tests/ca/fault-ca needs it');
	const proc = spawn('/usr/bin/python3', [FAULT_CA, '--cert', path.join(ca.dir, 'server.pem'),
		'--key', path.join(ca.dir, 'server.key'), '--sign', path.join(ca.dir, 'ca.pem'), path.join(ca.dir, 'ca.key'),
		'--delay', String(delayS)], { stdio: ['ignore', 'pipe', 'pipe'] });
	let out = '', err = '';
	proc.stdout.on('data', (d) => (out += d));
	proc.stderr.on('data', (d) => (err += d));
	t.after(() => proc.kill('SIGTERM'));
	const port = await until(() => /^listening on https:\/\/127\.0\.0\.1:(\d+)\//.exec(out)?.[1], 'fault-ca to listen', 10000);
	return { url: `https://127.0.0.1:${port}/.well-known/est`, log: () => err };
}

test('renewal-on-slow-ca/token-list-from-another-client-answers-within-1s-while-it-waits', T, async (t) => {
	const sb = await Sandbox.create(t);
	const ca = await startRefCa(t, sb); // for its key, certificates and mktoken --refca; the slow stand-in serves
	const serial = await sb.mktoken('--refca', ca.dir, '--label', 'renewing', '--not-before', `-${335 * DAY}`,
		'--not-after', `+${30 * DAY}`); // R-R2: 30 days left, the window is open
	const slow = await startSlowCa(t, sb, ca, CA_DELAY_S);
	const agent = await sb.startAgent({ args: ['--ca-url', slow.url, '--ca-trust', ca.trust] });
	try {
		await listWhileRenewing(agent, slow, serial);
	} finally {
		// ukeyd finishes a running renewal before it exits on SIGTERM: give it the CA's delay to stop, here, before
		// the sandbox's cleanup (whose 5 s would count that as an unclean stop and leave the CAs running).
		await agent.stop(1000 * CA_DELAY_S + 10000);
	}
});

async function listWhileRenewing(agent, slow, serial) {
	const renewer = await agent.page();
	const lister = await agent.local();
	assert.deepEqual((await lister.request('token.list')).tokens.map((x) => x.serial), [serial]);

	let settled = false;
	const t0 = Date.now();
	const renewal = renewer.call('renew.start', { pin: PIN }, { timeoutMs: 1000 * CA_DELAY_S + 40000 })
		.finally(() => (settled = true));
	renewal.catch(() => {}); // awaited below; a failed assertion before that must not leave it unhandled
	// The renewal has done its token steps and sent the CSR: from here it waits on the CA.
	await renewer.notification('renew.progress', (p) => p.step === 'request', 20000);
	assert.equal(settled, false);

	let whileWaiting = 0;
	while (!settled) {
		const s = Date.now();
		const r = await within(lister.request('token.list'), PROMPT_MS);
		assert.ok(r, `token.list from another client did not answer within ${PROMPT_MS} ms while the renewal ` +
			`waited on the CA (sent ${s - t0} ms after renew.start)`);
		assert.deepEqual(r.tokens.map((x) => x.serial), [serial]);
		const info = await within(lister.request('agent.info'), PROMPT_MS);
		assert.ok(info, `agent.info did not answer within ${PROMPT_MS} ms while the renewal waited`);
		if (!settled)
			whileWaiting++;
		await sleep(200);
	}
	const done = await renewal;
	assert.ok(!done.error, `the renewal itself failed: ${JSON.stringify(done.error)}; fault-ca: ${slow.log()}`);
	assert.equal(done.result.result, 'renewed');
	assert.ok(Date.now() - t0 >= 1000 * CA_DELAY_S, 'the renewal did wait on the slow CA');
	assert.ok(whileWaiting >= CA_DELAY_S, `only ${whileWaiting} token.list answers came while the renewal waited`);
	assert.match(slow.log(), /POST "\/\.well-known\/est\/simplereenroll" -> 200/, 'the slow CA answered once');
	// The renewed certificate, once the renewal is done, is in token.list's count and cert.list.
	const certs = (await lister.request('cert.list')).certificates;
	assert.equal(certs.length, 1);
	assert.ok(certs[0].days_left > 300);
}
