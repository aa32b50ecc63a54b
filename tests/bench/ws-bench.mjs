// SPDX-License-Identifier: LGPL-2.1-or-later
// Benchmark of ukeyd's WebSocket API against a running agent: prints sign, token.list, idle and start-up figures.
//
// Usage (tests/bench/run starts the agent and calls this; see there):
//   node ws-bench.mjs --port PORT --api-token-file FILE --pin PIN [--pid PID]
//                     [--ukeyd BIN --module MODULE --tmp DIR] [--json-out FILE]
//                     [--renew-port PORT --renew-api-token-file FILE]
//
//   --port, --api-token-file  the running agent, as a local program reaches it (no Origin, Bearer token)
//   --pin                     the user PIN of the one key the agent sees (sent with every sign call, and
//                             once to session.open)
//   --pid                     the agent's process id: idle RSS, CPU and wakeups from /proc (skipped without it)
//   --renew-port, --renew-api-token-file
//                             a second agent whose one key (same PIN) is inside the renewal window and whose
//                             CA answers simplereenroll only after UKEY_BENCH_RENEW_DELAY_S (tests/ca/fault-ca
//                             --delay): token.list from one connection while renew.start waits on another
//                             (skipped without them)
//   --ukeyd, --module, --tmp  start further agents on the same module to time start-up (skipped without
//                             them); each gets fresh state and runtime dirs under DIR, and its pid is
//                             appended to DIR/pids so the caller can stop it if this script is killed
//   --json-out                write the final "json: {...}" line to FILE instead of stdout (for run,
//                             which prints one line combining it with bench-sign's figures)
//
// Environment (knobs; defaults are the full `make bench` run):
//   UKEY_BENCH_SIGN_COUNT   sign calls measured, one at a time (default 500; 10 warm-up calls first);
//                           as many pin.verify calls follow, to show what of a sign is login and logout
//   UKEY_BENCH_LIST_S       seconds of token.list per concurrency level (default 5; the first 10% warm up)
//   UKEY_BENCH_LEVELS       concurrent clients per level, comma-separated (default 1,10,100; at most 112,
//                           the agent's share of connections for local programs)
//   UKEY_BENCH_IDLE_S       idle period for RSS, CPU and wakeups, in seconds (default 60)
//   UKEY_BENCH_COMPARE_CLIENTS  clients for token.list next to agent.info, the same load (default 100)
//   UKEY_BENCH_RENEW_DELAY_S    how long the slow CA takes to answer, as run started it (default 20); the
//                           renew.start reply is waited for that long plus UKEY_BENCH_TIMEOUT_S
//   UKEY_BENCH_STARTS       agent starts timed; the median is printed (default 5)
//   UKEY_BENCH_TIMEOUT_S    one call, one connect or one start may take this long before the
//                           benchmark gives up as not runnable (default 30)
//
// Nothing here is asserted: the figures are printed, as aligned lines for a person and one final
// line "json: {...}" for scripts. The exit status is non-zero only when the benchmark cannot run
// (the agent does not start or answer, a call returns an error, a connection drops). A method the
// agent does not have yet (method-not-found, e.g. session.open before signing sessions) makes that
// figure "not available" (null in the json line) instead.
import { spawn, execFileSync } from "node:child_process";
import { appendFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import { performance } from "node:perf_hooks";

const require = createRequire(new URL("../js/package.json", import.meta.url));
const WebSocket = require("ws");

/* ---- settings ---- */

function parseArgs(argv) {
	const known = ["port", "api-token-file", "pin", "pid", "ukeyd", "module", "tmp", "json-out", "renew-port",
		"renew-api-token-file"];
	const out = {};
	for (let i = 0; i < argv.length; i++) {
		const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
		if (!m || !known.includes(m[1]))
			usage(`unknown argument "${argv[i]}"`);
		out[m[1]] = m[2] !== undefined ? m[2] : argv[++i];
		if (out[m[1]] === undefined)
			usage(`--${m[1]} wants a value`);
	}
	return out;
}

function usage(why) {
	process.stderr.write(`ws-bench: ${why}\n` +
		"usage: node ws-bench.mjs --port PORT --api-token-file FILE --pin PIN [--pid PID] " +
		"[--ukeyd BIN --module MODULE --tmp DIR] [--json-out FILE] " +
		"[--renew-port PORT --renew-api-token-file FILE]\n");
	process.exit(2);
}

function envNumber(name, def, { min = 0, integer = false } = {}) {
	const s = process.env[name];
	if (s === undefined || s === "")
		return def;
	const v = Number(s);
	if (!Number.isFinite(v) || v < min || (integer && !Number.isInteger(v)))
		usage(`${name}="${s}" is not a number >= ${min}${integer ? " (whole)" : ""}`);
	return v;
}

/* The agent's share of connections for local programs (PROTOCOL.md, "Who may connect"). */
const MAX_LOCAL_CLIENTS = 112;

const args = parseArgs(process.argv.slice(2));
if (!args.port || !args["api-token-file"] || !args.pin)
	usage("--port, --api-token-file and --pin are required");
const cfg = {
	port: Number(args.port),
	tokenFile: args["api-token-file"],
	pin: args.pin,
	pid: args.pid ? Number(args.pid) : null,
	signCount: envNumber("UKEY_BENCH_SIGN_COUNT", 500, { min: 1, integer: true }),
	listSeconds: envNumber("UKEY_BENCH_LIST_S", 5, { min: 0.1 }),
	levels: (process.env.UKEY_BENCH_LEVELS || "1,10,100").split(",").map((s) => {
		const n = Number(s.trim());
		if (!Number.isInteger(n) || n < 1 || n > MAX_LOCAL_CLIENTS)
			usage(`UKEY_BENCH_LEVELS: "${s}" is not a client count from 1 to ${MAX_LOCAL_CLIENTS}`);
		return n;
	}),
	idleSeconds: envNumber("UKEY_BENCH_IDLE_S", 60),
	compareClients: envNumber("UKEY_BENCH_COMPARE_CLIENTS", 100, { min: 1, integer: true }),
	renewDelaySeconds: envNumber("UKEY_BENCH_RENEW_DELAY_S", 20),
	starts: envNumber("UKEY_BENCH_STARTS", 5, { min: 1, integer: true }),
	timeoutMs: 1000 * envNumber("UKEY_BENCH_TIMEOUT_S", 30, { min: 1 }),
};
if (cfg.compareClients > MAX_LOCAL_CLIENTS)
	usage(`UKEY_BENCH_COMPARE_CLIENTS=${cfg.compareClients}: at most ${MAX_LOCAL_CLIENTS}, the agent's share of ` +
		"connections for local programs");
const SIGN_WARMUP = 10;
/* The same 32 bytes bench-sign.c signs: a 31-character string and its NUL. */
const SIGN_DATA = Buffer.from("ukey benchmark data to be signed\0", "latin1").toString("base64");

/* ---- small helpers ---- */

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function withTimeout(promise, ms, what) {
	let timer;
	return Promise.race([
		promise,
		new Promise((_, reject) => {
			timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
		}),
	]).finally(() => clearTimeout(timer));
}

/* Nearest-rank percentile of an ascending array. */
function pct(sorted, p) {
	if (sorted.length === 0)
		return NaN;
	return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function median(values) {
	return pct([...values].sort((a, b) => a - b), 50);
}

const r1 = (x) => Math.round(x * 10) / 10;
const r3 = (x) => Math.round(x * 1000) / 1000;
const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "-");
const line = (label, value) => console.log(`  ${label.padEnd(38)} ${value}`);

/* ---- a JSON-RPC client over one WebSocket ---- */

class Client {
	constructor(port, token) {
		this.port = port;
		this.token = token;
		this.nextId = 1;
		this.pending = new Map();
		this.notifications = 0;
		this.closedError = null;
	}

	/* Local program: no Origin, the API token as a Bearer credential, subprotocol ukey.v1. */
	open(timeoutMs) {
		return withTimeout(new Promise((resolve, reject) => {
			const ws = new WebSocket(`ws://127.0.0.1:${this.port}/api`, "ukey.v1", {
				headers: { Authorization: `Bearer ${this.token}` },
				perMessageDeflate: false,
			});
			this.ws = ws;
			ws.on("open", () => resolve(this));
			ws.on("unexpected-response", (_req, res) =>
				reject(new Error(`handshake refused: HTTP ${res.statusCode}`)));
			ws.on("error", (e) => {
				this.fail(e);
				reject(e);
			});
			ws.on("close", (code) => this.fail(new Error(`connection closed by the agent (code ${code})`)));
			ws.on("message", (data) => this.onMessage(data));
		}), timeoutMs, `connect to ws://127.0.0.1:${this.port}/api`);
	}

	fail(err) {
		if (this.closing)
			return;
		this.closedError = this.closedError || err;
		for (const p of this.pending.values())
			p.reject(this.closedError);
		this.pending.clear();
	}

	onMessage(data) {
		let msg;
		try {
			msg = JSON.parse(data.toString());
		} catch {
			this.fail(new Error("the agent sent a frame that is not JSON"));
			return;
		}
		if (msg.id === undefined || msg.id === null) {
			this.notifications++;
			if (this.onNotification)
				this.onNotification(msg);
			return;
		}
		const p = this.pending.get(msg.id);
		if (!p)
			return;
		this.pending.delete(msg.id);
		if (msg.error) {
			const d = msg.error.data || {};
			const err = new Error(`${p.method}: error ${msg.error.code} ${d.id || ""}: ${msg.error.message}`);
			err.rpcCode = msg.error.code;
			err.rpcId = d.id;
			p.reject(err);
		} else {
			p.resolve(msg.result);
		}
	}

	call(method, params, timeoutMs) {
		if (this.closedError)
			return Promise.reject(this.closedError);
		const id = this.nextId++;
		const promise = new Promise((resolve, reject) => {
			this.pending.set(id, { resolve, reject, method });
		});
		this.ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
		return withTimeout(promise, timeoutMs, method);
	}

	close() {
		this.closing = true;
		const ws = this.ws;
		if (!ws || ws.readyState === WebSocket.CLOSED)
			return Promise.resolve();
		return new Promise((resolve) => {
			const t = setTimeout(() => {
				ws.terminate();
				resolve();
			}, 2000);
			ws.once("close", () => {
				clearTimeout(t);
				resolve();
			});
			ws.close();
		});
	}
}

function readApiToken(file) {
	return readFileSync(file, "utf8").trim();
}

async function connect(port, tokenFile) {
	return new Client(port, readApiToken(tokenFile)).open(cfg.timeoutMs);
}

const METHOD_NOT_FOUND = -32601;

/* ---- /proc figures ---- */

let clkTck = 100;
try {
	clkTck = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
} catch {
	/* 100 is the value on every Linux port that matters here */
}

function procSample(pid) {
	let status, stat;
	try {
		status = readFileSync(`/proc/${pid}/status`, "utf8");
		stat = readFileSync(`/proc/${pid}/stat`, "utf8");
	} catch (e) {
		throw new Error(`the agent (pid ${pid}) is gone: ${e.code || e.message}`);
	}
	const kib = (key) => {
		const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status);
		return m ? Number(m[1]) : NaN;
	};
	const threads = /^Threads:\s+(\d+)/m.exec(status);
	/* Fields after the command name, which may itself hold spaces or parentheses. */
	const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
	const utime = Number(f[11]), stime = Number(f[12]); /* fields 14 and 15 of proc(5) */
	return {
		t: performance.now(),
		rssKiB: kib("VmRSS"),
		hwmKiB: kib("VmHWM"),
		threads: threads ? Number(threads[1]) : NaN,
		cpuMs: ((utime + stime) * 1000) / clkTck,
	};
}

