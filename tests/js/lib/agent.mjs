// SPDX-License-Identifier: LGPL-2.1-or-later
// Shared harness for the ukeyd API tests: a private sandbox, SoftHSM2 tokens from mktoken, a running ukeyd, WebSocket clients, the ukey CLI.
//
// Every test makes its own Sandbox (a temp dir holding the SoftHSM2
// configuration and tokens, the state dir, the runtime dir, HOME and the XDG
// dirs) and its own ukeyd on a port the kernel picks; the sandbox's cleanup,
// registered with t.after(), stops every ukeyd it started (SIGTERM, then
// SIGKILL) and removes the dir, whether the test passed or not. Nothing here
// reads or writes the user's real state, as in tests/integration/lib.sh.
//
// Environment (set by tests/js/CMakeLists.txt): UKEYD_BIN, UKEY_BIN,
// UKEY_MKTOKEN, UKEY_SOFTHSM_MODULE, UKEY_COUNTING_MODULE. UKEY_JS_KEEP=1
// keeps the sandboxes for a look afterwards.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';

export const PIN = '123456'; // mktoken's default user PIN
export const WRONG = '000000';
export const MAX_TRIES = 10; // R-P1

const AGENT_START_MS = 15000;
const AGENT_STOP_MS = 5000;
const CALL_TIMEOUT_MS = 10000;

let cachedConfig;

// The programs under test, checked once; a missing one fails the test with a message saying what to do.
export function config() {
	if (cachedConfig)
		return cachedConfig;
	const vars = ['UKEYD_BIN', 'UKEY_BIN', 'UKEY_MKTOKEN', 'UKEY_SOFTHSM_MODULE', 'UKEY_COUNTING_MODULE'];
	const missing = vars.filter((v) => !process.env[v]);
	if (missing.length)
		throw new Error(`SETUP ERROR: ${missing.join(', ')} not set: run these tests through ctest (ctest -R '^api/')`);
	for (const v of ['UKEYD_BIN', 'UKEY_BIN', 'UKEY_MKTOKEN'])
		try {
			fs.accessSync(process.env[v], fs.constants.X_OK);
		} catch {
			throw new Error(`SETUP ERROR: ${v}=${process.env[v]} is not an executable: build first (make)`);
		}
	for (const v of ['UKEY_SOFTHSM_MODULE', 'UKEY_COUNTING_MODULE'])
		try {
			fs.accessSync(process.env[v], fs.constants.R_OK);
		} catch {
			throw new Error(`SETUP ERROR: ${v}=${process.env[v]} is not readable (install softhsm2; build first)`);
		}
	cachedConfig = {
		ukeyd: process.env.UKEYD_BIN,
		ukey: process.env.UKEY_BIN,
		mktoken: process.env.UKEY_MKTOKEN,
		softhsm: process.env.UKEY_SOFTHSM_MODULE,
		counting: process.env.UKEY_COUNTING_MODULE,
	};
	return cachedConfig;
}

// Children still running when node exits (a test crashed past its cleanup) are killed, never left behind.
const live = new Set();
process.on('exit', () => {
	for (const child of live)
		try {
			child.kill('SIGKILL');
		} catch {
			/* already gone */
		}
});

