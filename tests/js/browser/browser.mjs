// SPDX-License-Identifier: LGPL-2.1-or-later
// Shared harness for the browser tests: Debian's Chromium driven by playwright-core, a record of
// everything a page does on the network and in its console, screenshots, a tiny static web server.
//
// Every case runs in a browser of its own (chromium.launch: a fresh temporary profile each time),
// with HOME and the XDG dirs of its Sandbox, so nothing of the user's real profile is read or
// written. Each browser gets a "catcher" as its proxy: Chromium sends loopback traffic directly
// (its implicit bypass) and everything else to the catcher, which refuses it and records it, so
// "no request leaves 127.0.0.1" covers Chromium's own traffic too, not only the page's.
//
// Environment (set by tests/js/CMakeLists.txt): UKEY_CHROMIUM (default /usr/bin/chromium),
// UKEY_BROWSER_ARTIFACTS (where screenshots go; default tests/js/artifacts).

import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const JS_DIR = path.resolve(HERE, '..');
export const SOURCE_DIR = path.resolve(JS_DIR, '..', '..');
export const WEB_DIR = path.join(SOURCE_DIR, 'agent', 'web');
export const PORTAL_DIR = path.join(WEB_DIR, 'example-portal');

export const ARTIFACTS = process.env.UKEY_BROWSER_ARTIFACTS || path.join(JS_DIR, 'artifacts');

// What the issue asks for: Debian's chromium, headless, nothing of Google's services.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
	'--disable-component-update', '--disable-sync', '--disable-quic'];

// UI waits: long enough for a slow CI machine, short enough to keep each file well under 60 s.
export const UI_MS = 10000;

let cachedChromium;

// playwright-core's chromium, and the Chromium executable; a missing one FAILS the test saying what to install.
export async function chromium() {
	if (cachedChromium)
		return cachedChromium;
	const exe = process.env.UKEY_CHROMIUM || '/usr/bin/chromium';
	try {
		fs.accessSync(exe, fs.constants.X_OK);
	} catch {
		throw new Error(`SETUP ERROR: Chromium not found at ${exe}: install Debian's chromium (apt-get install chromium), then re-run cmake`);
	}
	let pw;
	try {
		pw = await import('playwright-core');
	} catch (e) {
		throw new Error(`SETUP ERROR: playwright-core cannot be loaded (${e.message}): run 'npm ci' in ${JS_DIR}`);
	}
	cachedChromium = { exe, type: pw.chromium ?? pw.default?.chromium };
	return cachedChromium;
}

// ---------------------------------------------------------------- the catcher (proxy for everything not on loopback)

async function startCatcher() {
	const caught = [];
	const server = http.createServer((req, res) => {
		caught.push(`${req.method} ${req.url}`);
		res.writeHead(502, { 'content-type': 'text/plain' });
		res.end('blocked by the ukey browser tests: this request would have left 127.0.0.1\n');
	});
	server.on('connect', (req, socket) => {
		caught.push(`CONNECT ${req.url}`);
		socket.on('error', () => {});
		socket.end('HTTP/1.1 502 Blocked\r\ncontent-length: 0\r\n\r\n');
	});
	server.on('upgrade', (req, socket) => {
		caught.push(`UPGRADE ${req.url}`);
		socket.on('error', () => {});
		socket.destroy();
	});
	await new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(0, '127.0.0.1', resolve);
	});
	return { caught, port: server.address().port, close: () => closeServer(server) };
}

function closeServer(server) {
	server.closeAllConnections?.();
	return new Promise((resolve) => server.close(() => resolve()));
}

// ---------------------------------------------------------------- a tiny static web server (the portal's origin)

const TYPES = {
	'.html': 'text/html; charset=utf-8',
	'.js': 'text/javascript; charset=utf-8',
	'.mjs': 'text/javascript; charset=utf-8',
	'.css': 'text/css; charset=utf-8',
	'.json': 'application/json',
	'.png': 'image/png',
	'.svg': 'image/svg+xml',
};