const mib = (kib) => kib / 1024;

/* Context switches of every thread of the process, by thread id: voluntary (it slept: a timer, a poll, a lock)
   plus nonvoluntary (preempted). Each one is a wakeup of that thread, so the sum over an idle period is how often
   the agent woke up. A thread that ends within the period takes its count along: a lower bound, then. */
function taskSwitches(pid) {
	const out = new Map();
	let tids;
	try {
		tids = readdirSync(`/proc/${pid}/task`);
	} catch (e) {
		throw new Error(`the agent (pid ${pid}) is gone: ${e.code || e.message}`);
	}
	for (const tid of tids) {
		let status;
		try {
			status = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
		} catch {
			continue; /* ended meanwhile */
		}
		const n = (key) => Number((new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(status) || [])[1] || 0);
		const name = (/^Name:\s+(.*)$/m.exec(status) || [])[1] || "?";
		out.set(tid, { n: n("voluntary_ctxt_switches") + n("nonvoluntary_ctxt_switches"), name });
	}
	return out;
}

/* Wakeups between two taskSwitches() samples, in all and by thread ("TID NAME": count, the threads that woke,
   most first); a thread born in between counts from zero. */
function wakeupsBetween(a, b) {
	let sum = 0;
	const byThread = [];
	for (const [tid, { n, name }] of b) {
		const d = n - (a.has(tid) ? a.get(tid).n : 0);
		sum += d;
		if (d > 0)
			byThread.push([`${tid} ${name}`, d]);
	}
	byThread.sort((x, y) => y[1] - x[1]);
	return { sum, byThread: Object.fromEntries(byThread) };
}