export function sleep(ms) {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

// The promise's value, or null when it has not settled within ms (the timer never keeps node alive).
export async function within(promise, ms) {
	let timer;
	const timeout = new Promise((resolve) => {
		timer = setTimeout(() => resolve(null), ms);
	});
	try {
		return await Promise.race([promise, timeout]);
	} finally {
		clearTimeout(timer);
	}
}

// Polls fn until it returns a truthy value (returned) or timeoutMs passes (then throws with what).
export async function until(fn, what, timeoutMs = 5000, stepMs = 50) {
	const end = Date.now() + timeoutMs;
	for (;;) {
		const v = await fn();
		if (v)
			return v;
		if (Date.now() > end)
			throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
		await sleep(stepMs);
	}
}

// Runs a program to its end; resolves {code, signal, stdout, stderr} (never rejects on a non-zero exit).
export function run(cmd, args, { env, input, timeoutMs = 30000 } = {}) {
	return new Promise((resolve, reject) => {
		const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
		let stdout = '', stderr = '';
		// Decode as UTF-8 across chunk boundaries: a Chinese character may be split between two reads.
		child.stdout.setEncoding('utf8');
		child.stderr.setEncoding('utf8');
		live.add(child);
		const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
		child.stdout.on('data', (d) => (stdout += d));
		child.stderr.on('data', (d) => (stderr += d));
		child.on('error', (e) => {
			clearTimeout(timer);
			live.delete(child);
			reject(e);
		});
		child.on('close', (code, signal) => {
			clearTimeout(timer);
			live.delete(child);
			resolve({ code, signal, stdout, stderr });
		});
		child.stdin.on('error', () => {}); // the program may exit without reading its input
		child.stdin.end(input ?? '');
	});
}

// Sanitizer reports in a program's output (the suite also runs against -DUKEY_SANITIZE=ON builds).
export function sanitizerReport(text) {
	const m = /(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|WARNING: AddressSanitizer|ERROR: UndefinedBehaviorSanitizer)/.exec(text);
	return m ? text.slice(Math.max(0, m.index - 200), m.index + 4000) : null;
}

// ---------------------------------------------------------------- token templates
//
// mktoken makes RSA keys, which is the slow part of a test. A set of tokens
// made once per test file is kept as a template and copied into each sandbox
// that asks for the same set: the copy is a private SoftHSM2 token dir of its
// own (only the serials repeat across tests, and each test has its own state).

const templates = new Map();
let templateRoot;

function templateDir() {
	if (!templateRoot) {
		templateRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'ukey-js-templates.'));
		if (!process.env.UKEY_JS_KEEP)
			process.on('exit', () => fs.rmSync(templateRoot, { recursive: true, force: true }));
	}
	return templateRoot;
}

function softhsmConf(fixture) {
	return [
		'# SoftHSM2 configuration for the ukey API tests (as mktoken writes it).',
		`directories.tokendir = ${fixture}/tokens`,
		'objectstore.backend = file',
		'log.level = ERROR',
		'',
	].join('\n');
}

async function mktokenInto(fixture, args, env) {
	const cfg = config();
	const r = await run(cfg.mktoken, [...args, fixture], {
		env: { ...env, SOFTHSM2_CONF: path.join(fixture, 'softhsm2.conf'), UKEY_SOFTHSM_MODULE: cfg.softhsm },
		timeoutMs: 60000,
	});
	const serial = r.stdout.trim();
	if (r.code !== 0 || !/^[0-9a-f]{16}$/.test(serial))
		throw new Error(`SETUP ERROR: mktoken ${args.join(' ')} failed (exit ${r.code}): ${r.stderr}${r.stdout}`);
	return serial;
}

// ---------------------------------------------------------------- sandbox

export class Sandbox {
	// Sandbox.create(t): a new sandbox whose cleanup runs after the test t, pass or fail.
	static async create(t) {
		const sb = new Sandbox();
		t.after(() => sb.cleanup());
		return sb;
	}

