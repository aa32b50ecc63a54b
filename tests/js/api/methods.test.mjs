// SPDX-License-Identifier: LGPL-2.1-or-later
// ukeyd's JSON-RPC methods (PROTOCOL.md, "Methods"): results as the CLI gives them, signatures checked with node:crypto.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';

import { PIN, WRONG, Sandbox, pemToDer, sha256 } from '../lib/agent.mjs';

const T = { timeout: 40000 };

// One sandbox with tokens and a running ukeyd; cleaned up after the test.
async function setup(t, specs = [[]], opts = {}) {
	const sb = await Sandbox.create(t);
	if (opts.counting)
		sb.useCounting();
	const serials = specs.length ? await sb.tokens(...specs) : [];
	const agent = await sb.startAgent(opts.agent);
	return { sb, agent, serials };
}

const b64 = (buf) => Buffer.from(buf).toString('base64');

// A signature must verify with the certificate's key, and must stop verifying when one byte changes.
function assertVerifies(algorithm, data, keyOpts, signature, what) {
	assert.ok(crypto.verify(algorithm, data, keyOpts, signature), `${what}: the signature does not verify`);
	const flipped = Buffer.from(signature);
	flipped[flipped.length >> 1] ^= 0x01;
	assert.ok(!crypto.verify(algorithm, data, keyOpts, flipped), `${what}: a signature with a flipped byte verifies`);
	const other = Buffer.concat([Buffer.from(data), Buffer.from([0])]);
	assert.ok(!crypto.verify(algorithm, other, keyOpts, signature), `${what}: the signature verifies other data`);
}

test('agent.info: name, api, max tries, port, and the page origin echoed', T, async (t) => {
	const { agent } = await setup(t);
	const page = await agent.page();
	const info = await page.request('agent.info');
	assert.equal(info.name, 'ukeyd');
	assert.equal(info.api, 1);
	assert.match(info.version, /^\d+\.\d+\.\d+/);
	assert.equal(info.max_tries, 10, 'R-P1: ten tries');
	assert.equal(info.origin, agent.origin, 'a page sees its own origin');
	// PROTOCOL.md and the SDK (agent/web/sdk/ukey.js) document "port" in the result.
	assert.equal(info.port, agent.port, 'agent.info.port is documented in PROTOCOL.md');
	await page.close();
});

test('agent.info: origin is null for a local program (API token, no Origin)', T, async (t) => {
	const { agent } = await setup(t);
	const local = await agent.local();
	const info = await local.request('agent.info');
	assert.equal(info.origin, null);
	assert.equal(info.name, 'ukeyd');
});

test('agent.info: an allowed portal origin is echoed as ukey origin add stored it', T, async (t) => {
	const { sb, agent } = await setup(t);
	const r = await sb.ukey(['origin', 'add', 'https://portal.example']);
	assert.equal(r.code, 0, r.stderr);
	const portal = await agent.page('https://portal.example');
	assert.equal((await portal.request('agent.info')).origin, 'https://portal.example');
});

test('token.list: the same objects as ukey --json list for the same state dir', T, async (t) => {
	const { sb, agent, serials } = await setup(t, [['--label', 'first'], ['--label', 'second', '--extra-cert']]);
	// One wrong PIN first, through the CLI, so the PIN state is not the default one.
	const v = await sb.ukey(['pin', 'verify', '--token', serials[0]], { input: `${WRONG}\n` });
	assert.equal(v.code, 3, v.stderr);
	const cli = await sb.ukey(['--json', 'list']);
	assert.equal(cli.code, 0, cli.stderr);
	const page = await agent.page();
	const api = await page.request('token.list');
	const bySerial = (a, b) => a.serial.localeCompare(b.serial);
	assert.deepEqual([...api.tokens].sort(bySerial), [...cli.json.tokens].sort(bySerial));
	const first = api.tokens.find((x) => x.serial === serials[0]);
	assert.equal(first.label, 'first');
	assert.equal(first.pin.tries_left, 9);
	assert.equal(first.certificates, 1);
	assert.equal(api.tokens.find((x) => x.serial === serials[1]).certificates, 2);
	for (const tok of api.tokens)
		for (const f of ['label', 'serial', 'manufacturer', 'model', 'slot', 'pin', 'certificates'])
			assert.ok(f in tok, `token.list entry has ${f}`);
});