/* ---- the measurements ---- */

async function checkAgent() {
	const c = await connect(cfg.port, cfg.tokenFile);
	const info = await c.call("agent.info", {}, cfg.timeoutMs);
	const { tokens } = await c.call("token.list", {}, cfg.timeoutMs);
	await c.close();
	if (!tokens || tokens.length !== 1)
		throw new Error(`the agent sees ${tokens ? tokens.length : "no"} keys; the benchmark wants exactly one`);
	return { info, token: tokens[0] };
}

async function measureIdle() {
	const a = procSample(cfg.pid);
	const wa = taskSwitches(cfg.pid);
	await sleep(cfg.idleSeconds * 1000);
	const wb = taskSwitches(cfg.pid);
	const b = procSample(cfg.pid);
	const wallMs = b.t - a.t;
	const cpuMs = b.cpuMs - a.cpuMs;
	const w = wakeupsBetween(wa, wb);
	return {
		wakeups: w.sum,
		wakeups_per_min: r1((60000 * w.sum) / wallMs),
		wakeups_by_thread: w.byThread,
		seconds: r1(wallMs / 1000),
		rss_start_kib: a.rssKiB,
		rss_end_kib: b.rssKiB,
		cpu_ms: cpuMs,
		cpu_percent: r3((100 * cpuMs) / wallMs),
		threads: b.threads,
		clk_tck: clkTck,
	};
}