// Serves dir on http://127.0.0.1:<a free port>/ (GET and HEAD only, nothing outside dir); closed after the test t.
export async function serveStatic(t, dir) {
	const root = fs.realpathSync(dir);
	const requests = [];
	const server = http.createServer((req, res) => {
		requests.push(`${req.method} ${req.url}`);
		if (req.method !== 'GET' && req.method !== 'HEAD') {
			res.writeHead(405).end();
			return;
		}
		let rel;
		try {
			rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);
		} catch {
			res.writeHead(400).end();
			return;
		}
		if (rel.endsWith('/'))
			rel += 'index.html';
		const file = path.join(root, path.normalize(rel));
		let real;
		try {
			real = fs.realpathSync(file);
		} catch {
			real = null;
		}
		if (!real || !real.startsWith(root + path.sep) || !fs.statSync(real).isFile()) {
			res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
			return;
		}
		const body = fs.readFileSync(real);
		res.writeHead(200, {
			'content-type': TYPES[path.extname(real)] ?? 'application/octet-stream',
			'content-length': body.length,
			'cache-control': 'no-store',
		});
		res.end(req.method === 'HEAD' ? undefined : body);
	});
	await new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(0, '127.0.0.1', resolve);
	});
	const port = server.address().port;
	const site = { port, origin: `http://127.0.0.1:${port}`, requests, close: () => closeServer(server) };
	t.after(() => site.close());
	return site;
}

// A loopback port that nothing listens on (for a "foreign" origin that must not matter).
export async function freePort() {
	const s = net.createServer();
	await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve));
	const { port } = s.address();
	await new Promise((resolve) => s.close(resolve));
	return port;
}

// ---------------------------------------------------------------- a browser session

// Records, in the page before any of its scripts run, what each WebSocket the page makes goes through
// (open, error, close and its code), so a test can tell "never opened" from the page's own view.
function watchSocketsScript() {
	const Native = window.WebSocket;
	const log = [];
	Object.defineProperty(window, '__ukeySockets', { value: log });
	class Watched extends Native {
		constructor(...args) {
			super(...args);
			const rec = { url: String(args[0]), events: [] };
			log.push(rec);
			this.addEventListener('open', () => rec.events.push('open'));
			this.addEventListener('error', () => rec.events.push('error'));
			this.addEventListener('close', (e) => rec.events.push(`close ${e.code}`));
		}
	}
	window.WebSocket = Watched;
}

export class Session {
	constructor(name) {
		this.name = name;
		this.requests = []; // every request a page of the context made: {url, type, method}
		this.failed = []; // requests that failed: {url, error}
		this.sockets = []; // {url, sent: [], received: [], errors: [], closed}
		this.console = []; // {type, text, location}
		this.pageErrors = []; // uncaught exceptions
		this.shots = [];
	}

	// Launches Chromium for one test case. opts: locale, env (Chromium's environment), watchSockets.
	static async open(name, { locale = 'en-US', env, watchSockets = false } = {}) {
		const s = new Session(name);
		const { exe, type } = await chromium();
		s.catcher = await startCatcher();
		s.browser = await type.launch({
			executablePath: exe,
			args: [...CHROMIUM_ARGS, `--proxy-server=http://127.0.0.1:${s.catcher.port}`],
			headless: true,
			env,
			timeout: 30000,
		});
		s.context = await s.browser.newContext({ locale, viewport: { width: 1280, height: 800 }, serviceWorkers: 'block' });
		if (watchSockets)
			await s.context.addInitScript(watchSocketsScript);
		s.context.on('request', (r) => s.requests.push({ url: r.url(), type: r.resourceType(), method: r.method() }));
		s.context.on('requestfailed', (r) => s.failed.push({ url: r.url(), error: r.failure()?.errorText }));
		s.page = await s.context.newPage();
		s.watch(s.page);
		s.context.on('page', (p) => p !== s.page && s.watch(p));
		return s;
	}

