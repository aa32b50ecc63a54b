// SPDX-License-Identifier: LGPL-2.1-or-later
// PIN lockout through the API (R-P1, R-P2), counted in the same state dir as the CLI, proved with the counting PKCS#11 wrapper.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { PIN, WRONG, Sandbox, filesUnder } from '../lib/agent.mjs';

const T = { timeout: 40000 };

async function setup(t, specs = [[]], agentOpts) {
	const sb = await Sandbox.create(t);
	sb.useCounting();
	const serials = await sb.tokens(...specs);
	const agent = await sb.startAgent(agentOpts);
	return { sb, agent, serials };
}

// `ukey pin verify` with the PIN as one line on stdin.
function cliVerify(sb, pin, ...args) {
	return sb.ukey(['pin', 'verify', ...args], { input: `${pin}\n` });
}

test('R-P1: nine wrong PINs through the API count down 9..1 in error.data.tries_left', T, async (t) => {
	const { sb, agent } = await setup(t);
	const page = await agent.page();
	for (let left = 9; left >= 1; left--) {
		const e = await page.error('pin.verify', { pin: WRONG });
		assert.equal(e.code, -32010);
		assert.equal(e.data.id, 'pin-incorrect');
		assert.equal(e.data.rule, 'R-P1');
		assert.equal(e.data.tries_left, left);
		assert.equal(e.data.locked, false);
	}
	const st = await page.request('pin.status');
	assert.equal(st.tries_left, 1);
	assert.equal(st.locked, false);
	assert.equal(sb.logins(), 9, 'each wrong PIN reached the key once');
});

test('R-P1: tenth wrong PIN through the API locks the key', T, async (t) => {
	const { sb, agent } = await setup(t);
	const page = await agent.page();
	for (let i = 0; i < 9; i++)
		await page.error('pin.verify', { pin: WRONG });
	const e = await page.error('pin.verify', { pin: WRONG });
	assert.equal(e.code, -32010, 'the tenth is still a wrong PIN');
	assert.equal(e.data.tries_left, 0);
	assert.equal(e.data.locked, true);
	assert.match(e.message, /locked/);
	const st = await page.request('pin.status');
	assert.equal(st.locked, true);
	assert.equal(st.tries_left, 0);
	// The CLI, reading the same state dir, agrees.
	const cli = await sb.ukey(['pin', 'status', '--json']);
	assert.equal(cli.json.locked, true, cli.stdout);
	assert.equal(cli.json.tries_left, 0);
	assert.equal(sb.logins(), 10);
});

test('R-P2: after the lock even the right PIN is pin-locked and nothing reaches the module', T, async (t) => {
	const { sb, agent, serials } = await setup(t);
	const page = await agent.page();
	for (let i = 0; i < 10; i++)
		await page.error('pin.verify', { pin: WRONG });
	assert.equal(sb.logins(), 10);
	// pin.change would reach the key through C_SetPIN, which the wrapper does not count: had it
	// reached the key with the right PIN, the key's token.object (which holds the PIN) would change.
	const tokenObject = path.join(sb.tokenDir(serials[0]), 'token.object');
	const before = fs.readFileSync(tokenObject);
	const attempts = [
		['pin.verify', { pin: PIN }],
		['pin.verify', { pin: WRONG }],
		['pin.change', { pin: PIN, new_pin: '24681357' }],
		['sign', { pin: PIN, data: Buffer.from('x').toString('base64') }],
	];
	for (const [method, params] of attempts) {
		const e = await page.error(method, params);
		assert.equal(e.code, -32011, `${method}: pin-locked`);
		assert.equal(e.data.id, 'pin-locked');
		assert.equal(e.data.rule, 'R-P2');
		assert.equal(e.data.locked, true);
		assert.equal(e.data.tries_left, 0);
	}
	assert.equal(sb.logins(), 10, 'no C_Login after the lock (R-P2)');
	assert.ok(fs.readFileSync(tokenObject).equals(before), 'the key was not changed (no C_SetPIN reached it)');
	// A new connection, and the CLI, are refused the same way.
	const again = await agent.local();
	assert.equal((await again.error('pin.verify', { pin: PIN })).data.id, 'pin-locked');
	const cli = await cliVerify(sb, PIN);
	assert.equal(cli.code, 4, cli.stderr);
	assert.equal(sb.logins(), 10);
});

test('R-P1: the right PIN after nine wrong ones through the API resets the count to 10', T, async (t) => {
	const { agent } = await setup(t);
	const page = await agent.page();
	for (let i = 0; i < 9; i++)
		await page.error('pin.verify', { pin: WRONG });
	const ok = await page.request('pin.verify', { pin: PIN });
	assert.equal(ok.tries_left, 10);
	assert.equal((await page.error('pin.verify', { pin: WRONG })).data.tries_left, 9);
});

test('R-P1: wrong PINs through sign and pin.change count like pin.verify', T, async (t) => {
	const { sb, agent } = await setup(t);
	const page = await agent.page();
	const data = Buffer.from('x').toString('base64');
	assert.equal((await page.error('sign', { pin: WRONG, data })).data.tries_left, 9);
	assert.equal((await page.error('pin.change', { pin: WRONG, new_pin: '24681357' })).data.tries_left, 8);
	assert.equal((await page.error('pin.verify', { pin: WRONG })).data.tries_left, 7);
	for (let left = 6; left >= 1; left--)
		assert.equal((await page.error(left % 2 ? 'sign' : 'pin.change', { pin: WRONG, new_pin: '24681357', data })).data.tries_left, left);
	const e = await page.error('sign', { pin: WRONG, data });
	assert.equal(e.data.locked, true, 'the tenth wrong PIN, through sign, locks');
	assert.equal((await page.error('sign', { pin: PIN, data })).data.id, 'pin-locked');
	// sign logs in (C_Login); pin.change goes to C_SetPIN, which the counting wrapper does not see.
	assert.equal(sb.logins(), 6, 'five sign and one pin.verify reached C_Login');
});