/* One ukeyd started from nothing: until its listening line, then until its first agent.info reply. */
async function oneStart(i) {
	const dir = `${args.tmp}/start-${i}`;
	mkdirSync(`${dir}/state`, { recursive: true });
	const t0 = performance.now();
	const child = spawn(args.ukeyd, ["--port", "0", "--module", args.module, "--state-dir", `${dir}/state`,
		"--runtime-dir", `${dir}/run`], { stdio: ["ignore", "pipe", "pipe"] });
	children.add(child);
	appendFileSync(`${args.tmp}/pids`, `${child.pid}\n`);
	let stderr = "";
	child.stderr.on("data", (d) => {
		stderr += d;
	});
	const exited = new Promise((resolve) => child.once("exit", (code, sig) => resolve({ code, sig })));
	try {
		const port = await withTimeout(new Promise((resolve, reject) => {
			let out = "";
			child.stdout.on("data", (d) => {
				out += d;
				const m = /^ukeyd: listening on http:\/\/127\.0\.0\.1:(\d+)\//m.exec(out);
				if (m)
					resolve(Number(m[1]));
			});
			exited.then(({ code, sig }) =>
				reject(new Error(`ukeyd exited (${sig || code}) before listening: ${stderr.trim()}`)));
		}), cfg.timeoutMs, "ukeyd start");
		const tListen = performance.now();
		/* Poll until the agent answers: the first reply is what a portal waits for. */
		let tReady = null, lastErr = null;
		while (performance.now() - t0 < cfg.timeoutMs) {
			let c = null;
			try {
				c = await new Client(port, readApiToken(`${dir}/run/api-token`)).open(cfg.timeoutMs);
				const info = await c.call("agent.info", {}, cfg.timeoutMs);
				if (info && info.name === "ukeyd") {
					tReady = performance.now();
					await c.close();
					break;
				}
			} catch (e) {
				lastErr = e;
			}
			if (c)
				await c.close();
			await sleep(1);
		}
		if (tReady === null)
			throw new Error(`ukeyd started but never answered agent.info: ${lastErr && lastErr.message}`);
		return { listenMs: tListen - t0, readyMs: tReady - t0 };
	} finally {
		child.kill("SIGTERM");
		const done = await Promise.race([exited, sleep(5000).then(() => null)]);
		if (!done)
			child.kill("SIGKILL"), await exited;
		children.delete(child);
	}
}