	constructor() {
		const cfg = config();
		this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'ukey-js.'));
		this.fixture = path.join(this.root, 'fixture'); // mktoken's DIR
		this.state = path.join(this.root, 'state'); // --state-dir of ukey and ukeyd
		this.runtime = path.join(this.root, 'run'); // ukeyd --runtime-dir: left for ukeyd to make (0700)
		this.countFile = path.join(this.root, 'count'); // the counting wrapper: one line per C_Login
		this.module = cfg.softhsm;
		this.agents = [];
		for (const d of ['home', 'config', 'xdg-state', 'cache', 'data', 'tmp', 'fixture/tokens'])
			fs.mkdirSync(path.join(this.root, d), { recursive: true });
		fs.mkdirSync(path.join(this.root, 'xdg-runtime'), { mode: 0o700 });
		fs.writeFileSync(path.join(this.fixture, 'softhsm2.conf'), softhsmConf(this.fixture));
	}

	// The environment of every child: nothing from the caller may steer it to real tokens or real state.
	env(extra = {}) {
		const env = {};
		for (const [k, v] of Object.entries(process.env))
			if (!/^(UKEY_|XDG_|SOFTHSM2_CONF$|HOME$|TMPDIR$|LANG|LC_)/.test(k))
				env[k] = v;
		Object.assign(env, {
			HOME: path.join(this.root, 'home'),
			XDG_CONFIG_HOME: path.join(this.root, 'config'),
			XDG_STATE_HOME: path.join(this.root, 'xdg-state'),
			XDG_CACHE_HOME: path.join(this.root, 'cache'),
			XDG_DATA_HOME: path.join(this.root, 'data'),
			XDG_RUNTIME_DIR: path.join(this.root, 'xdg-runtime'),
			TMPDIR: path.join(this.root, 'tmp'),
			LC_ALL: 'C.UTF-8',
			LANGUAGE: '',
			SOFTHSM2_CONF: path.join(this.fixture, 'softhsm2.conf'),
		});
		if (this.module === config().counting)
			Object.assign(env, { UKEY_COUNT_REAL: config().softhsm, UKEY_COUNT_FILE: this.countFile });
		return Object.assign(env, extra);
	}

	// From now on ukey and ukeyd talk to SoftHSM2 through the counting wrapper (as lib.sh's use_counting).
	useCounting() {
		this.module = config().counting;
	}

	// How many C_Login calls reached the module so far (counting wrapper only).
	logins() {
		try {
			return fs.readFileSync(this.countFile, 'utf8').split('\n').filter((l) => l.startsWith('login ')).length;
		} catch (e) {
			if (e.code === 'ENOENT')
				return 0;
			throw e;
		}
	}

	// mktoken ARGS into this sandbox's SoftHSM2 (now, even while ukeyd runs); resolves the serial.
	async mktoken(...args) {
		return mktokenInto(this.fixture, args, this.env());
	}

	// mktoken ARGS aside: the token is made in a staging SoftHSM2 dir of this sandbox (with the same
	// demo CA), which neither ukey nor ukeyd see, and waits there as if pulled; plugIn(serial) then
	// moves it into the tokendir in one rename, so it arrives with all its objects, as a real key
	// does (mktoken() makes the token visible before it writes the key and certificate). Resolves the serial.
	async mktokenAside(...args) {
		const staging = path.join(this.root, 'staging');
		if (!fs.existsSync(staging)) {
			fs.mkdirSync(path.join(staging, 'tokens'), { recursive: true });
			fs.writeFileSync(path.join(staging, 'softhsm2.conf'), softhsmConf(staging));
			if (fs.existsSync(path.join(this.fixture, 'ca')))
				fs.cpSync(path.join(this.fixture, 'ca'), path.join(staging, 'ca'), { recursive: true });
		}
		const serial = await mktokenInto(staging, args, this.env());
		const tail = `-${serial.slice(0, 4)}-${serial.slice(4)}`;
		const [dir] = fs.readdirSync(path.join(staging, 'tokens')).filter((d) => d.endsWith(tail));
		if (!dir)
			throw new Error(`mktoken made no token directory for serial ${serial}`);
		fs.renameSync(path.join(staging, 'tokens', dir), path.join(this.root, `pulled-${serial}`));
		(this.pulled ??= new Map()).set(serial, path.join(this.fixture, 'tokens', dir));
		fs.mkdirSync(path.join(this.fixture, 'certs'), { recursive: true });
		for (const f of fs.readdirSync(path.join(staging, 'certs')).filter((f) => f.startsWith(serial)))
			fs.copyFileSync(path.join(staging, 'certs', f), path.join(this.fixture, 'certs', f));
		return serial;
	}

	// tokens([args], [args], ...): a fresh sandbox gets these tokens, copied from a per-file template.
	async tokens(...specs) {
		if (fs.readdirSync(path.join(this.fixture, 'tokens')).length)
			throw new Error('tokens() is for a sandbox without tokens yet: use mktoken()');
		const key = JSON.stringify(specs);
		if (!templates.has(key)) {
			const build = (async () => {
				const dir = fs.mkdtempSync(path.join(templateDir(), 'fixture.'));
				const env = { ...this.env(), SOFTHSM2_CONF: path.join(dir, 'softhsm2.conf') };
				const serials = [];
				for (const args of specs)
					serials.push(await mktokenInto(dir, args, env));
				return { dir, serials };
			})();
			templates.set(key, build);
			build.catch(() => templates.delete(key));
		}
		const { dir, serials } = await templates.get(key);
		for (const sub of ['tokens', 'certs', 'ca'])
			fs.cpSync(path.join(dir, sub), path.join(this.fixture, sub), { recursive: true });
		fs.writeFileSync(path.join(this.fixture, 'softhsm2.conf'), softhsmConf(this.fixture));
		return serials;
	}

	// SoftHSM2's directory of a token: its UUID name ends in the serial (see tests/integration/badinput.sh).
	tokenDir(serial) {
		const tail = `-${serial.slice(0, 4)}-${serial.slice(4)}`;
		const dirs = fs.readdirSync(path.join(this.fixture, 'tokens')).filter((d) => d.endsWith(tail));
		if (dirs.length !== 1)
			throw new Error(`no single token directory for serial ${serial}: ${dirs}`);
		return path.join(this.fixture, 'tokens', dirs[0]);
	}

	// "Pulls" a token: moves its directory out of SoftHSM2's tokendir.
	pull(serial) {
		const from = this.tokenDir(serial);
		const to = path.join(this.root, `pulled-${serial}`);
		fs.renameSync(from, to);
		(this.pulled ??= new Map()).set(serial, from);
		return to;
	}

	// Plugs a pulled token back in: its directory returns to the tokendir.
	plugIn(serial) {
		fs.renameSync(path.join(this.root, `pulled-${serial}`), this.pulled.get(serial));
	}

	// The certificate mktoken wrote for a token (id: the CKA_ID of an --extra-cert).
	certPem(serial, id) {
		return fs.readFileSync(path.join(this.fixture, 'certs', id ? `${serial}-${id}.pem` : `${serial}.pem`), 'utf8');
	}

	// `ukey ARGS` with this sandbox's module and state dir; input goes to stdin. Resolves {code, stdout, stderr, json}.
	async ukey(args, { input, env } = {}) {
		const r = await run(config().ukey, ['--module', this.module, '--state-dir', this.state, ...args], {
			env: this.env(env),
			input,
		});
		try {
			r.json = JSON.parse(r.stdout);
		} catch {
			r.json = undefined;
		}
		const report = sanitizerReport(r.stderr);
		if (report)
			throw new Error(`sanitizer report from ukey ${args.join(' ')}:\n${report}`);
		return r;
	}

	// `ukey --json pin status [--token TOKEN]` (TOKEN: a serial or label): the PIN state the CLI reads
	// from this sandbox's state dir. Resolves the parsed JSON; throws when the CLI failed.
	async pinStatus(token) {
		const r = await this.ukey(['--json', 'pin', 'status', ...(token ? ['--token', token] : [])]);
		if (r.code !== 0 || !r.json)
			throw new Error(`ukey pin status failed (exit ${r.code}): ${r.stderr}${r.stdout}`);
		return r.json;
	}

	// Starts ukeyd on a free loopback port with this sandbox's module, state dir and runtime dir.
	async startAgent({ env = {}, args = [] } = {}) {
		const agent = new Agent(this, env, args);
		this.agents.push(agent);
		await agent.started;
		return agent;
	}

	// Stops every ukeyd, checks each stopped cleanly (no sanitizer report), removes the sandbox.
	async cleanup() {
		const problems = [];
		for (const a of this.agents)
			problems.push(...(await a.stop()).problems);
		if (!process.env.UKEY_JS_KEEP)
			fs.rmSync(this.root, { recursive: true, force: true });
		else
			process.stderr.write(`# kept sandbox ${this.root}\n`);
		if (problems.length)
			throw new Error(`ukeyd did not stop cleanly:\n${problems.join('\n')}`);
	}
}

