// SPDX-License-Identifier: LGPL-2.1-or-later
// What a red-team run against ukeyd found (issue 12), each attack refused now: half-bound listeners, NUL bytes,
// one origin taking every connection or the whole rate, PIN copies in memory, slow messages, RFC 6455 strictness, CORS.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';

import { PIN, Sandbox, config, run, sleep, until, within } from '../lib/agent.mjs';

const T = { timeout: 40000 };
const EXIT_ADDRESS_TAKEN = 9; // README, "Exit codes" (ukeyd)
const hasIpv6Loopback = () =>
	fs.existsSync('/proc/net/if_inet6') && /^0{31}1 /m.test(fs.readFileSync('/proc/net/if_inet6', 'utf8'));

async function setup(t, { tokens = [[]], counting = false } = {}) {
	const sb = await Sandbox.create(t);
	if (counting)
		sb.useCounting();
	const serials = tokens.length ? await sb.tokens(...tokens) : [];
	const agent = await sb.startAgent();
	return { sb, agent, serials };
}

// ---------------------------------------------------------------- raw sockets

// A WebSocket frame from a client: masked unless told otherwise; declared may claim a longer payload than sent.
function frame(payload, { opcode = 1, fin = true, mask = true, declared } = {}) {
	const p = Buffer.from(payload);
	const len = declared ?? p.length;
	const head = [(fin ? 0x80 : 0) | opcode];
	const m = mask ? 0x80 : 0;
	if (len < 126)
		head.push(m | len);
	else if (len < 65536)
		head.push(m | 126, len >> 8, len & 0xff);
	else {
		head.push(m | 127);
		for (let i = 7; i >= 0; i--)
			head.push(Number((BigInt(len) >> BigInt(8 * i)) & 0xffn));
	}
	if (!mask)
		return Buffer.concat([Buffer.from(head), p]);
	const key = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
	return Buffer.concat([Buffer.from(head), key, Buffer.from(p.map((b, i) => b ^ key[i % 4]))]);
}

// Opens a TCP connection and sends request (a string or Buffer, sent as bytes). Resolves
// {socket, status, head, data (what came after the head), closed (a promise of the close time)}.
function rawRequest(port, request, { address = '127.0.0.1', timeoutMs = 8000 } = {}) {
	return new Promise((resolve, reject) => {
		const socket = net.connect(port, address);
		const t0 = Date.now();
		let buf = Buffer.alloc(0), done = false;
		const r = { socket, status: null, head: '', data: Buffer.alloc(0), t0 };
		r.closed = new Promise((res) => socket.on('close', () => res(Date.now() - t0)));
		const timer = setTimeout(() => finish(), timeoutMs);
		const finish = () => {
			if (done)
				return;
			done = true;
			clearTimeout(timer);
			resolve(r);
		};
		socket.on('connect', () => socket.write(typeof request === 'string' ? Buffer.from(request, 'latin1') : request));
		socket.on('data', (d) => {
			if (r.status !== null) {
				r.data = Buffer.concat([r.data, d]);
				return;
			}
			buf = Buffer.concat([buf, d]);
			const end = buf.indexOf('\r\n\r\n');
			if (end < 0)
				return;
			r.head = buf.subarray(0, end).toString('latin1');
			r.status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(r.head)?.[1] ?? 0);
			r.data = buf.subarray(end + 4);
			finish();
		});
		socket.on('close', finish);
		socket.on('error', (e) => (done ? undefined : e.code === 'ECONNRESET' ? finish() : reject(e)));
	});
}

function handshake(agent, { origin, token, host, version = '13', protocol = 'ukey.v1', extra = [] } = {}) {
	return [
		'GET /api HTTP/1.1',
		`Host: ${host ?? agent.host}`,
		'Upgrade: websocket',
		'Connection: Upgrade',
		'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
		...(version !== null ? [`Sec-WebSocket-Version: ${version}`] : []),
		...(protocol !== null ? [`Sec-WebSocket-Protocol: ${protocol}`] : []),
		...(origin !== undefined ? [`Origin: ${origin}`] : []),
		...(token !== undefined ? [`Authorization: Bearer ${token}`] : []),
		...extra,
		'',
		'',
	].join('\r\n');
}