async function measureStarts() {
	const runs = [];
	for (let i = 0; i < cfg.starts; i++)
		runs.push(await oneStart(i));
	const listen = runs.map((r) => r.listenMs), ready = runs.map((r) => r.readyMs);
	return {
		starts: runs.length,
		listen_ms_median: r1(median(listen)),
		listen_ms_min: r1(Math.min(...listen)),
		listen_ms_max: r1(Math.max(...listen)),
		ready_ms_median: r1(median(ready)),
		ready_ms_min: r1(Math.min(...ready)),
		ready_ms_max: r1(Math.max(...ready)),
	};
}

/* UKEY_BENCH_SIGN_COUNT calls of one method, one at a time, after SIGN_WARMUP unmeasured ones; check() throws
   on a wrong reply. On a connection of its own, or on client (left open: a signing session lives on it). */
async function measureSerial(method, params, check, client = null) {
	const c = client || await connect(cfg.port, cfg.tokenFile);
	const lat = [];
	let t0 = 0;
	for (let i = 0; i < SIGN_WARMUP + cfg.signCount; i++) {
		if (i === SIGN_WARMUP)
			t0 = performance.now();
		const s = performance.now();
		const res = await c.call(method, params, cfg.timeoutMs);
		if (i >= SIGN_WARMUP)
			lat.push(performance.now() - s);
		check(res);
	}
	const elapsed = performance.now() - t0;
	if (!client)
		await c.close();
	lat.sort((a, b) => a - b);
	return {
		count: cfg.signCount,
		per_s: r1((1000 * cfg.signCount) / elapsed),
		p50_ms: r3(pct(lat, 50)),
		p99_ms: r3(pct(lat, 99)),
		max_ms: r3(lat[lat.length - 1]),
	};
}

/* n clients, each with one call of method (token.list or agent.info) in flight, for listSeconds; the first
   10% is warm-up. */
async function measureList(n, method = "token.list") {
	const clients = await Promise.all(Array.from({ length: n }, () => connect(cfg.port, cfg.tokenFile)));
	const lat = [];
	const tBegin = performance.now();
	const tMeasure = tBegin + 100 * cfg.listSeconds; /* 10% of the period, in ms */
	const tEnd = tBegin + 1000 * cfg.listSeconds;
	let lastDone = tMeasure;
	/* CPU of both ends over the whole level: is the agent or this client the bottleneck? */
	const agent0 = cfg.pid ? procSample(cfg.pid) : null;
	const self0 = process.cpuUsage();
	await Promise.all(clients.map(async (c) => {
		while (performance.now() < tEnd) {
			const s = performance.now();
			const res = await c.call(method, {}, cfg.timeoutMs);
			const e = performance.now();
			if (method === "token.list" && (!res || !Array.isArray(res.tokens) || res.tokens.length !== 1))
				throw new Error("token.list: the reply does not list the one key");
			if (method === "agent.info" && (!res || res.name !== "ukeyd"))
				throw new Error("agent.info: the reply is not ukeyd's");
			if (s >= tMeasure) {
				lat.push(e - s);
				if (e > lastDone)
					lastDone = e;
			}
		}
	}));
	const wallMs = performance.now() - tBegin;
	const agent1 = cfg.pid ? procSample(cfg.pid) : null;
	const self1 = process.cpuUsage(self0);
	await Promise.all(clients.map((c) => c.close()));
	lat.sort((a, b) => a - b);
	return {
		method,
		clients: n,
		requests: lat.length,
		req_per_s: r1((1000 * lat.length) / (lastDone - tMeasure)),
		p50_ms: r3(pct(lat, 50)),
		p99_ms: r3(pct(lat, 99)),
		max_ms: r3(lat[lat.length - 1]),
		agent_cpu_percent: agent0 ? r1((100 * (agent1.cpuMs - agent0.cpuMs)) / wallMs) : null,
		client_cpu_percent: r1((100 * (self1.user + self1.system)) / 1000 / wallMs),
	};
}

const SIGN_CHECK = (res) => {
	if (!res || Buffer.from(res.signature || "", "base64").length !== 256)
		throw new Error("sign: the reply carries no 256-byte RSA-2048 signature");
};

/* sign in a signing session: session.open once with the PIN, then UKEY_BENCH_SIGN_COUNT sign calls with the
   session id on the same connection (a session belongs to it), then session.close. null when the agent has no
   session.open yet (method-not-found). */