// ---------------------------------------------------------------- ukeyd

export class Agent {
	constructor(sb, env, args) {
		const cfg = config();
		this.sb = sb;
		this.stdout = '';
		this.stderr = '';
		this.exited = false;
		this.port = 0;
		this.tokenPath = path.join(sb.runtime, 'api-token');
		this.proc = spawn(
			cfg.ukeyd,
			['--port', '0', '--module', sb.module, '--state-dir', sb.state, '--runtime-dir', sb.runtime, ...args],
			{ env: sb.env({ UKEY_POLL_MS: '200', ...env }), stdio: ['ignore', 'pipe', 'pipe'] },
		);
		live.add(this.proc);
		this.exit = new Promise((resolve) => {
			this.proc.on('exit', (code, signal) => {
				this.exited = true;
				live.delete(this.proc);
				resolve({ code, signal });
			});
		});
		this.proc.stderr.on('data', (d) => (this.stderr += d));
		this.started = new Promise((resolve, reject) => {
			const timer = setTimeout(() => {
				reject(new Error(`ukeyd did not print its port within ${AGENT_START_MS} ms; stderr:\n${this.stderr}`));
			}, AGENT_START_MS);
			this.proc.stdout.on('data', (d) => {
				this.stdout += d;
				const m = /listening on http:\/\/127\.0\.0\.1:(\d+)\//.exec(this.stdout.split('\n')[0]);
				if (m && !this.port) {
					this.port = Number(m[1]);
					clearTimeout(timer);
					resolve(this);
				}
			});
			this.proc.on('error', (e) => {
				clearTimeout(timer);
				reject(e);
			});
			this.exit.then(({ code, signal }) => {
				clearTimeout(timer);
				if (!this.port)
					reject(new Error(`ukeyd exited (${code ?? signal}) before listening; stderr:\n${this.stderr}`));
			});
		});
	}