// The close code in the server's close frame at the start of data, or null.
function closeCode(data) {
	const i = data.indexOf(0x88);
	return i >= 0 && data.length >= i + 4 ? data.readUInt16BE(i + 2) : null;
}

// A free TCP port on 127.0.0.1 (and, where there is one, on ::1).
async function freePort() {
	for (;;) {
		const srv = net.createServer();
		await new Promise((res) => srv.listen(0, '127.0.0.1', res));
		const { port } = srv.address();
		await new Promise((res) => srv.close(res));
		if (!hasIpv6Loopback())
			return port;
		const v6 = net.createServer();
		const ok = await new Promise((res) => {
			v6.once('error', () => res(false));
			v6.listen(port, '::1', () => res(true));
		});
		if (ok) {
			await new Promise((res) => v6.close(res));
			return port;
		}
	}
}

// ---------------------------------------------------------------- 1. only the addresses it serves

test('ukeyd refuses to start half-bound: [::1]:PORT or 127.0.0.1:PORT taken → exit 9 and one sentence, no listener left', T, async (t) => {
	const sb = await Sandbox.create(t);
	const cfg = config();
	const addresses = hasIpv6Loopback() ? ['::1', '127.0.0.1'] : ['127.0.0.1'];
	for (const address of addresses) {
		// Another program (in the attack: another user) listens first on one of the agent's addresses.
		const port = await freePort();
		const squatter = net.createServer((s) => s.end('HTTP/1.1 200 OK\r\n\r\nnot the agent'));
		await new Promise((res) => squatter.listen(port, address, res));
		const r = await run(cfg.ukeyd, ['--port', String(port), '--module', sb.module, '--state-dir', sb.state,
			'--runtime-dir', sb.runtime], { env: sb.env(), timeoutMs: 5000 });
		await new Promise((res) => squatter.close(res));
		assert.equal(r.code, EXIT_ADDRESS_TAKEN, `[${address}]:${port} taken: exit ${r.code ?? r.signal}; stderr: ${r.stderr}`);
		const lines = r.stderr.trim().split('\n');
		assert.equal(lines.length, 1, `one sentence: ${r.stderr}`);
		assert.match(lines[0], new RegExp(`^ukeyd: port ${port} is taken .*--port\\.$`));
		assert.equal(r.stdout, '', 'it never said it was listening');
	}
});

test("the agent's own page is trusted on 127.0.0.1, [::1] and localhost only while the agent listens on both", T, async (t) => {
	const { agent } = await setup(t, { tokens: [] });
	for (const origin of [agent.origin, `http://localhost:${agent.port}`, `http://[::1]:${agent.port}`]) {
		if (!hasIpv6Loopback() && origin !== agent.origin) {
			assert.equal(await agent.refusal({ origin }), 403, `${origin}: no ::1 here, so not the agent's own`);
			continue;
		}
		const page = await agent.page(origin);
		assert.equal((await page.request('agent.info')).origin, origin);
		await page.close();
	}
});

// ---------------------------------------------------------------- 2. NUL bytes

test('api/security/nul-in-pin-refused-no-try-used: "123456\\u0000aaaa" is invalid-request, nothing reaches the key', T, async (t) => {
	const { sb, agent } = await setup(t, { counting: true });
	const page = await agent.page();
	for (const pin of [`${PIN}\u0000aaaa`, `${PIN}\u0000${'a'.repeat(100)}`, `\u0000${PIN}`]) {
		const e = await page.error('pin.verify', { pin });
		assert.equal(e.code, -32600, JSON.stringify(e));
		assert.equal(e.data.id, 'invalid-request');
	}
	const e = await page.error('session.open', { pin: `${PIN}\u0000x` });
	assert.equal(e.data.id, 'invalid-request');
	assert.equal(sb.logins(), 0, 'no PIN reached the key');
	assert.equal((await page.request('pin.status')).tries_left, 10, 'no try used');
	assert.equal((await sb.pinStatus()).tries_left, 10);
});

