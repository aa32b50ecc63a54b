// SPDX-License-Identifier: LGPL-2.1-or-later
// Attacks on ukeyd's local API (issue 4, "Security"): each is refused, and the agent still serves a good client afterwards.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { test } from 'node:test';

import { PIN, Sandbox, sleep, within } from '../lib/agent.mjs';

const T = { timeout: 40000 };

async function setup(t, { tokens = [[]], counting = false, env } = {}) {
	const sb = await Sandbox.create(t);
	if (counting)
		sb.useCounting();
	const serials = tokens.length ? await sb.tokens(...tokens) : [];
	const agent = await sb.startAgent({ env });
	return { sb, agent, serials };
}

// After an attack the agent must still serve a good client: a page of its own and a local program.
async function stillServes(agent) {
	const page = await agent.page();
	assert.equal((await page.request('agent.info')).name, 'ukeyd', 'the agent serves a page afterwards');
	await page.close();
	const local = await agent.local();
	assert.equal((await local.request('agent.info')).origin, null, 'the agent serves a local program afterwards');
	await local.close();
}

// Each attack: the handshake is refused with HTTP 403 before the upgrade.
async function assertRefused(agent, opts, what) {
	assert.equal(await agent.refusal(opts), 403, what);
}

// ---------------------------------------------------------------- who may connect

test('a foreign Origin is refused with 403, even with a valid API token', T, async (t) => {
	const { agent } = await setup(t);
	await assertRefused(agent, { origin: 'https://evil.example' }, 'foreign origin');
	await assertRefused(agent, { origin: 'https://evil.example', token: agent.apiToken() }, 'foreign origin + token');
	await assertRefused(agent, { origin: 'http://127.0.0.1' }, 'loopback without the port');
	await assertRefused(agent, { origin: `http://127.0.0.1:${agent.port}.evil.example` }, 'own origin as a prefix');
	await assertRefused(agent, { origin: `http://evil.example/http://127.0.0.1:${agent.port}` }, 'own origin in a path');
	await stillServes(agent);
});

test('Origin "null" (sandboxed frames, file: pages) is refused; so is file://', T, async (t) => {
	const { agent } = await setup(t);
	await assertRefused(agent, { origin: 'null' }, 'Origin: null');
	await assertRefused(agent, { origin: 'null', token: agent.apiToken() }, 'Origin: null + token');
	await assertRefused(agent, { origin: 'file://' }, 'file://');
	await assertRefused(agent, { origin: '' }, 'an empty Origin');
	await stillServes(agent);
});

test("an Origin differing only in port or scheme from an allowed one, or from the agent's own, is refused", T, async (t) => {
	const { sb, agent } = await setup(t);
	assert.equal((await sb.ukey(['origin', 'add', 'http://127.0.0.1:9999'])).code, 0);
	const ok = await agent.page('http://127.0.0.1:9999');
	assert.equal((await ok.request('agent.info')).origin, 'http://127.0.0.1:9999');
	for (const origin of [
		'http://127.0.0.1:9998',
		'https://127.0.0.1:9999',
		'http://127.0.0.1:99990',
		'http://localhost:9999',
		`https://127.0.0.1:${agent.port}`,
		`http://127.0.0.1:${agent.port + 1}`,
		`ws://127.0.0.1:${agent.port}`,
	])
		await assertRefused(agent, { origin }, origin);
	await stillServes(agent);
});

test('a DNS-rebinding Host (evil.example:PORT) is refused even with the agent\'s own Origin', T, async (t) => {
	const { agent } = await setup(t);
	for (const host of [`evil.example:${agent.port}`, `localhost.evil.example:${agent.port}`, `127.0.0.1.evil.example:${agent.port}`,
		'127.0.0.1', `127.0.0.1:${agent.port + 1}`]) {
		await assertRefused(agent, { host, origin: agent.origin }, `Host ${host}, own Origin`);
		await assertRefused(agent, { host, token: agent.apiToken() }, `Host ${host}, API token`);
	}
	await stillServes(agent);
});