	get pid() {
		return this.proc.pid;
	}

	// The agent's own page origin.
	get origin() {
		return `http://127.0.0.1:${this.port}`;
	}

	get host() {
		return `127.0.0.1:${this.port}`;
	}

	// The API token local programs present (the file ukeyd wrote at start).
	apiToken() {
		return fs.readFileSync(this.tokenPath, 'utf8');
	}

	// The first line ukeyd logged on stderr that matches re, already or within timeoutMs (else throws).
	logged(re, timeoutMs = 5000) {
		return until(() => this.stderr.split('\n').find((l) => re.test(l)), `ukeyd to log ${re}`, timeoutMs);
	}

	// SIGTERM, then SIGKILL after a timeout. Resolves {code, signal, problems}: problems is empty after a clean stop.
	async stop(timeoutMs = AGENT_STOP_MS) {
		if (this.stopped)
			return this.stopped;
		this.stopped = (async () => {
			const problems = [];
			if (!this.exited)
				this.proc.kill('SIGTERM');
			let timer;
			const killed = new Promise((resolve) => {
				timer = setTimeout(() => {
					if (!this.exited) {
						problems.push(`ukeyd (pid ${this.pid}) still ran ${timeoutMs} ms after SIGTERM: killed`);
						this.proc.kill('SIGKILL');
					}
					resolve();
				}, timeoutMs);
			});
			await Promise.race([this.exit, killed]);
			const { code, signal } = await this.exit;
			clearTimeout(timer);
			if (code !== 0 && !problems.length)
				problems.push(`ukeyd exited with ${code ?? signal} after SIGTERM`);
			const report = sanitizerReport(this.stderr);
			if (report)
				problems.push(`sanitizer report from ukeyd:\n${report}`);
			if (problems.length)
				problems.push(`ukeyd stderr (last 3000 characters):\n${this.stderr.slice(-3000)}`);
			return { code, signal, problems };
		})();
		return this.stopped;
	}

	// A WebSocket handshake at /api. opts: origin (the Origin header), token (Authorization: Bearer),
	// host (the Host header), path, headers, protocol. Resolves a Client, or rejects with err.status on refusal.
	connect(opts = {}) {
		const headers = { Host: opts.host ?? this.host, ...(opts.headers ?? {}) };
		if (opts.origin !== undefined)
			headers.Origin = opts.origin;
		if (opts.token !== undefined)
			headers.Authorization = `Bearer ${opts.token}`;
		const url = `ws://${opts.address ?? '127.0.0.1'}:${this.port}${opts.path ?? '/api'}`;
		return Client.open(url, { headers, protocol: opts.protocol ?? 'ukey.v1' });
	}