test('api/security/nul-in-new-pin-refused-pin-unchanged: pin.change to "abcdef\\u0000XYZ" changes nothing, costs no try', T, async (t) => {
	const { sb, agent } = await setup(t, { counting: true });
	const page = await agent.page();
	const e = await page.error('pin.change', { pin: PIN, new_pin: 'abcdef\u0000XYZ' });
	assert.equal(e.data.id, 'invalid-request', JSON.stringify(e));
	assert.equal(sb.logins(), 0, 'nothing reached the key');
	// The PIN is what it was: the old one works, "abcdef" does not.
	assert.equal((await page.request('pin.verify', { pin: PIN })).result, 'verified');
	assert.equal((await page.error('pin.verify', { pin: 'abcdef' })).data.id, 'pin-incorrect');
	assert.equal((await page.request('pin.verify', { pin: PIN })).tries_left, 10);
});

test('api/security/nul-in-method-or-token-selector-refused: \\u0000 in a method, a selector or an id is invalid-request', T, async (t) => {
	const { sb, agent, serials: [serial] } = await setup(t, { counting: true });
	const page = await agent.page();
	assert.equal((await page.error('pin.status\u0000junk')).data.id, 'invalid-request');
	assert.equal((await page.error('pin.verify', { token: `${serial}\u0000x`, pin: PIN })).data.id, 'invalid-request');
	assert.equal((await page.error('cert.list', { token: `${serial}\u0000` })).data.id, 'invalid-request');
	// A string id that may be cut short is not echoed: the answer carries id null.
	page.send(JSON.stringify({ jsonrpc: '2.0', id: 'a\u0000b', method: 'agent.info' }));
	const m = await page.waitFor((x) => x.error && x.id === null, 'invalid-request with id null');
	assert.equal(m.error.data.id, 'invalid-request');
	// "\\u0000" (an escaped backslash, then text) is no NUL: it reaches the method, which knows no such service.
	assert.notEqual((await page.error('guide', { service: '\\u0000' })).data.id, 'invalid-request');
	assert.equal(sb.logins(), 0);
});

test('api/security/nul-byte-in-origin-authorization-host-refused: 400, never read as the part before the NUL', T, async (t) => {
	const { agent } = await setup(t, { tokens: [] });
	const token = agent.apiToken();
	for (const [what, opts] of [
		['Origin', { origin: `${agent.origin}\u0000.evil.example` }],
		['Authorization', { token: `${token}\u0000junk` }],
		['Host', { host: `${agent.host}\u0000evil.example`, origin: agent.origin }],
	]) {
		const r = await rawRequest(agent.port, handshake(agent, opts));
		assert.equal(r.status, 400, `NUL in ${what}: ${r.head.split('\r\n')[0]}`);
		r.socket.destroy();
	}
	const get = await rawRequest(agent.port, `GET / HTTP/1.1\r\nHost: ${agent.host}\u0000evil.example\r\n\r\n`);
	assert.equal(get.status, 403, 'a plain GET with a NUL in Host');
	get.socket.destroy();
	// The same handshakes without the NUL pass.
	const ok = await rawRequest(agent.port, handshake(agent, { token }));
	assert.equal(ok.status, 101);
	ok.socket.destroy();
});

// ---------------------------------------------------------------- 3, 4. shares of connections and of the rate

async function open(agent, n, opts) {
	const clients = [];
	for (let i = 0; i < n; i++)
		clients.push(await agent.connect(opts));
	return clients;
}

test('api/security/one-origin-cannot-take-every-connection: its 33rd is refused; the own page, another origin and local programs get in', { timeout: 60000 }, async (t) => {
	const { sb, agent } = await setup(t, { tokens: [] });
	const hog = 'http://127.0.0.1:9001';
	const other = 'http://127.0.0.1:9002';
	for (const o of [hog, other])
		assert.equal((await sb.ukey(['origin', 'add', o])).code, 0);
	const hogs = await open(agent, 32, { origin: hog });
	assert.equal(await agent.refusal({ origin: hog }), 403, 'the 33rd connection of one origin');
	const page = await agent.page();
	assert.equal((await page.request('agent.info')).name, 'ukeyd', "the agent's own page gets in");
	const portal = await agent.page(other);
	assert.equal((await portal.request('agent.info')).origin, other, 'another origin gets in');
	const local = await agent.local();
	assert.equal((await local.request('agent.info')).origin, null, 'a local program gets in');
	// Local programs (this user, with the API token) are one group with a larger share: the benchmark runs 100.
	const locals = await open(agent, 40, { token: agent.apiToken() });
	assert.equal((await locals[39].request('agent.info')).origin, null);
	await Promise.all([...hogs, ...locals].map((c) => c.terminate()));
});