async function measureSessionSign() {
	const c = await connect(cfg.port, cfg.tokenFile);
	try {
		let opened;
		try {
			opened = await c.call("session.open", { pin: cfg.pin }, cfg.timeoutMs);
		} catch (e) {
			if (e.rpcCode === METHOD_NOT_FOUND)
				return null;
			throw e;
		}
		if (!opened || typeof opened.session !== "string")
			throw new Error("session.open: the reply carries no session id");
		const r = await measureSerial("sign", { session: opened.session, mechanism: "rsa-pkcs1-sha256",
			data: SIGN_DATA }, SIGN_CHECK, c);
		await c.call("session.close", { session: opened.session }, cfg.timeoutMs);
		return r;
	} finally {
		await c.close();
	}
}

/* token.list from one connection, one call at a time, while renew.start on another connection waits on a CA
   that answers after renewDelaySeconds: measured from the renewal's "request" step (the CSR on its way to the
   CA) until the renewal's reply. The renewal's own outcome is reported, not judged (the agent may warn about
   the stand-in CA's dates). null when the renewal never reached the CA (its error is in why). */
async function measureListDuringRenewal() {
	const port = Number(args["renew-port"]), tokenFile = args["renew-api-token-file"];
	const renewer = await connect(port, tokenFile);
	const lister = await connect(port, tokenFile);
	try {
		const { tokens } = await lister.call("token.list", {}, cfg.timeoutMs);
		if (!tokens || tokens.length !== 1)
			throw new Error("the renewal agent does not list exactly one key");
		let atCa = null;
		const reachedCa = new Promise((resolve) => {
			renewer.onNotification = (m) => {
				if (m.method === "renew.progress" && m.params && m.params.step === "request")
					resolve(atCa = performance.now());
			};
		});
		const t0 = performance.now();
		const renewal = renewer.call("renew.start", { pin: cfg.pin },
			1000 * cfg.renewDelaySeconds + cfg.timeoutMs).then(
			(res) => ({ ok: true, result: res.result, warning: res.warning || null }),
			(e) => ({ ok: false, error: e.rpcId || e.message }));
		let ended = null;
		const settled = renewal.then((r) => {
			ended = performance.now();
			return r;
		});
		await Promise.race([reachedCa, settled]);
		if (atCa === null) {
			const r = await settled;
			return { available: false, why: `the renewal ended before reaching the CA: ${r.error || r.result}` };
		}
		const lat = [];
		while (ended === null) {
			const s = performance.now();
			const res = await lister.call("token.list", {}, 1000 * cfg.renewDelaySeconds + cfg.timeoutMs);
			if (!res || !Array.isArray(res.tokens) || res.tokens.length !== 1)
				throw new Error("token.list: the reply does not list the one key");
			/* Only calls sent while the renewal still waited. */
			if (ended === null || s < ended)
				lat.push(performance.now() - s);
			await sleep(0);
		}
		const outcome = await settled;
		lat.sort((a, b) => a - b);
		return {
			available: true,
			ca_delay_s: cfg.renewDelaySeconds,
			renewal_ms: r1(ended - t0),
			waiting_ms: r1(ended - atCa),
			renewal: outcome,
			calls: lat.length,
			p50_ms: r3(pct(lat, 50)),
			p99_ms: r3(pct(lat, 99)),
			max_ms: r3(lat[lat.length - 1]),
		};
	} finally {
		await renewer.close();
		await lister.close();
	}
}

/* ---- run ---- */

const children = new Set();

function stopChildren() {
	for (const c of children)
		c.kill("SIGKILL");
}

for (const sig of ["SIGINT", "SIGTERM"])
	process.on(sig, () => {
		stopChildren();
		process.exit(sig === "SIGINT" ? 130 : 143);
	});

