// SPDX-License-Identifier: LGPL-2.1-or-later
// Signing sessions (PROTOCOL.md "session.open", "sign", "session.close", "session.ended"; issue 11): the PIN once, then sign
// with the session id, on SoftHSM2 through a running ukeyd; each way a session ends, and who may use it.
//
// C_Login calls are counted by the counting PKCS#11 wrapper (tests/fixtures/counting-pkcs11.c, as in
// lockout.test.mjs): a session logs in once however often it signs, and a locked key gets no C_Login at all (R-P2).
// Signatures are checked with node:crypto against the certificate mktoken wrote for the key.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';

import { MAX_TRIES, PIN, WRONG, Sandbox, sleep } from '../lib/agent.mjs';

const T = { timeout: 40000 };
const SESSION_ID = /^[0-9a-f]{32}$/; // "32 hex digits"
const b64 = (buf) => Buffer.from(buf).toString('base64');

// A sandbox with one key behind the counting wrapper and a running ukeyd (agentOpts: {args, env}).
async function setup(t, agentOpts) {
	const sb = await Sandbox.create(t);
	sb.useCounting();
	const [serial] = await sb.tokens(['--label', 'signer']);
	const agent = await sb.startAgent(agentOpts);
	const key = crypto.createPublicKey(sb.certPem(serial));
	return { sb, agent, serial, key };
}

// session.open with the right PIN on client c; checks the documented result and returns it.
async function open(c, serial, params = {}) {
	const s = await c.request('session.open', { pin: PIN, ...params });
	assert.match(s.session, SESSION_ID, 'session: 32 hex digits');
	assert.equal(s.serial, serial);
	assert.equal(s.label, 'signer');
	assert.equal(typeof s.idle_timeout, 'number');
	assert.equal(s.pin.tries_left, MAX_TRIES, 'the right PIN: the count back at 10');
	assert.equal(s.pin.locked, false);
	return s;
}

// sign in a session over data; the signature must verify with the certificate's public key (and not over other data).
async function signIn(c, session, key, data) {
	const r = await c.request('sign', { session, mechanism: 'rsa-pkcs1-sha256', data: b64(data) });
	const sig = Buffer.from(r.signature, 'base64');
	assert.equal(sig.length, 256, 'an RSA-2048 signature');
	assert.ok(crypto.verify('sha256', data, key, sig), 'the session signature verifies with the certificate');
	assert.ok(!crypto.verify('sha256', Buffer.concat([data, Buffer.from([0])]), key, sig), 'and only over its data');
	assert.equal(r.mechanism, 'rsa-pkcs1-sha256');
	return r;
}

// The error of a sign in session s, checked against PROTOCOL.md's code and id.
async function signError(c, session, code, id) {
	const e = await c.error('sign', { session, mechanism: 'rsa-pkcs1-sha256', data: b64('x') });
	assert.equal(e.data?.id, id, `sign in the session: ${id} (${e.message})`);
	assert.equal(e.code, code);
	assert.match(e.message, /\.$/, 'one sentence');
	return e;
}

test('R-P1/open-with-wrong-pin-counts', T, async (t) => {
	const { sb, agent, serial } = await setup(t);
	const page = await agent.page();
	const e = await page.error('session.open', { pin: WRONG });
	assert.equal(e.code, -32010);
	assert.equal(e.data.id, 'pin-incorrect');
	assert.equal(e.data.rule, 'R-P1');
	assert.equal(e.data.tries_left, MAX_TRIES - 1);
	assert.equal(e.data.locked, false);
	assert.equal(sb.logins(), 1, 'the wrong PIN reached the key once');
	const st = await page.request('pin.status');
	assert.equal(st.tries_left, MAX_TRIES - 1, 'pin.status shows the try used');
	assert.equal((await sb.pinStatus(serial)).tries_left, MAX_TRIES - 1, 'the CLI, on the same state dir, too');
	// The right PIN opens it and resets the count, as pin.verify does.
	await open(page, serial);
	assert.equal((await page.request('pin.status')).tries_left, MAX_TRIES);
});