test('connection cap: 128 in all, and every other client together leaves 16 for the agent\'s own page', { timeout: 60000 }, async (t) => {
	const { sb, agent } = await setup(t, { tokens: [] });
	const origins = ['http://127.0.0.1:9001', 'http://127.0.0.1:9002', 'http://127.0.0.1:9003', 'http://127.0.0.1:9004'];
	for (const o of origins)
		assert.equal((await sb.ukey(['origin', 'add', o])).code, 0);
	const clients = [];
	for (const o of origins.slice(0, 3))
		clients.push(...(await open(agent, 32, { origin: o })));
	clients.push(...(await open(agent, 16, { token: agent.apiToken() })));
	assert.equal(clients.length, 112);
	assert.equal(await agent.refusal({ origin: origins[3] }), 403, 'a fourth origin: the others hold 112');
	assert.equal(await agent.refusal({ token: agent.apiToken() }), 403, 'one more local program');
	const own = await open(agent, 16, { origin: agent.origin });
	assert.equal((await own[15].request('agent.info')).name, 'ukeyd', 'the own page has its 16');
	assert.equal(await agent.refusal({ origin: agent.origin }), 403, '128 in all');
	await own[0].close();
	const late = await until(async () => {
		try {
			return await agent.page();
		} catch (e) {
			if (e.status === 403)
				return null;
			throw e;
		}
	}, 'a free slot for the own page after closing one', 5000, 100);
	assert.equal((await late.request('agent.info')).name, 'ukeyd');
	assert.equal((await clients[40].request('agent.info')).name, 'ukeyd', 'the others still work');
	await Promise.all([...clients, ...own.slice(1), late].map((c) => c.terminate()));
});

test('api/security/rate-limit-per-origin: four connections of one page share one bucket (40, then 20 a second)', T, async (t) => {
	const { agent } = await setup(t, { tokens: [] });
	const pages = await open(agent, 4, { origin: agent.origin });
	const n = 25; // 100 requests at once: each connection alone is under the burst of 40
	for (const p of pages)
		for (let id = 1; id <= n; id++)
			p.send({ jsonrpc: '2.0', id, method: 'agent.info' });
	const replies = [];
	for (const p of pages)
		for (let id = 1; id <= n; id++)
			replies.push(await p.response(id));
	const limited = replies.filter((r) => r.error?.data?.id === 'rate-limited').length;
	assert.ok(limited >= 40, `at least 40 of 100 rate-limited across the origin's connections, got ${limited}`);
	// A local program (not rate limited) is not slowed by the page.
	const local = await agent.local();
	assert.equal((await local.request('agent.info')).name, 'ukeyd');
	await sleep(1100);
	assert.equal((await pages[0].request('agent.info')).name, 'ukeyd', 'served again after a second');
});

test('api/security/reconnecting-does-not-refill-the-bucket: closing and reopening connections keeps the origin\'s rate', T, async (t) => {
	const { agent } = await setup(t, { tokens: [] });
	let limited = 0;
	for (let round = 0; round < 3; round++) {
		const p = await agent.page();
		// One at a time (never busy): a fresh bucket per connection would serve all 30.
		for (let id = 1; id <= 30; id++)
			if ((await p.call('agent.info', undefined, { id })).error?.data?.id === 'rate-limited')
				limited++;
		await p.terminate();
	}
	assert.ok(limited >= 20, `90 requests over 3 quick reconnects: at least 20 rate-limited, got ${limited}`);
});

// ---------------------------------------------------------------- 5. PIN copies in memory