test('no Origin and no API token is refused (403)', T, async (t) => {
	const { agent } = await setup(t);
	await assertRefused(agent, {}, 'no Origin, no token');
	await assertRefused(agent, { headers: { Authorization: 'Basic dXNlcjpwYXNz' } }, 'Basic auth');
	await stillServes(agent);
});

test('a wrong API token, or one of a wrong length, is refused (403)', T, async (t) => {
	const { agent } = await setup(t);
	const good = agent.apiToken();
	assert.match(good, /^[0-9a-f]{64}$/, 'the token is 32 random bytes in hex');
	const flipped = (good[0] === '0' ? '1' : '0') + good.slice(1);
	for (const [what, token] of [
		['one digit changed', flipped],
		['one character short', good.slice(0, -1)],
		['one character more', `${good}0`],
		['twice the token', good + good],
		['empty', ''],
		['with a trailing space', `${good} `],
	])
		await assertRefused(agent, { token }, what);
	await assertRefused(agent, { headers: { Authorization: `bearer ${good.toUpperCase()}` } }, 'upper-case token');
	await stillServes(agent);
});

test('a WebSocket on a path other than /api is refused (403)', T, async (t) => {
	const { agent } = await setup(t);
	for (const p of ['/', '/apix', '/api/', '/API', '/sdk/ukey.js', '/api/../sdk'])
		await assertRefused(agent, { path: p, origin: agent.origin }, `path ${p}`);
	await stillServes(agent);
});

test('ukey origin add is applied without restarting ukeyd, and ukey origin remove refuses the origin again', T, async (t) => {
	const { sb, agent } = await setup(t);
	const origin = 'http://127.0.0.1:9999';
	await assertRefused(agent, { origin }, 'before ukey origin add');
	const add = await sb.ukey(['--json', 'origin', 'add', origin]);
	assert.equal(add.code, 0, add.stderr);
	assert.deepEqual(add.json, { origin, allowed: true, changed: true });
	const page = await agent.page(origin);
	assert.equal((await page.request('agent.info')).origin, origin);
	const rm = await sb.ukey(['origin', 'remove', origin]);
	assert.equal(rm.code, 0, rm.stderr);
	await assertRefused(agent, { origin }, 'after ukey origin remove');
	await stillServes(agent);
});

test("the agent's own page origin is always accepted, with no allowlist at all", T, async (t) => {
	const { sb, agent } = await setup(t);
	const list = await sb.ukey(['--json', 'origin', 'list']);
	assert.deepEqual(list.json.origins, []);
	for (const origin of [agent.origin, `http://localhost:${agent.port}`]) {
		const page = await agent.page(origin);
		assert.equal((await page.request('agent.info')).origin, origin);
	}
});