test('R-P1/open-once-then-sign-n-times-each-verifies-one-login', T, async (t) => {
	const { sb, agent, serial, key } = await setup(t);
	const page = await agent.page();
	const s = await open(page, serial);
	assert.equal(s.idle_timeout, 600, 'the default idle timeout: 10 minutes');
	assert.equal(sb.logins(), 1, 'session.open: one C_Login');
	const N = 20;
	for (let i = 0; i < N; i++)
		await signIn(page, s.session, key, Buffer.from(`document ${i} of a batch`));
	// A digest and PSS in the same session (the same mechanisms as sign with a PIN).
	const data = Buffer.from('order 42');
	const viaDigest = await page.request('sign', { session: s.session, mechanism: 'rsa-pkcs1-sha256',
		digest: b64(crypto.createHash('sha256').update(data).digest()) });
	assert.ok(crypto.verify('sha256', data, key, Buffer.from(viaDigest.signature, 'base64')), 'over a digest');
	const pss = await page.request('sign', { session: s.session, mechanism: 'rsa-pss-sha256', data: b64(data) });
	assert.ok(crypto.verify('sha256', data, { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
		Buffer.from(pss.signature, 'base64')), 'PSS');
	assert.equal(sb.logins(), 1, `${N + 2} signatures in the session: still the one C_Login, no PIN sent again`);
	assert.equal((await page.request('pin.status')).tries_left, MAX_TRIES);
	assert.ok(!agent.stderr.includes(PIN), 'the PIN is never logged');
});

test('token-removed/sign-after-the-key-is-pulled-fails', T, async (t) => {
	const { sb, agent, serial, key } = await setup(t);
	const page = await agent.page();
	const s = await open(page, serial);
	await signIn(page, s.session, key, Buffer.from('before the key is pulled'));
	sb.pull(serial);
	await page.notification('token.removed', (p) => p.serial === serial, 5000);
	const ended = await page.notification('session.ended', (p) => p.session === s.session, 5000);
	assert.deepEqual(ended.params, { session: s.session, serial, reason: 'token-removed' });
	await signError(page, s.session, -32023, 'token-removed');
	// It keeps answering why until it is closed; then the id is unknown.
	await signError(page, s.session, -32023, 'token-removed');
	assert.deepEqual(await page.request('session.close', { session: s.session }), { session: s.session, closed: true });
	await signError(page, s.session, -32016, 'session-not-found');
});

test('idle-timeout/signing-keeps-it-alive-idle-ends-it-session-expired', T, async (t) => {
	const { sb, agent, serial, key } = await setup(t, { args: ['--session-idle', '2'] });
	const page = await agent.page();
	const s = await open(page, serial);
	assert.equal(s.idle_timeout, 2, '--session-idle 2');
	// Idle means "without a sign": signing every second for 3 s keeps it alive past its 2 s.
	for (let i = 0; i < 3; i++) {
		await sleep(1000);
		await signIn(page, s.session, key, Buffer.from(`keep-alive ${i}`));
	}
	await sleep(3500);
	const ended = await page.notification('session.ended', (p) => p.session === s.session, 2000);
	assert.deepEqual(ended.params, { session: s.session, serial, reason: 'idle-timeout' });
	await signError(page, s.session, -32017, 'session-expired');
	// A new session works again, with one more C_Login.
	const again = await open(page, serial);
	assert.notEqual(again.session, s.session, 'a new id');
	await signIn(page, again.session, key, Buffer.from('after the timeout'));
	assert.equal(sb.logins(), 2);
});

test('connection-closed/the-session-id-is-gone', T, async (t) => {
	const { agent, serial, key } = await setup(t);
	const first = await agent.page();
	const s = await open(first, serial);
	await signIn(first, s.session, key, Buffer.from('on the first connection'));
	await first.close();
	const second = await agent.page();
	await signError(second, s.session, -32016, 'session-not-found');
	assert.equal((await second.error('session.close', { session: s.session })).data.id, 'session-not-found');
	// A new session, on a new connection, needs the PIN again and works.
	const s2 = await open(second, serial);
	await signIn(second, s2.session, key, Buffer.from('on the second connection'));
});

test('owner/another-connection-of-the-same-origin-gets-session-not-found', T, async (t) => {
	const { agent, serial, key } = await setup(t);
	const owner = await agent.page();
	const other = await agent.page(); // the same origin: the agent's own page
	const local = await agent.local(); // and a local program with the API token
	const s = await open(owner, serial);
	for (const thief of [other, local]) {
		await signError(thief, s.session, -32016, 'session-not-found');
		assert.equal((await thief.error('session.close', { session: s.session })).data.id, 'session-not-found');
	}
	// The attempts neither ended nor closed it for its owner.
	await signIn(owner, s.session, key, Buffer.from('still mine'));
	assert.equal(owner.notifications('session.ended').length, 0);
	assert.equal(other.notifications('session.ended').length, 0, 'no other connection hears of it');
});

test('session-not-found/an-id-never-opened', T, async (t) => {
	const { agent } = await setup(t);
	const page = await agent.page();
	await signError(page, '0123456789abcdef0123456789abcdef', -32016, 'session-not-found');
	assert.equal((await page.error('session.close', { session: 'ffffffffffffffffffffffffffffffff' })).code, -32016);
});

test('R-P2/locked-key-session-open-refused-nothing-sent-to-the-key', T, async (t) => {
	const { sb, agent, serial } = await setup(t);
	const page = await agent.page();
	for (let i = 0; i < MAX_TRIES; i++)
		await page.error('pin.verify', { pin: WRONG });
	assert.equal(sb.logins(), MAX_TRIES, 'ten counted wrong PINs reached the key');
	for (const pin of [PIN, WRONG]) {
		const e = await page.error('session.open', { pin });
		assert.equal(e.code, -32011);
		assert.equal(e.data.id, 'pin-locked');
		assert.equal(e.data.rule, 'R-P2');
		assert.equal(e.data.locked, true);
		assert.equal(e.data.tries_left, 0);
	}
	assert.equal(sb.logins(), MAX_TRIES, 'R-P2: no C_Login for session.open on a locked key');
	assert.equal((await sb.pinStatus(serial)).tries_left, 0);
});

test('R-P1/a-wrong-pin-elsewhere-logs-the-session-out', T, async (t) => {
	const { agent, serial, key } = await setup(t);
	const owner = await agent.page();
	const other = await agent.local();
	const s = await open(owner, serial);
	await signIn(owner, s.session, key, Buffer.from('before'));
	assert.equal((await other.error('pin.verify', { pin: WRONG })).data.id, 'pin-incorrect');
	const ended = await owner.notification('session.ended', (p) => p.session === s.session, 5000);
	assert.deepEqual(ended.params, { session: s.session, serial, reason: 'logged-out' });
	await signError(owner, s.session, -32013, 'not-logged-in');
});

test('close/sign-after-session-close-is-session-not-found', T, async (t) => {
	const { agent, serial, key } = await setup(t);
	const page = await agent.page();
	const s = await open(page, serial);
	await signIn(page, s.session, key, Buffer.from('before close'));
	assert.deepEqual(await page.request('session.close', { session: s.session }), { session: s.session, closed: true });
	await signError(page, s.session, -32016, 'session-not-found');
	assert.equal((await page.error('session.close', { session: s.session })).data.id, 'session-not-found',
		'closed twice');
});

test('R-P1/sign-with-a-pin-works-as-before-beside-a-session', T, async (t) => {
	const { sb, agent, serial, key } = await setup(t);
	const page = await agent.page();
	const data = Buffer.from('signed with the PIN');
	// Without any session.
	const r = await page.request('sign', { pin: PIN, mechanism: 'rsa-pkcs1-sha256', data: b64(data) });
	assert.ok(crypto.verify('sha256', data, key, Buffer.from(r.signature, 'base64')));
	assert.equal(sb.logins(), 1);
	// Beside a session on the same key: the PIN sign counts its own login, and the session lives on.
	const s = await open(page, serial);
	const r2 = await page.request('sign', { pin: PIN, mechanism: 'rsa-pkcs1-sha256', data: b64(data) });
	assert.ok(crypto.verify('sha256', data, key, Buffer.from(r2.signature, 'base64')));
	await signIn(page, s.session, key, Buffer.from('in the session after a PIN sign'));
	// A wrong PIN through sign is counted as before.
	assert.equal((await page.error('sign', { pin: WRONG, data: b64(data) })).data.tries_left, MAX_TRIES - 1);
});