test('R-P1: attempts mixed between ukey pin verify and pin.verify add up', T, async (t) => {
	const { sb, agent, serials } = await setup(t);
	const page = await agent.page();
	let left = 10;
	// CLI, API, CLI, API, ...: each sees the other's attempts.
	for (let i = 0; i < 9; i++) {
		left--;
		if (i % 2 === 0) {
			const r = await cliVerify(sb, WRONG);
			assert.equal(r.code, 3, `CLI attempt ${i + 1}: ${r.stderr}`);
			assert.equal((await page.request('pin.status')).tries_left, left, `the API sees CLI attempt ${i + 1}`);
		} else {
			const e = await page.error('pin.verify', { pin: WRONG });
			assert.equal(e.data.tries_left, left, `API attempt ${i + 1}`);
			const st = await sb.ukey(['pin', 'status', '--json', '--token', serials[0]]);
			assert.equal(st.json.tries_left, left, `the CLI sees API attempt ${i + 1}`);
		}
	}
	assert.equal(left, 1);
	const r = await cliVerify(sb, WRONG);
	assert.equal(r.code, 3, 'the tenth, through the CLI, is a wrong PIN');
	const st = await page.request('pin.status');
	assert.equal(st.locked, true, 'the API sees the lock the CLI caused');
	const e = await page.error('pin.verify', { pin: PIN });
	assert.equal(e.data.id, 'pin-locked');
	assert.equal(e.data.rule, 'R-P2');
	assert.equal(sb.logins(), 10);
});

test('R-P1: a pin.locked notification reaches a second client when the first locks the key', T, async (t) => {
	const { agent, serials } = await setup(t, [['--label', 'unit-key']]);
	const first = await agent.page();
	const second = await agent.local();
	await second.request('agent.info'); // connected and greeted before the lock
	for (let i = 0; i < 9; i++)
		await first.error('pin.verify', { pin: WRONG });
	assert.equal(second.notifications('pin.locked').length, 0, 'no pin.locked before the tenth wrong PIN');
	await first.error('pin.verify', { pin: WRONG });
	const n = await second.notification('pin.locked', undefined, 5000);
	assert.deepEqual(n.params, { serial: serials[0], label: 'unit-key', rule: 'R-P1' });
	await first.notification('pin.locked', undefined, 5000);
	// Refused attempts on the locked key do not announce it again.
	await first.error('pin.verify', { pin: WRONG });
	await second.request('agent.info');
	assert.equal(second.notifications('pin.locked').length, 1);
});

test('R-P1: a lock caused through the CLI is seen by pin.status at once', T, async (t) => {
	const { sb, agent } = await setup(t);
	const page = await agent.page();
	for (let i = 0; i < 10; i++)
		assert.equal((await cliVerify(sb, WRONG)).code, 3);
	const st = await page.request('pin.status');
	assert.equal(st.locked, true);
	assert.equal((await page.request('token.list')).tokens[0].pin.locked, true);
});

test('the PIN never appears in ukeyd output with UKEY_DEBUG=all, nor in any file under the state dir', T, async (t) => {
	const right = '5813217', wrong = '9274615', next = '6049382';
	const { sb, agent } = await setup(t, [['--pin', right]], { env: { UKEY_DEBUG: 'all' } });
	const page = await agent.page();
	const data = Buffer.from('x').toString('base64');
	await page.error('pin.verify', { pin: wrong });
	await page.request('pin.verify', { pin: right });
	await page.request('sign', { pin: right, data });
	await page.error('sign', { pin: wrong, data });
	await page.request('pin.change', { pin: right, new_pin: next });
	await page.error('pin.change', { pin: wrong, new_pin: right });
	await page.request('pin.verify', { pin: next });
	// Requests the agent refuses before any method runs still carry the PIN.
	page.send(`{"jsonrpc":"2.0","method":"pin.verify","params":{"pin":"${right}"}}`);
	page.send(`{"jsonrpc":"2.0","id":"x","method":"pin.verify","params":{"pin":"${right}"`);
	await page.request('agent.info');
	await agent.stop();
	const out = agent.stdout + agent.stderr;
	assert.match(agent.stderr, /debug: /, 'UKEY_DEBUG=all gave debug output (else this test shows nothing)');
	for (const pin of [right, wrong, next]) {
		assert.ok(!out.includes(pin), `PIN ${pin} in ukeyd's output:\n${out}`);
		for (const f of filesUnder(sb.state))
			assert.ok(!f.data.includes(Buffer.from(pin)), `PIN ${pin} in ${f.path}`);
		for (const f of filesUnder(sb.runtime))
			assert.ok(!f.data.includes(Buffer.from(pin)), `PIN ${pin} in ${f.path}`);
	}
	assert.ok(filesUnder(sb.state).length > 0, 'the state dir has files to search');
	assert.equal(sb.logins(), 5, 'five of the calls logged in');
});