// A handshake from a process of another user: resolves the HTTP status line ukeyd answered.
function handshakeAs(uid, gid, port, origin) {
	const script = `
		const s = require('net').connect(${port}, '127.0.0.1', () => s.write([
			'GET /api HTTP/1.1', 'Host: 127.0.0.1:${port}', 'Upgrade: websocket', 'Connection: Upgrade',
			'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13',
			'Sec-WebSocket-Protocol: ukey.v1', ${JSON.stringify(origin ? `Origin: ${origin}` : 'X-None: 1')}, '', ''].join('\\r\\n')));
		let got = '';
		s.on('data', (d) => { got += d; if (got.includes('\\r\\n')) { console.log(got.split('\\r\\n')[0]); s.destroy(); } });
		s.on('error', (e) => { console.log('error ' + e.code); });`;
	return new Promise((resolve, reject) => {
		const child = spawn(process.execPath, ['-e', script], { uid, gid, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
		let out = '', err = '';
		child.stdout.on('data', (d) => (out += d));
		child.stderr.on('data', (d) => (err += d));
		child.on('error', reject);
		child.on('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`uid ${uid}: ${err}`))));
	});
}

test('another local user cannot use the agent, not even with the agent\'s own Origin (the API is per user)', T, async (t) => {
	if (process.getuid() !== 0) {
		t.skip('needs root to run a process as another user');
		return;
	}
	const { agent } = await setup(t);
	// Sanity: this user's own handshake is accepted through the same code.
	assert.match(await handshakeAs(0, 0, agent.port, agent.origin), / 101 /);
	// uid 65534 (nobody) cannot read the API token (0600); it must not get in by claiming an Origin either.
	assert.match(await handshakeAs(65534, 65534, agent.port, null), / 403 /, 'no Origin, no token');
	assert.match(await handshakeAs(65534, 65534, agent.port, agent.origin), / 403 /,
		'another user forging the agent\'s own page origin');
	await stillServes(agent);
});

// ---------------------------------------------------------------- what a connection may send

test('a message over 256 KiB closes that connection (1009) while a second client keeps working', T, async (t) => {
	const { agent } = await setup(t);
	const other = await agent.local();
	const page = await agent.page();
	// Exactly 256 KiB is still a message the agent reads.
	const head = '{"jsonrpc":"2.0","id":1,"method":"agent.info","params":{"pad":"';
	const tail = '"}}';
	const exact = head + 'a'.repeat(256 * 1024 - head.length - tail.length) + tail;
	assert.equal(Buffer.byteLength(exact), 256 * 1024);
	page.send(exact);
	assert.equal((await page.response(1)).result?.name, 'ukeyd', 'a message of exactly 256 KiB is served');
	const over = head + 'a'.repeat(256 * 1024 + 1 - head.length - tail.length) + tail;
	page.send(over.replace('"id":1', '"id":2'));
	const closed = await within(page.closed, 5000);
	assert.ok(closed, 'the connection is closed');
	assert.equal(closed.code, 1009, 'close code 1009 (message too big)');
	assert.equal((await other.request('agent.info')).name, 'ukeyd', 'the other client is served');
	await stillServes(agent);
});

test('JSON nested deeper than 8 is parse-error; 8 levels are served', T, async (t) => {
	const { agent } = await setup(t);
	const page = await agent.page();
	// The request object is level 1 and params level 2: six arrays inside make 8.
	const nest = (n) => '['.repeat(n) + ']'.repeat(n);
	page.send(`{"jsonrpc":"2.0","id":1,"method":"agent.info","params":{"a":${nest(6)}}}`);
	assert.equal((await page.response(1)).result?.name, 'ukeyd', 'depth 8 is served');
	page.send(`{"jsonrpc":"2.0","id":2,"method":"agent.info","params":{"a":${nest(7)}}}`);
	const deep = await page.waitFor((m) => m.error && m.id === null, 'parse-error');
	assert.equal(deep.error.code, -32700);
	assert.equal(deep.error.data.id, 'parse-error');
	page.send(`{"jsonrpc":"2.0","id":3,"method":"agent.info","params":{"a":${nest(100000)}}}`);
	await page.waitFor((m) => m.error && m.id === null && m !== deep, 'a second parse-error (100000 levels)');
	assert.ok(page.open, 'the connection stays open');
	assert.equal((await page.request('agent.info')).name, 'ukeyd');
	await stillServes(agent);
});

test('a text message that is not JSON is parse-error (-32700, id null)', T, async (t) => {
	const { agent } = await setup(t);
	const page = await agent.page();
	for (const text of ['hello', '{"jsonrpc":"2.0","id":1,', '', '\u0000', '[', 'nul', '{"a":1,}']) {
		const before = page.messages.length;
		page.send(text);
		const m = await page.waitFor((x) => page.messages.indexOf(x) >= before, `reply to ${JSON.stringify(text)}`);
		assert.equal(m.error?.code, -32700, JSON.stringify(text));
		assert.equal(m.id, null);
		assert.equal(m.error.data.id, 'parse-error');
	}
	assert.equal((await page.request('agent.info')).name, 'ukeyd');
});

test('a request followed by more text in the same message is parse-error and is not run', T, async (t) => {
	const { agent } = await setup(t);
	const page = await agent.page();
	const req = (id) => JSON.stringify({ jsonrpc: '2.0', id, method: 'agent.info' });
	for (const [id, text] of [[1, `${req(1)} trailing`], [2, `${req(2)}${req(102)}`], [3, `${req(3)}\u0000junk`]]) {
		const before = page.messages.length;
		page.send(text);
		const m = await page.waitFor((x) => page.messages.indexOf(x) >= before, `reply to ${JSON.stringify(text)}`);
		assert.equal(m.error?.code, -32700, `${JSON.stringify(text)} must not run: ${JSON.stringify(m)}`);
		assert.equal(m.id, null);
		assert.ok(!page.messages.some((x) => x.id === id || x.id === 102), 'the request did not run');
	}
	assert.equal((await page.request('agent.info')).name, 'ukeyd');
});

test('a binary frame closes the connection; the agent serves others', T, async (t) => {
	const { agent } = await setup(t);
	const page = await agent.page();
	page.ws.send(Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'agent.info' })), { binary: true });
	const closed = await within(page.closed, 5000);
	assert.ok(closed, 'closed after a binary frame');
	assert.ok(!page.messages.some((m) => m.id === 1), 'the binary request was not served');
	await stillServes(agent);
});