async function main() {
	const out = { port: cfg.port, pid: cfg.pid };

	const { info, token } = await checkAgent();
	out.agent = { version: info.version, api: info.api, token_label: token.label };
	console.log(`ukeyd ${info.version} WebSocket API at ws://127.0.0.1:${cfg.port}/api` +
		(cfg.pid ? `, pid ${cfg.pid}` : "") + `; key "${token.label}" (${token.manufacturer || "?"})`);
	console.log("  client: a local program (no Origin, API token), so no rate limit applies");
	/* Every figure here is shared with whatever else runs: say how busy the machine was. */
	const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
	out.machine = { cpus: os.availableParallelism ? os.availableParallelism() : os.cpus().length, loadavg: load };
	console.log(`  machine: ${out.machine.cpus} CPUs, load average ${load} (1, 5, 15 min) at the start; ` +
		"figures from a busy machine are not comparable");

	console.log(`\nidle agent: ${cfg.idleSeconds} s with the key inserted and no client connected`);
	if (cfg.pid) {
		out.idle = await measureIdle();
		line("RSS at start / end of the period", `${fmt(mib(out.idle.rss_start_kib))} MiB / ` +
			`${fmt(mib(out.idle.rss_end_kib))} MiB  (VmRSS)`);
		line("CPU time over the period", `${fmt(out.idle.cpu_ms, 0)} ms utime+stime ` +
			`(${fmt(out.idle.cpu_percent, 3)} % of one CPU; ticks of ${fmt(1000 / clkTck, 0)} ms)`);
		line("threads", `${out.idle.threads}`);
		line("wakeups", `${out.idle.wakeups} over the period = ${fmt(out.idle.wakeups_per_min)}/min  ` +
			"(context switches, voluntary + not, of every thread)");
		line("  by thread (tid name: wakeups)", Object.entries(out.idle.wakeups_by_thread).map(([k, v]) => `${k}: ${v}`)
			.join(", ") || "none");
	} else {
		line("skipped", "no --pid");
	}

	console.log(`\nstart to ready: median of ${cfg.starts} starts (--port 0, fresh state dir each)`);
	if (args.ukeyd && args.module && args.tmp) {
		out.start = await measureStarts();
		const s = out.start;
		line("spawn -> listening line", `${fmt(s.listen_ms_median)} ms  (min ${fmt(s.listen_ms_min)}, ` +
			`max ${fmt(s.listen_ms_max)})`);
		line("spawn -> first agent.info reply", `${fmt(s.ready_ms_median)} ms  (min ${fmt(s.ready_ms_min)}, ` +
			`max ${fmt(s.ready_ms_max)})`);
	} else {
		line("skipped", "no --ukeyd, --module and --tmp");
	}

	console.log(`\nsign RSA-2048 rsa-pkcs1-sha256 over 32 bytes of data: ${cfg.signCount} calls, one at a ` +
		`time (${SIGN_WARMUP} warm-up calls first)`);
	console.log("  with the PIN on each call: each sign is C_Login + C_Sign + C_Logout in the agent,");
	console.log("  plus the PIN-try bookkeeping of R-P1 in the state database");
	const sign = await measureSerial("sign", { pin: cfg.pin, mechanism: "rsa-pkcs1-sha256", data: SIGN_DATA },
		SIGN_CHECK);
	out.sign = { count: sign.count, sig_per_s: sign.per_s, p50_ms: sign.p50_ms, p99_ms: sign.p99_ms,
		max_ms: sign.max_ms };
	line("signatures/s (PIN on each call)", fmt(out.sign.sig_per_s));
	line("latency p50 / p99 / max", `${fmt(out.sign.p50_ms, 2)} / ${fmt(out.sign.p99_ms, 2)} / ` +
		`${fmt(out.sign.max_ms, 2)} ms`);
	console.log("  in a signing session: session.open once with the PIN, then sign with the session id");
	const ses = await measureSessionSign();
	out.sign_session = ses && { count: ses.count, sig_per_s: ses.per_s, p50_ms: ses.p50_ms, p99_ms: ses.p99_ms,
		max_ms: ses.max_ms };
	if (ses) {
		line("signatures/s (session)", fmt(ses.per_s));
		line("latency p50 / p99 / max", `${fmt(ses.p50_ms, 2)} / ${fmt(ses.p99_ms, 2)} / ${fmt(ses.max_ms, 2)} ms`);
	} else {
		line("signatures/s (session)", "not available (the agent has no session.open: method-not-found)");
	}
	/* The same path without the signature: where a sign call's time goes. */
	const verify = await measureSerial("pin.verify", { pin: cfg.pin }, (res) => {
		if (!res || res.result !== "verified")
			throw new Error("pin.verify: the reply does not say verified");
	});
	out.pin_verify = { count: verify.count, calls_per_s: verify.per_s, p50_ms: verify.p50_ms,
		p99_ms: verify.p99_ms, max_ms: verify.max_ms };
	line("for scale: pin.verify (no sign) /s", `${fmt(verify.per_s)}  (p50 ${fmt(verify.p50_ms, 2)} ms, ` +
		`p99 ${fmt(verify.p99_ms, 2)} ms; the same login + logout + R-P1 bookkeeping)`);

	console.log(`\ntoken.list: each client keeps one request in flight; ${cfg.listSeconds} s per level ` +
		"(first 10% not counted)");
	console.log("  (CPU columns: % of one CPU over the level, the agent's and this client's; 100% = one core busy)");
	console.log(`  ${"clients".padStart(7)} ${"req/s".padStart(9)} ${"p50 ms".padStart(9)} ` +
		`${"p99 ms".padStart(9)} ${"max ms".padStart(9)} ${"requests".padStart(9)} ` +
		`${"agent CPU".padStart(10)} ${"client CPU".padStart(10)}`);
	out.token_list = [];
	for (const n of cfg.levels) {
		const l = await measureList(n);
		out.token_list.push(l);
		console.log(`  ${String(n).padStart(7)} ${fmt(l.req_per_s).padStart(9)} ${fmt(l.p50_ms, 2).padStart(9)} ` +
			`${fmt(l.p99_ms, 2).padStart(9)} ${fmt(l.max_ms, 2).padStart(9)} ${String(l.requests).padStart(9)} ` +
			`${(l.agent_cpu_percent === null ? "-" : fmt(l.agent_cpu_percent) + "%").padStart(10)} ` +
			`${(fmt(l.client_cpu_percent) + "%").padStart(10)}`);
	}

	console.log(`\ntoken.list next to agent.info (no key, no state: the envelope alone), ${cfg.compareClients} ` +
		`clients each, ${cfg.listSeconds} s`);
	const cmp = {};
	for (const method of ["token.list", "agent.info"]) {
		const l = await measureList(cfg.compareClients, method);
		cmp[method === "token.list" ? "token_list" : "agent_info"] = l;
		line(`${method} at ${cfg.compareClients} clients`, `${fmt(l.req_per_s).padStart(9)} req/s  p50 ` +
			`${fmt(l.p50_ms, 2)} ms  p99 ${fmt(l.p99_ms, 2)} ms  (agent CPU ${fmt(l.agent_cpu_percent)}%)`);
	}
	cmp.ratio = r3(cmp.token_list.req_per_s / cmp.agent_info.req_per_s);
	line("ratio token.list / agent.info rate", fmt(cmp.ratio, 2));
	out.list_vs_info = cmp;

	console.log(`\ntoken.list while a renewal waits on a CA that answers after ${cfg.renewDelaySeconds} s ` +
		"(another agent, another connection)");
	if (args["renew-port"] && args["renew-api-token-file"]) {
		const w = await measureListDuringRenewal();
		out.list_during_renewal = w;
		if (w.available) {
			line("token.list calls while it waited", `${w.calls} over ${fmt(w.waiting_ms / 1000)} s`);
			line("latency p50 / p99 / max", `${fmt(w.p50_ms, 2)} / ${fmt(w.p99_ms, 2)} / ${fmt(w.max_ms, 2)} ms`);
			line("the renewal", w.renewal.ok ? `${w.renewal.result} after ${fmt(w.renewal_ms / 1000)} s` +
				(w.renewal.warning ? ` (warning: ${w.renewal.warning})` : "") :
				`ended with ${w.renewal.error} after ${fmt(w.renewal_ms / 1000)} s`);
		} else {
			line("not available", w.why);
		}
	} else {
		out.list_during_renewal = null;
		line("skipped", "no --renew-port and --renew-api-token-file");
	}

	if (cfg.pid) {
		await sleep(200);
		const s = procSample(cfg.pid);
		out.after_load = { rss_kib: s.rssKiB, peak_rss_kib: s.hwmKiB, threads: s.threads, cpu_ms_total: s.cpuMs };
		console.log("\nafter the load");
		line("RSS / peak RSS (VmHWM)", `${fmt(mib(s.rssKiB))} MiB / ${fmt(mib(s.hwmKiB))} MiB`);
		line("CPU time since start", `${fmt(s.cpuMs, 0)} ms`);
	}

	if (args["json-out"])
		writeFileSync(args["json-out"], `json: ${JSON.stringify(out)}\n`);
	else
		console.log(`json: ${JSON.stringify(out)}`);
}

main().then(() => process.exit(0), (e) => {
	stopChildren();
	process.stderr.write(`ws-bench: cannot run: ${e && e.message ? e.message : e}\n`);
	process.exit(1);
});