// Every readable private mapping of a process (skipping huge reservations such as ASan's shadow).
function* memoryOf(pid) {
	const fd = fs.openSync(`/proc/${pid}/mem`, 'r');
	try {
		for (const line of fs.readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
			const m = /^([0-9a-f]+)-([0-9a-f]+) (r.)(.)p \S+ \S+ \d+\s*(.*)$/.exec(line);
			if (!m || /\[(vvar|vsyscall)\]/.test(m[5]))
				continue;
			const start = parseInt(m[1], 16), len = parseInt(m[2], 16) - start;
			if (len > 256 * 1024 * 1024)
				continue;
			const buf = Buffer.alloc(len);
			try {
				fs.readSync(fd, buf, 0, len, start);
			} catch {
				continue; /* unmapped meanwhile, or a guard page */
			}
			yield { where: line, buf };
		}
	} finally {
		fs.closeSync(fd);
	}
}

test('api/security/pin-not-left-in-memory: after pin.change neither the new PIN nor the request is in ukeyd\'s memory', T, async (t) => {
	if (process.getuid() !== 0) {
		t.skip('needs root to read another process\'s memory (ukeyd is not dumpable)');
		return;
	}
	const { agent } = await setup(t);
	const NEW = 'Zq7kP2xW9mRt';
	const page = await agent.page();
	// Sent in two fragments, so the agent joins them (the join buffer is a copy too).
	const text = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'pin.change', params: { pin: PIN, new_pin: NEW } });
	const cut = text.indexOf(NEW) + 4;
	page.ws.send(text.slice(0, cut), { fin: false });
	page.ws.send(text.slice(cut), { fin: true });
	assert.equal((await page.response(1)).result?.result, 'changed');
	await page.close();
	await sleep(300);
	const found = [];
	for (const { where, buf } of memoryOf(agent.pid))
		for (const needle of [NEW, `"new_pin":"${NEW.slice(0, 4)}`])
			if (buf.includes(needle))
				found.push(`${needle} in ${where}`);
	assert.deepEqual(found, [], 'no copy of the new PIN or of the request left');
});

// ---------------------------------------------------------------- 6. a message that never completes

test('api/security/slow-message-dropped: a big frame trickled, or a fragment never finished, is closed (1008) after 10 s', { timeout: 40000 }, async (t) => {
	const { agent } = await setup(t, { tokens: [] });
	const trickle = await rawRequest(agent.port, handshake(agent, { origin: agent.origin }));
	const fragment = await rawRequest(agent.port, handshake(agent, { origin: agent.origin }));
	assert.equal(trickle.status, 101);
	assert.equal(fragment.status, 101);
	// A text frame that declares 10 MiB, its first bytes, then one space a second (masked as frame() masks).
	const first = '{"jsonrpc":"2.0","id":1,';
	trickle.socket.write(frame(first, { declared: 10 * 1024 * 1024 }));
	let pos = first.length;
	const key = [0x37, 0xfa, 0x21, 0x3d];
	const timer = setInterval(() => trickle.socket.writable && trickle.socket.write(Buffer.from([0x20 ^ key[pos++ % 4]])), 1000);
	t.after(() => clearInterval(timer));
	// The first fragment of a message, and nothing more.
	fragment.socket.write(frame('{"jsonrpc":"2.0","id":1,', { fin: false }));
	const start = Date.now();
	const [a, b] = await Promise.all([within(trickle.closed, 16000), within(fragment.closed, 16000)]);
	clearInterval(timer);
	assert.ok(a !== null, 'the trickled frame\'s connection was closed within 16 s');
	assert.ok(b !== null, 'the unfinished message\'s connection was closed within 16 s');
	assert.ok(Date.now() - start >= 9000, `not before 10 s: ${Date.now() - start} ms`);
	assert.equal(closeCode(trickle.data), 1008, 'close 1008 (policy violation)');
	assert.equal(closeCode(fragment.data), 1008);
	const page = await agent.page();
	assert.equal((await page.request('agent.info')).name, 'ukeyd');
});

// ---------------------------------------------------------------- 7. RFC 6455