test('a request without id, or with params that are not an object, is invalid-request (-32600)', T, async (t) => {
	const { sb, agent } = await setup(t, { counting: true });
	const page = await agent.page();
	const cases = [
		[{ jsonrpc: '2.0', method: 'agent.info' }, null, 'no id (a notification)'],
		[{ jsonrpc: '2.0', id: 5, method: 'pin.verify', params: [PIN] }, 5, 'params an array'],
		[{ jsonrpc: '2.0', id: 6, method: 'agent.info', params: 'x' }, 6, 'params a string'],
		[{ jsonrpc: '2.0', id: 7, method: 'agent.info', params: null }, 7, 'params null'],
		[{ jsonrpc: '1.0', id: 8, method: 'agent.info' }, 8, 'jsonrpc 1.0'],
		[{ id: 9, method: 'agent.info' }, 9, 'no jsonrpc'],
		[{ jsonrpc: '2.0', id: 10 }, 10, 'no method'],
		[{ jsonrpc: '2.0', id: 11, method: 7 }, 11, 'method a number'],
		[{ jsonrpc: '2.0', id: { a: 1 }, method: 'agent.info' }, null, 'id an object'],
		[[{ jsonrpc: '2.0', id: 12, method: 'agent.info' }], null, 'a batch (not supported)'],
	];
	for (const [req, id, what] of cases) {
		const before = page.messages.length;
		page.send(req);
		const m = await page.waitFor((x) => page.messages.indexOf(x) >= before, what);
		assert.equal(m.error?.code, -32600, `${what}: ${JSON.stringify(m)}`);
		assert.equal(m.error.data.id, 'invalid-request', what);
		assert.deepEqual(m.id, id, `${what}: id`);
	}
	assert.equal(sb.logins(), 0, 'the PIN in array params never reached the key');
	assert.equal((await page.request('pin.status')).tries_left, 10);
});

// ---------------------------------------------------------------- limits

test('rate limit: more than 40 requests at once get rate-limited errors; after a second the client is served', T, async (t) => {
	const { agent } = await setup(t);
	const page = await agent.page();
	const n = 100; // a burst of 40 passes, refilled at 20 per second: most of the other 60 are refused
	for (let id = 1; id <= n; id++)
		page.send({ jsonrpc: '2.0', id, method: 'agent.info' });
	const replies = [];
	for (let id = 1; id <= n; id++)
		replies.push(await page.response(id));
	const limited = replies.filter((r) => r.error?.data?.id === 'rate-limited');
	assert.ok(limited.length >= 30, `at least 30 of ${n} rate-limited, got ${limited.length}`);
	assert.ok(limited.length <= n - 40, `the first 40 pass the rate limit, got ${limited.length} limited`);
	for (const r of limited)
		assert.equal(r.error.code, -32081);
	assert.ok(replies.filter((r) => r.result).length >= 1, 'the first requests are served');
	assert.ok(page.open, 'a rate-limited client is not disconnected');
	await sleep(1100);
	assert.equal((await page.request('agent.info')).name, 'ukeyd', 'served again after a second');
	await stillServes(agent);
});