	// As a web page of the agent's own origin (or another origin).
	page(origin = this.origin, opts = {}) {
		return this.connect({ ...opts, origin });
	}

	// As a local program: no Origin, the API token from the runtime dir.
	local(opts = {}) {
		return this.connect({ ...opts, token: this.apiToken() });
	}

	// The HTTP status of a handshake that must be refused (throws if it opened).
	async refusal(opts = {}) {
		let client;
		try {
			client = await this.connect(opts);
		} catch (e) {
			if (e.status)
				return e.status;
			throw e;
		}
		client.close();
		throw new Error(`handshake ${JSON.stringify(opts)} was accepted, expected a refusal`);
	}

	// A plain HTTP GET; resolves {status, headers, body}.
	get(urlPath, { host, headers = {} } = {}) {
		return new Promise((resolve, reject) => {
			const req = http.request(
				{ host: '127.0.0.1', port: this.port, path: urlPath, method: 'GET', agent: false,
				  headers: { Host: host ?? this.host, ...headers } },
				(res) => {
					let body = '';
					res.setEncoding('utf8');
					res.on('data', (d) => (body += d));
					res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
					res.on('error', reject);
				},
			);
			req.setTimeout(CALL_TIMEOUT_MS, () => req.destroy(new Error(`GET ${urlPath}: no answer`)));
			req.on('error', reject);
			req.end();
		});
	}
}

// ---------------------------------------------------------------- JSON-RPC client

export class RpcError extends Error {
	constructor(method, error) {
		super(`${method}: ${error.code} ${error.data?.id}: ${error.message}`);
		this.code = error.code;
		this.data = error.data;
		this.rpc = error;
	}
}

export class Client {
	// Opens a WebSocket. Listeners are in place before the handshake ends, so no early notification is lost.
	static open(url, { headers, protocol }) {
		return new Promise((resolve, reject) => {
			const ws = new WebSocket(url, protocol ? [protocol] : [], {
				headers,
				handshakeTimeout: CALL_TIMEOUT_MS,
				perMessageDeflate: false,
				maxPayload: 64 * 1024 * 1024,
			});
			const client = new Client(ws);
			ws.once('unexpected-response', (req, res) => {
				const err = new Error(`handshake refused: HTTP ${res.statusCode}`);
				err.status = res.statusCode;
				res.resume();
				req.destroy();
				reject(err);
			});
			ws.once('open', () => resolve(client));
			ws.on('error', (e) => reject(e));
		});
	}

	constructor(ws) {
		this.ws = ws;
		this.nextId = 1;
		this.messages = []; // every message received, parsed (or {unparsed: text})
		this.waiters = new Set();
		this.closeInfo = null;
		this.closed = new Promise((resolve) => {
			ws.on('close', (code, reason) => {
				this.closeInfo = { code, reason: reason.toString() };
				for (const w of this.waiters)
					w.check();
				resolve(this.closeInfo);
			});
		});
		ws.on('message', (data, isBinary) => {
			let m;
			try {
				m = JSON.parse(data.toString());
			} catch {
				m = { unparsed: data.toString(), binary: isBinary };
			}
			this.messages.push(m);
			for (const w of this.waiters)
				w.check();
		});
	}

	get open() {
		return this.ws.readyState === WebSocket.OPEN;
	}

	// Notifications received so far (optionally of one method).
	notifications(method) {
		return this.messages.filter((m) => m.method && !('id' in m) && (!method || m.method === method));
	}

	// Resolves the first message (already received or to come) for which pred is true.
	waitFor(pred, what, timeoutMs = CALL_TIMEOUT_MS) {
		return new Promise((resolve, reject) => {
			const w = {
				check: () => {
					const m = this.messages.find(pred);
					if (m) {
						done();
						resolve(m);
					} else if (this.closeInfo) {
						done();
						reject(new Error(`connection closed (${this.closeInfo.code}) while waiting for ${what}`));
					}
				},
			};
			const timer = setTimeout(() => {
				done();
				reject(new Error(`no ${what} within ${timeoutMs} ms`));
			}, timeoutMs);
			const done = () => {
				clearTimeout(timer);
				this.waiters.delete(w);
			};
			this.waiters.add(w);
			w.check();
		});
	}