test('cert.list: fields as ukey --json certs, plus der equal to the certificate mktoken wrote', T, async (t) => {
	const { sb, agent, serials } = await setup(t, [['--cn', 'Unit A', '--org', 'Org A', '--extra-cert']]);
	const [serial] = serials;
	const page = await agent.page();
	const { certificates } = await page.request('cert.list');
	assert.equal(certificates.length, 2);
	const cli = await sb.ukey(['--json', 'certs']);
	assert.equal(cli.code, 0, cli.stderr);
	for (const c of certificates) {
		const { der, ...rest } = c;
		// revocation is the CLI's only: it may wait on the network, which the API does not (PROTOCOL.md).
		const { revocation, ...same } = cli.json.certificates.find((x) => x.id === c.id);
		assert.equal(revocation.status, 'unknown', 'mktoken certificates name no OCSP or CRL');
		assert.equal(rest.revocation, undefined);
		assert.deepEqual(rest, same, `cert ${c.id}: the API and the CLI agree`);
		assert.equal(c.token_serial, serial);
		assert.equal(c.status, 'valid');
		assert.equal(c.renewal_open, false, 'R-R2: a year left is outside the renewal window');
		assert.ok(c.days_left >= 363 && c.days_left <= 365, `days_left ${c.days_left}`);
		assert.equal(c.key_match, 'match');
		assert.equal(c.readable, true);
		assert.equal(c.subject_cn, 'Unit A');
		assert.equal(c.subject_o, 'Org A');
		assert.match(der, /^[A-Za-z0-9+/]+={0,2}$/);
		const pem = sb.certPem(serial, c.id === '01' ? undefined : c.id);
		assert.equal(sha256(Buffer.from(der, 'base64')), sha256(pemToDer(pem)), `cert ${c.id}: der is the certificate`);
		const x = new crypto.X509Certificate(Buffer.from(der, 'base64'));
		assert.equal(new Date(c.not_after).getTime(), new Date(x.validTo).getTime());
	}
});

test('cert.list: "token" by serial selects one key; an unknown one is token-not-found', T, async (t) => {
	const { agent, serials } = await setup(t, [['--label', 'a'], ['--label', 'b']]);
	const page = await agent.page();
	const all = await page.request('cert.list');
	assert.equal(all.certificates.length, 2);
	const one = await page.request('cert.list', { token: serials[1] });
	assert.deepEqual(one.certificates.map((c) => c.token_serial), [serials[1]]);
	const e = await page.error('cert.list', { token: '0123456789abcdef' });
	assert.equal(e.code, -32021);
	assert.equal(e.data.id, 'token-not-found');
});

test('pin.status: serial, label, tries left and lock state', T, async (t) => {
	const { agent, serials } = await setup(t, [['--label', 'mine']]);
	const page = await agent.page();
	const st = await page.request('pin.status');
	assert.deepEqual(
		{ serial: st.serial, label: st.label, tries_left: st.tries_left, max_tries: st.max_tries, locked: st.locked },
		{ serial: serials[0], label: 'mine', tries_left: 10, max_tries: 10, locked: false },
	);
	for (const f of ['locked_by_token', 'final_try', 'counted'])
		assert.ok(f in st, `pin.status has ${f}`);
});

test('pin.verify: the right PIN is verified and tries stay at 10', T, async (t) => {
	const { agent, serials } = await setup(t);
	const page = await agent.page();
	const r = await page.request('pin.verify', { pin: PIN });
	assert.equal(r.result, 'verified');
	assert.equal(r.serial, serials[0]);
	assert.equal(r.tries_left, 10);
	assert.equal(r.locked, false);
});

test('R-P1: pin.verify with a wrong PIN is pin-incorrect with 9 tries left; the right PIN resets to 10', T, async (t) => {
	const { agent } = await setup(t);
	const page = await agent.page();
	const e = await page.error('pin.verify', { pin: WRONG });
	assert.equal(e.code, -32010);
	assert.equal(e.data.id, 'pin-incorrect');
	assert.equal(e.data.rule, 'R-P1');
	assert.equal(e.data.tries_left, 9);
	assert.equal(e.data.max_tries, 10);
	assert.equal(e.data.locked, false);
	assert.match(e.message, /9 tries left/);
	assert.equal((await page.request('pin.verify', { pin: PIN })).tries_left, 10);
});