test('a local program (API token) is not rate limited (PROTOCOL.md: web pages only)', T, async (t) => {
	const { agent } = await setup(t);
	const local = await agent.local();
	const n = 60;
	for (let id = 1; id <= n; id++)
		local.send({ jsonrpc: '2.0', id, method: 'agent.info' });
	const replies = [];
	for (let id = 1; id <= n; id++)
		replies.push(await local.response(id));
	assert.deepEqual(replies.filter((r) => r.error?.data?.id === 'rate-limited'), []);
	assert.ok(replies.every((r) => r.result || r.error?.data?.id === 'busy'), 'served, or busy (in-flight cap)');
});

test('in-flight cap: 20 requests sent without waiting get some busy errors; every one is answered', T, async (t) => {
	// Each login is held 150 ms in the counting wrapper, so requests pile up behind the one worker.
	const { sb, agent } = await setup(t, { counting: true, env: { UKEY_COUNT_DELAY_MS: '150' } });
	const page = await agent.page();
	for (let id = 1; id <= 20; id++)
		page.send({ jsonrpc: '2.0', id, method: 'pin.verify', params: { pin: PIN } });
	const replies = [];
	for (let id = 1; id <= 20; id++)
		replies.push(await page.response(id, `reply ${id}`, 15000));
	const busy = replies.filter((r) => r.error?.data?.id === 'busy');
	const ok = replies.filter((r) => r.result?.result === 'verified');
	assert.equal(busy.length + ok.length, 20, `each reply is verified or busy: ${JSON.stringify(replies.filter((r) => !r.result && r.error?.data?.id !== 'busy'))}`);
	assert.ok(busy.length >= 1, 'some requests are busy');
	assert.ok(ok.length <= 8 + 1, `at most 8 in flight, ${ok.length} served`);
	for (const r of busy)
		assert.equal(r.error.code, -32080);
	assert.equal(sb.logins(), ok.length, 'a busy request never reached the key');
	assert.equal((await page.request('pin.status')).tries_left, 10);
	assert.equal((await page.request('pin.verify', { pin: PIN })).result, 'verified', 'served once the queue drained');
});

// The connection cap and each origin's share of it: red-team.test.mjs (issue 12).

test('a slow client that never reads does not stop another client from being served', T, async (t) => {
	const { agent } = await setup(t);
	const slow = await agent.page();
	const good = await agent.local();
	slow.ws.pause(); // never reads: what the agent sends piles up in the kernel and then in the agent
	// Replies echo the id: 40 invalid requests with ~200 KB ids ask for ~8 MB the slow client never reads.
	const big = 'z'.repeat(200 * 1024);
	for (let i = 0; i < 40; i++)
		slow.send(`{"jsonrpc":"2.0","id":"${big}${i}"}`);
	const latencies = [];
	for (let i = 0; i < 20; i++) {
		const t0 = Date.now();
		await good.request('agent.info', undefined, { timeoutMs: 3000 });
		latencies.push(Date.now() - t0);
		await sleep(25);
	}
	assert.ok(Math.max(...latencies) < 2000, `the good client was answered within 2 s each time: ${latencies}`);
	// The slow client held more than the agent keeps for a client (1 MiB unread): it is dropped.
	slow.ws.resume();
	const closed = await within(slow.closed, 10000);
	assert.ok(closed, 'the slow client was disconnected after holding megabytes of unread replies');
	assert.equal((await good.request('agent.info')).name, 'ukeyd');
});

// ---------------------------------------------------------------- the process and its files

function listeningSockets(pid) {
	const inodes = new Set();
	for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
		try {
			const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
			if (m)
				inodes.add(m[1]);
		} catch {
			/* closed meanwhile */
		}
	}
	const found = [];
	for (const [file, v6] of [['/proc/net/tcp', false], ['/proc/net/tcp6', true]]) {
		let text;
		try {
			text = fs.readFileSync(file, 'utf8');
		} catch {
			continue;
		}
		for (const line of text.split('\n').slice(1)) {
			const f = line.trim().split(/\s+/);
			if (f.length < 10 || f[3] !== '0A' || !inodes.has(f[9]))
				continue; // 0A: LISTEN
			const [addr, port] = f[1].split(':');
			found.push({ v6, addr, port: parseInt(port, 16) });
		}
	}
	return found;
}