	// Waits for a notification of a method whose params satisfy pred.
	notification(method, pred = () => true, timeoutMs = CALL_TIMEOUT_MS) {
		return this.waitFor((m) => m.method === method && !('id' in m) && pred(m.params), `${method} notification`, timeoutMs);
	}

	// Sends a text frame as is (an object is sent as JSON).
	send(msg) {
		this.ws.send(typeof msg === 'string' || Buffer.isBuffer(msg) ? msg : JSON.stringify(msg));
	}

	// Sends a request and resolves the whole response ({result} or {error}) with that id.
	call(method, params, { id, timeoutMs } = {}) {
		id ??= this.nextId++;
		const req = { jsonrpc: '2.0', id, method };
		if (params !== undefined)
			req.params = params;
		this.send(req);
		return this.response(id, `response to ${method} (id ${JSON.stringify(id)})`, timeoutMs);
	}

	// The response with this id.
	response(id, what = `response id ${JSON.stringify(id)}`, timeoutMs) {
		return this.waitFor((m) => !m.method && m.id === id, what, timeoutMs);
	}

	// Sends a request; resolves its result, or rejects with an RpcError.
	async request(method, params, opts) {
		const r = await this.call(method, params, opts);
		if (r.error)
			throw new RpcError(method, r.error);
		return r.result;
	}

	// Sends a request that must fail; resolves the error object.
	async error(method, params, opts) {
		const r = await this.call(method, params, opts);
		if (!r.error)
			throw new Error(`${method} ${JSON.stringify(params)} succeeded, expected an error: ${JSON.stringify(r.result)}`);
		return r.error;
	}

	close() {
		if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)
			this.ws.close();
		return this.closed;
	}

	terminate() {
		this.ws.terminate();
		return this.closed;
	}
}

// ---------------------------------------------------------------- helpers for assertions

export function sha256(buf) {
	return crypto.createHash('sha256').update(buf).digest('hex');
}

// DER of the first certificate in a PEM text.
export function pemToDer(pem) {
	return new crypto.X509Certificate(pem).raw;
}

// Every file under a directory, recursively, with its content.
export function filesUnder(dir) {
	const out = [];
	const walk = (d) => {
		for (const e of fs.readdirSync(d, { withFileTypes: true })) {
			const p = path.join(d, e.name);
			if (e.isDirectory())
				walk(p);
			else if (e.isFile())
				out.push({ path: p, data: fs.readFileSync(p) });
		}
	};
	if (fs.existsSync(dir))
		walk(dir);
	return out;
}

// ---------------------------------------------------------------- the reference CA

// startRefCa(t, sb, args): the reference CA (tests/ca, ukey-refca; UKEY_REFCA_BIN) made in the sandbox and
// serving on a free loopback port, stopped after the test t. mktoken --refca finds ukey-refca on PATH.
// Resolves {dir, port, url (the EST base), trust (its ca.pem)}.
export async function startRefCa(t, sb, args = ['--autopay']) {
	const refca = process.env.UKEY_REFCA_BIN;
	if (!refca)
		throw new Error('SETUP ERROR: UKEY_REFCA_BIN is not set (run through ctest)');
	process.env.PATH = `${path.dirname(refca)}:${process.env.PATH}`;
	const dir = path.join(sb.root, 'ca');
	const init = await run(refca, ['init', dir]);
	if (init.code !== 0)
		throw new Error(`SETUP ERROR: ukey-refca init: ${init.stderr}`);
	const ca = spawn(refca, ['serve', dir, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
	let out = '';
	ca.stdout.on('data', (d) => (out += d));
	t.after(() => ca.kill('SIGTERM'));
	const port = await until(() => /listening on https:\/\/127\.0\.0\.1:(\d+)\//.exec(out)?.[1], 'the CA to listen', 10000);
	return { dir, port: Number(port), url: `https://127.0.0.1:${port}/.well-known/est`, trust: path.join(dir, 'ca.pem') };
}