test('pin.change: the new PIN then works, the old one fails', T, async (t) => {
	const { sb, agent } = await setup(t);
	const page = await agent.page();
	const r = await page.request('pin.change', { pin: PIN, new_pin: '24681357' });
	assert.equal(r.result, 'changed');
	assert.equal((await page.request('pin.verify', { pin: '24681357' })).result, 'verified');
	const e = await page.error('pin.verify', { pin: PIN });
	assert.equal(e.data.id, 'pin-incorrect');
	// The key itself has the new PIN: the CLI, a separate process, agrees.
	const cli = await sb.ukey(['pin', 'verify'], { input: '24681357\n' });
	assert.equal(cli.code, 0, cli.stderr);
});

test('R-P1: pin.change with a wrong current PIN counts and changes nothing', T, async (t) => {
	const { agent } = await setup(t);
	const page = await agent.page();
	const e = await page.error('pin.change', { pin: WRONG, new_pin: '24681357' });
	assert.equal(e.data.id, 'pin-incorrect');
	assert.equal(e.data.tries_left, 9);
	assert.equal((await page.request('pin.verify', { pin: PIN })).result, 'verified');
	const e2 = await page.error('pin.change', { pin: PIN });
	assert.equal(e2.code, -32602, 'pin.change without new_pin');
});

test('sign rsa-pkcs1-sha256 over data: verifies with the certificate key', T, async (t) => {
	const { sb, agent, serials } = await setup(t);
	const page = await agent.page();
	const data = Buffer.from('order 42: 1 x USBKey, 260 CNY');
	const r = await page.request('sign', { pin: PIN, mechanism: 'rsa-pkcs1-sha256', data: b64(data) });
	assert.equal(r.mechanism, 'rsa-pkcs1-sha256');
	assert.equal(r.key_id, '01');
	const pem = sb.certPem(serials[0]);
	assert.equal(sha256(Buffer.from(r.certificate, 'base64')), sha256(pemToDer(pem)), 'the certificate returned');
	const key = new crypto.X509Certificate(pem).publicKey;
	const sig = Buffer.from(r.signature, 'base64');
	assert.equal(sig.length, 256, 'RSA-2048');
	assertVerifies('sha256', data, key, sig, 'PKCS#1 v1.5 over data');
});

test('sign rsa-pkcs1-sha256 over a digest: the same signature as over the data', T, async (t) => {
	const { sb, agent, serials } = await setup(t);
	const page = await agent.page();
	const data = Buffer.from('invoice 2025-0001');
	const digest = crypto.createHash('sha256').update(data).digest();
	const r1 = await page.request('sign', { pin: PIN, mechanism: 'rsa-pkcs1-sha256', digest: b64(digest) });
	const key = new crypto.X509Certificate(sb.certPem(serials[0])).publicKey;
	assertVerifies('sha256', data, key, Buffer.from(r1.signature, 'base64'), 'PKCS#1 v1.5 over a digest');
	const r2 = await page.request('sign', { pin: PIN, mechanism: 'rsa-pkcs1-sha256', data: b64(data) });
	assert.equal(r1.signature, r2.signature, 'PKCS#1 v1.5 is deterministic: digest and data give one signature');
});

test('sign: data of 1, 2 and 3 bytes (base64 with and without padding) is signed as given', T, async (t) => {
	const { sb, agent, serials } = await setup(t);
	const page = await agent.page();
	const key = new crypto.X509Certificate(sb.certPem(serials[0])).publicKey;
	for (const data of [Buffer.from([0x41]), Buffer.from([0x41, 0x00]), Buffer.from([0xff, 0x00, 0x3d])]) {
		const r = await page.request('sign', { pin: PIN, data: b64(data) }); // mechanism defaults to rsa-pkcs1-sha256
		assertVerifies('sha256', data, key, Buffer.from(r.signature, 'base64'), `${data.length} byte(s) of data`);
	}
});