test('ukeyd listens only on 127.0.0.1 and ::1, never on 0.0.0.0 or ::', T, async (t) => {
	const { agent } = await setup(t, { tokens: [] });
	const socks = listeningSockets(agent.pid);
	const v4 = socks.filter((s) => !s.v6);
	const v6 = socks.filter((s) => s.v6);
	assert.deepEqual(v4, [{ v6: false, addr: '0100007F', port: agent.port }], `IPv4 listeners: ${JSON.stringify(v4)}`);
	const hasV6 = fs.existsSync('/proc/net/if_inet6') && fs.readFileSync('/proc/net/if_inet6', 'utf8').includes(' lo');
	if (hasV6)
		assert.deepEqual(v6, [{ v6: true, addr: '00000000000000000000000001000000', port: agent.port }],
			`IPv6 listeners: ${JSON.stringify(v6)}`);
	else
		assert.deepEqual(v6, [], 'no IPv6 loopback here: no IPv6 listener at all');
	for (const s of socks)
		assert.ok(!/^0+$/.test(s.addr), `a wildcard listener: ${JSON.stringify(s)}`);
});

test('the api-token file is mode 0600 in a 0700 dir, new at every start, and removed when ukeyd stops', T, async (t) => {
	const { sb, agent } = await setup(t, { tokens: [] });
	const file = fs.statSync(agent.tokenPath);
	const dir = fs.statSync(sb.runtime);
	assert.equal(file.mode & 0o777, 0o600, `api-token mode ${(file.mode & 0o777).toString(8)}`);
	assert.equal(dir.mode & 0o777, 0o700, `runtime dir mode ${(dir.mode & 0o777).toString(8)}`);
	assert.equal(file.uid, process.getuid());
	const first = agent.apiToken();
	const { problems } = await agent.stop();
	assert.deepEqual(problems, []);
	assert.ok(!fs.existsSync(agent.tokenPath), 'api-token removed when ukeyd stops');
	const again = await sb.startAgent();
	const second = again.apiToken();
	assert.notEqual(second, first, 'a new token every start');
	await assertRefused(again, { token: first }, 'the previous start\'s token');
	assert.equal((await (await again.local()).request('agent.info')).origin, null);
});

test('HTTP GET / and /sdk/ukey.js with a DNS-rebinding Host are refused (403)', T, async (t) => {
	const { agent } = await setup(t, { tokens: [] });
	for (const p of ['/', '/sdk/ukey.js', '/index.html', '/api']) {
		const r = await agent.get(p, { host: `evil.example:${agent.port}` });
		assert.equal(r.status, 403, `GET ${p} with Host evil.example`);
		assert.ok(!r.body.includes('<script') && !r.body.includes('export '), `GET ${p}: no page content in the refusal`);
	}
	const ok = await agent.get('/sdk/ukey.js');
	assert.equal(ok.status, 200, 'the SDK under the agent\'s own name');
	assert.ok(ok.body.length > 100);
});

test('static responses carry x-content-type-options: nosniff and x-frame-options: DENY', T, async (t) => {
	const { agent } = await setup(t, { tokens: [] });
	for (const p of ['/', '/sdk/ukey.js']) {
		const r = await agent.get(p);
		assert.equal(r.status, 200, `GET ${p}`);
		assert.equal(r.headers['x-content-type-options'], 'nosniff', `GET ${p}`);
		assert.equal(r.headers['x-frame-options'], 'DENY', `GET ${p}`);
		assert.match(r.headers['content-security-policy'] ?? '', /frame-ancestors 'none'/, `GET ${p}`);
	}
	assert.match((await agent.get('/sdk/ukey.js')).headers['content-type'], /javascript/);
	const missing = await agent.get('/no-such-file');
	assert.equal(missing.status, 404);
});