	watch(page) {
		page.on('console', (m) => this.console.push({ type: m.type(), text: m.text(), location: m.location() }));
		page.on('pageerror', (e) => this.pageErrors.push(String(e?.stack ?? e)));
		page.on('websocket', (ws) => {
			const rec = { url: ws.url(), sent: [], received: [], errors: [], closed: false };
			this.sockets.push(rec);
			ws.on('framesent', (f) => rec.sent.push(String(f.payload)));
			ws.on('framereceived', (f) => rec.received.push(String(f.payload)));
			ws.on('socketerror', (e) => rec.errors.push(String(e)));
			ws.on('close', () => (rec.closed = true));
		});
	}

	// Console messages of type error, and uncaught exceptions, as text.
	errors() {
		return [
			...this.console.filter((m) => m.type === 'error').map((m) => `console.error: ${m.text} (${m.location?.url ?? '?'})`),
			...this.pageErrors.map((e) => `uncaught: ${e}`),
		];
	}

	// Every URL the pages asked for: requests (documents, scripts, styles, fetches, …) and WebSockets.
	pageAddresses() {
		return [...this.requests.map((r) => r.url), ...this.sockets.map((w) => w.url)];
	}

	// The same, and what the catcher (the proxy for everything not on loopback) saw.
	everyAddress() {
		return [...this.pageAddresses(), ...this.catcher.caught.map((c) => `proxy: ${c}`)];
	}

	// What the catcher saw that is not Chromium's own traffic to Google's services. Debian's Chromium
	// still calls clients2.google.com (network time), update.googleapis.com, accounts.google.com and
	// content-autofill.googleapis.com with the flags above; those are the browser's, not the page's.
	caughtBeyondChromium() {
		return this.catcher.caught.filter((c) => {
			const m = /^(?:CONNECT ([^:\s]+):\d+|\S+ https?:\/\/([^/:\s]+))/.exec(c);
			const host = m && (m[1] ?? m[2]);
			return !host || !/(^|\.)(google\.com|googleapis\.com|gstatic\.com|gvt1\.com)$/.test(host);
		});
	}

	// Saves a full-page screenshot as ARTIFACTS/<session name>[-suffix].png; resolves the path.
	async shot(suffix = '') {
		fs.mkdirSync(ARTIFACTS, { recursive: true });
		const file = path.join(ARTIFACTS, `${this.name}${suffix ? `-${suffix}` : ''}.png`);
		await this.page.screenshot({ path: file, fullPage: true, animations: 'disabled', timeout: 10000 });
		this.shots.push(file);
		return file;
	}

	async close() {
		try {
			await this.browser?.close();
		} finally {
			await this.catcher?.close();
		}
	}
}

// Runs fn(session) in a fresh browser; whatever happens, the final state is saved as
// ARTIFACTS/<name>.png (a failure as <name>-FAILED.png, with what the page logged) and the browser closed.
export async function withBrowser(name, opts, fn) {
	// A screenshot left by an earlier run must not pass for this one's.
	for (const old of [`${name}.png`, `${name}-FAILED.png`])
		fs.rmSync(path.join(ARTIFACTS, old), { force: true });
	const s = await Session.open(name, opts);
	let failed = null;
	try {
		await fn(s);
	} catch (e) {
		failed = e;
	}
	try {
		const file = await s.shot(failed ? 'FAILED' : '');
		process.stderr.write(`# screenshot ${file}\n`);
	} catch (e) {
		process.stderr.write(`# no screenshot for ${name}: ${e.message}\n`);
	}
	if (failed) {
		process.stderr.write(`# ${name}: console:\n${s.console.map((m) => `#   ${m.type}: ${m.text}`).join('\n')}\n`);
		process.stderr.write(`# ${name}: addresses:\n${s.everyAddress().map((u) => `#   ${u}`).join('\n')}\n`);
	}
	await s.close();
	if (failed)
		throw failed;
	return s;
}

// The addresses among these that are not the loopback address 127.0.0.1 (ports: any of allowedPorts).
export function offLoopback(addresses, allowedPorts) {
	return addresses.filter((u) => {
		if (u.startsWith('data:') || u === 'about:blank')
			return false;
		try {
			const url = new URL(u);
			return url.hostname !== '127.0.0.1' || !allowedPorts.includes(Number(url.port));
		} catch {
			return true;
		}
	});
}