test('sign rsa-pss-sha256: verifies as RSASSA-PSS (SHA-256, MGF1-SHA-256, 32-byte salt)', T, async (t) => {
	const { sb, agent, serials } = await setup(t);
	const page = await agent.page();
	const data = crypto.randomBytes(1000);
	const key = new crypto.X509Certificate(sb.certPem(serials[0])).publicKey;
	const pss = { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };
	const r = await page.request('sign', { pin: PIN, mechanism: 'rsa-pss-sha256', data: b64(data) });
	assert.equal(r.mechanism, 'rsa-pss-sha256');
	assertVerifies('sha256', data, pss, Buffer.from(r.signature, 'base64'), 'PSS over data');
	const digest = crypto.createHash('sha256').update(data).digest();
	const r2 = await page.request('sign', { pin: PIN, mechanism: 'rsa-pss-sha256', digest: b64(digest) });
	assertVerifies('sha256', data, pss, Buffer.from(r2.signature, 'base64'), 'PSS over a digest');
	assert.notEqual(r.signature, r2.signature, 'PSS is randomised');
	assert.ok(!crypto.verify('sha256', data, key, Buffer.from(r.signature, 'base64')), 'a PSS signature is not PKCS#1 v1.5');
});

test('sign ecdsa-sha256 on an EC token: DER ECDSA-Sig-Value that verifies with the P-256 key', T, async (t) => {
	const { sb, agent, serials } = await setup(t, [['--key', 'ec']]);
	const page = await agent.page();
	const data = Buffer.from('ec order 7');
	const cert = new crypto.X509Certificate(sb.certPem(serials[0]));
	assert.equal(cert.publicKey.asymmetricKeyType, 'ec');
	const ecdsa = { key: cert.publicKey, dsaEncoding: 'der' };
	const r = await page.request('sign', { pin: PIN, mechanism: 'ecdsa-sha256', data: b64(data) });
	const sig = Buffer.from(r.signature, 'base64');
	assert.equal(sig[0], 0x30, 'a DER SEQUENCE, not raw r||s');
	assertVerifies('sha256', data, ecdsa, sig, 'ECDSA over data');
	const digest = crypto.createHash('sha256').update(data).digest();
	const r2 = await page.request('sign', { pin: PIN, mechanism: 'ecdsa-sha256', digest: b64(digest) });
	assertVerifies('sha256', data, ecdsa, Buffer.from(r2.signature, 'base64'), 'ECDSA over a digest');
	const e = await page.error('sign', { pin: PIN, mechanism: 'rsa-pkcs1-sha256', data: b64(data) });
	assert.equal(e.data.id, 'unsupported', 'RSA on an EC key');
});

test('sign ecdsa-sha256 on an RSA key is unsupported', T, async (t) => {
	const { agent } = await setup(t);
	const page = await agent.page();
	const e = await page.error('sign', { pin: PIN, mechanism: 'ecdsa-sha256', data: b64('x') });
	assert.equal(e.code, -32060);
	assert.equal(e.data.id, 'unsupported');
});

test('sign with key_id selects the second key and returns its certificate', T, async (t) => {
	const { sb, agent, serials } = await setup(t, [['--extra-cert']]);
	const page = await agent.page();
	const data = Buffer.from('second key');
	const r = await page.request('sign', { pin: PIN, key_id: '02', data: b64(data) });
	assert.equal(r.key_id, '02');
	const pem = sb.certPem(serials[0], '02');
	assert.equal(sha256(Buffer.from(r.certificate, 'base64')), sha256(pemToDer(pem)));
	assertVerifies('sha256', data, new crypto.X509Certificate(pem).publicKey, Buffer.from(r.signature, 'base64'), 'key 02');
	const first = new crypto.X509Certificate(sb.certPem(serials[0])).publicKey;
	assert.ok(!crypto.verify('sha256', data, first, Buffer.from(r.signature, 'base64')), 'not signed with key 01');
	const e = await page.error('sign', { pin: PIN, key_id: '7f', data: b64(data) });
	assert.equal(e.data.id, 'key-not-found');
	assert.equal(e.code, -32051);
});