test('api/security/invalid-utf8-closes-1007: a text frame that is not UTF-8 closes the connection with 1007', T, async (t) => {
	const { agent } = await setup(t, { tokens: [] });
	const page = await agent.page();
	page.ws.send(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { binary: false });
	const closed = await within(page.closed, 5000);
	assert.ok(closed, 'closed');
	assert.equal(closed.code, 1007);
	assert.equal(page.messages.length, 0, 'no answer: the frame never reached the API');
});

test('api/security/version-13-and-subprotocol-ukey-v1-required: other handshakes are refused (400)', T, async (t) => {
	const { agent } = await setup(t, { tokens: [] });
	for (const [what, opts] of [
		['version 8', { version: '8' }],
		['no version', { version: null }],
		['no subprotocol', { protocol: null }],
		['another subprotocol', { protocol: 'ukey.v2' }],
	]) {
		const r = await rawRequest(agent.port, handshake(agent, { origin: agent.origin, ...opts }));
		assert.notEqual(r.status, 101, `${what}: ${r.head.split('\r\n')[0]}`);
		r.socket.destroy();
	}
	// The SDK's way (and a list naming it) passes.
	const ok = await rawRequest(agent.port, handshake(agent, { origin: agent.origin, protocol: 'chat, ukey.v1' }));
	assert.equal(ok.status, 101);
	assert.match(ok.head, /Sec-WebSocket-Protocol: ukey\.v1/i);
	ok.socket.destroy();
	assert.equal(await agent.refusal({ origin: agent.origin, protocol: '' }), 400, 'through ws too');
});

test('api/security/h2c-upgrade-refused: Upgrade: h2c is answered 400, never switched to HTTP/2', T, async (t) => {
	const { agent } = await setup(t, { tokens: [] });
	for (const p of ['/', '/api', '/sdk/ukey.js']) {
		const r = await rawRequest(agent.port, [`GET ${p} HTTP/1.1`, `Host: ${agent.host}`, `Origin: ${agent.origin}`,
			'Connection: Upgrade, HTTP2-Settings', 'Upgrade: h2c', 'HTTP2-Settings: AAMAAABkAAQAAP__', '', ''].join('\r\n'));
		assert.equal(r.status, 400, `${p}: ${r.head.split('\r\n')[0]}`);
		r.socket.destroy();
	}
});

test('api/security/one-letter-header-does-not-stall: answered or closed within 4 s, not held 10 s', T, async (t) => {
	const { agent } = await setup(t, { tokens: [] });
	const ws = rawRequest(agent.port, handshake(agent, { origin: agent.origin, extra: ['X: 1'] }), { timeoutMs: 12000 });
	const get = rawRequest(agent.port, `GET /sdk/ukey.js HTTP/1.1\r\nHost: ${agent.host}\r\nX: 1\r\n\r\n`, { timeoutMs: 12000 });
	for (const r of await Promise.all([ws, get])) {
		const ms = await within(r.closed, 12000);
		assert.ok(ms !== null && ms < 4000, `closed after ${ms} ms`);
	}
	const page = await agent.page();
	assert.equal((await page.request('agent.info')).name, 'ukeyd');
});

// ---------------------------------------------------------------- 8. static files and CORS

test('api/security/static-files-not-cross-origin: no Access-Control-Allow-Origin, the SDK only for allowed origins', T, async (t) => {
	const { sb, agent } = await setup(t, { tokens: [] });
	const portal = 'http://127.0.0.1:9001';
	assert.equal((await sb.ukey(['origin', 'add', portal])).code, 0);
	for (const p of ['/', '/index.html', '/app.js', '/i18n.js', '/style.css', '/sdk/ukey.js'])
		for (const origin of [undefined, 'https://evil.example', portal, agent.origin]) {
			const r = await agent.get(p, { headers: origin ? { Origin: origin } : {} });
			assert.equal(r.status, 200, `GET ${p}`);
			const acao = r.headers['access-control-allow-origin'];
			if (p === '/sdk/ukey.js' && (origin === portal || origin === agent.origin))
				assert.equal(acao, origin, `GET ${p} from ${origin}: the SDK for an allowed origin`);
			else
				assert.equal(acao, undefined, `GET ${p} from ${origin}: nothing cross-origin`);
		}
	assert.match((await agent.get('/sdk/ukey.js')).headers.vary ?? '', /Origin/i);
});