test('R-P1: sign with a wrong PIN is pin-incorrect with tries_left, and signs nothing', T, async (t) => {
	const { agent } = await setup(t);
	const page = await agent.page();
	const r = await page.call('sign', { pin: WRONG, mechanism: 'rsa-pkcs1-sha256', data: b64('x') });
	assert.equal(r.result, undefined);
	assert.equal(r.error.code, -32010);
	assert.equal(r.error.data.id, 'pin-incorrect');
	assert.equal(r.error.data.rule, 'R-P1');
	assert.equal(r.error.data.tries_left, 9);
	assert.equal((await page.request('pin.status')).tries_left, 9);
});

test('sign with bad params is usage (-32602) and uses no PIN try', T, async (t) => {
	const { sb, agent } = await setup(t, [[]], { counting: true });
	const page = await agent.page();
	const d = b64('data');
	const digest = b64(crypto.createHash('sha256').update('data').digest());
	const cases = {
		'no pin': { mechanism: 'rsa-pkcs1-sha256', data: d },
		'pin not a string': { pin: 123456, data: d },
		'both data and digest': { pin: PIN, data: d, digest },
		'neither data nor digest': { pin: PIN },
		'digest of 31 bytes': { pin: PIN, digest: b64(Buffer.alloc(31, 1)) },
		'digest of 33 bytes': { pin: PIN, digest: b64(Buffer.alloc(33, 1)) },
		'unknown mechanism': { pin: PIN, mechanism: 'rsa-pkcs1-md5', data: d },
		'mechanism not a string': { pin: PIN, mechanism: 7, data: d },
		'data not base64': { pin: PIN, data: 'not base64!' },
		'data base64 of the wrong length': { pin: PIN, data: 'QUJD=' },
		'digest not base64': { pin: PIN, digest: '@'.repeat(44) },
		'key_id not hex': { pin: PIN, key_id: 'zz', data: d },
		'key_id of odd length': { pin: PIN, key_id: '012', data: d },
		'key_id not a string': { pin: PIN, key_id: 1, data: d },
		'token not a string': { pin: PIN, token: 5, data: d },
	};
	for (const [what, params] of Object.entries(cases)) {
		const e = await page.error('sign', params);
		assert.equal(e.code, -32602, `${what}: code`);
		assert.equal(e.data.id, 'usage', `${what}: id`);
		assert.ok(e.message.length > 10, `${what}: a message`);
	}
	assert.equal(sb.logins(), 0, 'no login reached the key');
	assert.equal((await page.request('pin.status')).tries_left, 10);
});

test('pin.verify without a PIN, or with a PIN that is not a string, is usage', T, async (t) => {
	const { agent } = await setup(t);
	const page = await agent.page();
	for (const params of [{}, { pin: 123456 }, { pin: null }, { pin: ['123456'] }])
		assert.equal((await page.error('pin.verify', params)).code, -32602, JSON.stringify(params));
	assert.equal((await page.request('pin.status')).tries_left, 10);
});

test('R-S: guide gives the same services as ukey --json guide; one by rule; an unknown one is usage', T, async (t) => {
	const { sb, agent } = await setup(t);
	const page = await agent.page();
	const { services } = await page.request('guide');
	const cli = await sb.ukey(['--json', 'guide']);
	assert.equal(cli.code, 0);
	assert.deepEqual(services, cli.json.services);
	assert.deepEqual(services.map((s) => s.rule), ['R-S1', 'R-S2', 'R-S3', 'R-S4', 'R-S5', 'R-S6', 'R-S7', 'R-S8']);
	const one = await page.request('guide', { service: 'R-S3' });
	assert.equal(one.services.length, 1);
	assert.equal(one.services[0].fee_cny, 80);
	const e = await page.error('guide', { service: 'R-S9' });
	assert.equal(e.code, -32602);
	assert.equal((await page.error('guide', { service: 3 })).code, -32602);
});

test('R-D3: diagnose gives the CLI\'s verdict and checks, the warranty and a printable report', T, async (t) => {
	const { sb, agent } = await setup(t, [['--label', 'broken', '--cert', 'none', '--first-issued', '2020-01-01']]);
	const page = await agent.page();
	const d = await page.request('diagnose', { led: 'steady' });
	assert.equal(d.verdict.code, 'R-D3');
	assert.equal(d.verdict.media_fault, true);
	assert.equal(d.warranty.first_issued, '2020-01-01');
	assert.equal(d.warranty.in_warranty, false);
	assert.equal(d.warranty.fee_cny, 80); // R-D6
	assert.equal(d.led, 'steady');
	assert.match(d.report_html, /^<!DOCTYPE html>/);
	assert.match(d.report_html, /R-D3/);
	const cli = await sb.ukey(['--json', 'diagnose', '--led', 'steady']);
	assert.equal(cli.code, 0);
	assert.equal(cli.json.verdict.code, d.verdict.code);
	assert.deepEqual(cli.json.checks.map((c) => [c.id, c.status]), d.checks.map((c) => [c.id, c.status]));
	for (const params of [{ led: 'purple' }, { led: 1 }, { first_issued: '2025-02-29' }, { token: [] }])
		assert.equal((await page.error('diagnose', params)).code, -32602, JSON.stringify(params));
});

test('an unknown method is method-not-found (-32601)', T, async (t) => {
	const { agent } = await setup(t);
	const page = await agent.page();
	for (const method of ['token.format', 'agent.Info', '', 'constructor']) {
		const r = await page.call(method, {});
		assert.equal(r.error?.code, -32601, method);
		assert.equal(r.error.data.id, 'method-not-found');
	}
});

test('two tokens without "token": token-ambiguous; "token" by serial works', T, async (t) => {
	const { agent, serials } = await setup(t, [['--label', 'twin'], ['--label', 'twin']]);
	const page = await agent.page();
	for (const [method, params] of [['pin.status', {}], ['pin.verify', { pin: PIN }], ['sign', { pin: PIN, data: b64('x') }]]) {
		const e = await page.error(method, params);
		assert.equal(e.code, -32022, method);
		assert.equal(e.data.id, 'token-ambiguous', method);
	}
	assert.equal((await page.error('pin.status', { token: 'twin' })).data.id, 'token-ambiguous', 'a shared label');
	const st = await page.request('pin.status', { token: serials[1] });
	assert.equal(st.serial, serials[1]);
	const v = await page.request('pin.verify', { token: serials[0], pin: PIN });
	assert.equal(v.serial, serials[0]);
	const s = await page.request('sign', { token: serials[1], pin: PIN, data: b64('x') });
	assert.ok(s.signature);
	// Both keys' counts are untouched: nothing reached either key without a choice.
	for (const serial of serials)
		assert.equal((await page.request('pin.status', { token: serial })).tries_left, 10);
});

test('no token at all: token.list is empty; cert.list (as ukey certs), PIN methods and sign are no-token', T, async (t) => {
	const { sb, agent } = await setup(t, [], { counting: true });
	const page = await agent.page();
	assert.deepEqual((await page.request('token.list')).tokens, []);
	for (const [method, params] of [['cert.list', {}], ['pin.status', {}], ['pin.verify', { pin: PIN }], ['pin.change', { pin: PIN, new_pin: '24681357' }], ['sign', { pin: PIN, data: b64('x') }]]) {
		const e = await page.error(method, params);
		assert.equal(e.code, -32020, method);
		assert.equal(e.data.id, 'no-token', method);
	}
	assert.equal(sb.logins(), 0);
});

test('the agent answers on ::1 too, and the page origin http://[::1]:PORT is its own', T, async (t) => {
	const { agent } = await setup(t);
	const host = `[::1]:${agent.port}`;
	let page;
	try {
		page = await agent.connect({ address: '[::1]', host, origin: `http://${host}` });
	} catch (e) {
		if (e.code === 'EADDRNOTAVAIL' || e.code === 'ECONNREFUSED')
			assert.fail(`ukeyd does not listen on ::1: ${e.message}`);
		throw e;
	}
	assert.equal((await page.request('agent.info')).origin, `http://${host}`);
	const lh = await agent.page(`http://localhost:${agent.port}`, { host: `localhost:${agent.port}` });
	assert.equal((await lh.request('agent.info')).origin, `http://localhost:${agent.port}`);
});
