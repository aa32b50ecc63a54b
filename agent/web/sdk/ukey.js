// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * ukey.js — the JavaScript SDK for ukeyd, the local USBKey agent.
 *
 * An ES module with no dependencies and no build step. It speaks JSON-RPC 2.0
 * over a WebSocket (subprotocol "ukey.v1") to the agent on the loopback
 * interface, as described in agent/daemon/PROTOCOL.md.
 *
 * ```js
 * import { connect, PinIncorrectError } from "http://127.0.0.1:24801/sdk/ukey.js";
 * const agent = await connect();
 * const [token] = await agent.tokens();
 * agent.on("token.removed", (t) => console.log("removed", t.serial));
 * try {
 *   const { signature } = await agent.sign({ pin, data: new TextEncoder().encode("order 42") });
 * } catch (e) {
 *   if (e instanceof PinIncorrectError) console.log(`Wrong PIN: ${e.triesLeft} tries left`);
 * }
 * // Online renewal (R-R2…R-R6): what would happen, then the renewal step by step.
 * const plan = await agent.renewCheck();
 * if (plan.renewal.open) {
 *   const r = await agent.renewStart({ pin, onProgress: (p) => console.log(`${p.index}/${p.total} ${p.step}`) });
 *   console.log(`new certificate until ${r.new_not_after}`);
 * }
 * ```
 *
 * PINs: the SDK puts a PIN into exactly one request and never keeps it: it is
 * not stored in the Agent, not in the table of calls in flight, not logged, and
 * a request is NEVER re-sent by the SDK — not after a reconnect, not after a
 * timeout. Every PIN attempt counts toward the 10-try lockout (R-P1), so only
 * the person typing the PIN may decide to try again.
 *
 * @module ukey
 */

/** The WebSocket subprotocol the agent speaks. */
export const PROTOCOL = "ukey.v1";

/** The agent's default port. */
export const DEFAULT_PORT = 24801;

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

/**
 * The agent's WebSocket URL: when this module is itself served by the agent
 * (http://127.0.0.1:PORT/sdk/ukey.js, or localhost, or [::1]) that host and
 * port; otherwise ws://127.0.0.1:24801/api.
 *
 * @param {string} [moduleUrl] the URL to derive from (default: this module's)
 * @returns {string}
 */
export function defaultUrl(moduleUrl = import.meta.url) {
	try {
		const u = new URL(moduleUrl);
		if ((u.protocol === "http:" || u.protocol === "https:") && LOOPBACK_HOSTS.has(u.hostname))
			return `${u.protocol === "https:" ? "wss:" : "ws:"}//${u.host}/api`;
	} catch {
		/* not a URL: fall through */
	}
	return `ws://127.0.0.1:${DEFAULT_PORT}/api`;
}

/* ------------------------------------------------------------------ errors */

/**
 * An error answered by the agent, or a failure to reach it.
 *
 * @property {number|null} code  the JSON-RPC error code (e.g. -32010), null for ConnectionError
 * @property {string} id         the stable error id (e.g. "pin-incorrect"; "connection" for ConnectionError)
 * @property {object} data       error.data as sent by the agent ({} when absent)
 * @property {string|null} rule  the service rule (e.g. "R-P1"), when the agent names one
 * @property {number|null} triesLeft PIN tries left, when the agent tells them
 * @property {number|null} maxTries  PIN tries in all, when the agent tells them
 * @property {boolean} locked    true when the agent says the key is (now) locked
 * @property {string|null} method the method of the call that failed
 */
export class UkeyError extends Error {
	/**
	 * @param {string} message
	 * @param {{code?: number|null, id?: string, data?: object, method?: string|null}} [fields]
	 */
	constructor(message, { code = null, id = "internal", data = {}, method = null } = {}) {
		super(message);
		this.name = new.target.name;
		this.code = code;
		this.data = data && typeof data === "object" ? data : {};
		this.id = typeof this.data.id === "string" ? this.data.id : id;
		this.rule = typeof this.data.rule === "string" ? this.data.rule : null;
		this.triesLeft = Number.isInteger(this.data.tries_left) ? this.data.tries_left : null;
		this.maxTries = Number.isInteger(this.data.max_tries) ? this.data.max_tries : null;
		this.locked = this.data.locked === true;
		this.method = method;
	}
}

/** Wrong PIN (id "pin-incorrect", R-P1): `triesLeft` tells what is left; `locked` is true when this try locked the key. */
export class PinIncorrectError extends UkeyError {}

/** The key is locked (id "pin-locked", R-P2): nothing was sent to the key; unlocking is free (R-P3). */
export class PinLockedError extends UkeyError {}

/** No key inserted (id "no-token"), or none matches `token` (id "token-not-found"). */
export class NoTokenError extends UkeyError {}

/**
 * The agent cannot be reached or the connection broke: refused (not running,
 * or this page's origin is not allowed — a browser cannot tell the two apart),
 * closed while a call was in flight, or no answer within the timeout. A call
 * that failed this way may or may not have reached the key: a PIN attempt may
 * have been counted.
 */
export class ConnectionError extends UkeyError {
	/** @param {string} message @param {{method?: string|null, reason?: string}} [fields] */
	constructor(message, { method = null, reason = "closed" } = {}) {
		super(message, { code: null, id: "connection", data: { id: "connection" }, method });
		/** "refused" | "closed" | "timeout" | "not-connected" */
		this.reason = reason;
	}
}

/**
 * Online renewal is not open for this certificate now (id "renew-not-open"): `rule` is "R-R2" (fewer
 * than 90 days left, or expired up to 365 days, opens it: see `renewCheck().renewal.opens_on`) or
 * "R-R5" (expired longer: documents and approval first). No PIN was tried.
 */
export class RenewNotOpenError extends UkeyError {}

/**
 * The CA holds the renewal order (id "renew-pending", rule "R-R6": payment, or documents and
 * approval): call `renewStart` again later to carry on. The old certificate still works.
 */
export class RenewPendingError extends UkeyError {}

/**
 * The CA could not renew: id "ca-not-configured" (the agent has no CA: `notConfigured` is true),
 * "ca-unreachable" (no connection or no answer in time), "ca-untrusted" (its TLS certificate does not verify against the agent's
 * --ca-trust), "ca-refused" (it said no; `message` says why), "ca-failed" (its own failure: try later)
 * or "ca-bad-response" (its answer cannot be used; nothing was written). The old certificate still
 * works; calling `renewStart` again carries on where the renewal stopped.
 */
export class CaError extends UkeyError {
	/** @param {string} message @param {object} [fields] */
	constructor(message, fields) {
		super(message, fields);
		/** True when the agent was started without a CA (ukeyd --ca-url): its message names the option. */
		this.notConfigured = this.id === "ca-not-configured";
	}
}

const ERROR_CLASSES = {
	"pin-incorrect": PinIncorrectError,
	"pin-locked": PinLockedError,
	"no-token": NoTokenError,
	"token-not-found": NoTokenError,
	"renew-not-open": RenewNotOpenError,
	"renew-pending": RenewPendingError,
	"ca-not-configured": CaError,
	"ca-unreachable": CaError,
	"ca-untrusted": CaError,
	"ca-refused": CaError,
	"ca-failed": CaError,
	"ca-bad-response": CaError,
};
/* The error table of PROTOCOL.md, for an error that comes without data.id. */
const CODE_IDS = {
	"-32700": "parse-error", "-32600": "invalid-request", "-32601": "method-not-found", "-32602": "usage",
	"-32010": "pin-incorrect", "-32011": "pin-locked", "-32012": "pin-invalid", "-32013": "not-logged-in",
	"-32020": "no-token", "-32021": "token-not-found", "-32022": "token-ambiguous", "-32023": "token-removed",
	"-32024": "token-failed", "-32040": "state-unavailable", "-32041": "state-corrupt", "-32050": "cert-unreadable",
	"-32051": "key-not-found", "-32060": "unsupported", "-32080": "busy", "-32081": "rate-limited", "-32000": "internal",
	"-32090": "ca-unreachable", "-32091": "ca-untrusted", "-32092": "ca-refused", "-32093": "ca-failed",
	"-32094": "ca-bad-response", "-32095": "renew-not-open", "-32096": "renew-pending",
	"-32085": "pcsc-unavailable", "-32086": "usb-unavailable", "-32087": "model-db",
};

function errorFromResponse(error, method) {
	const e = error && typeof error === "object" ? error : {};
	const data = e.data && typeof e.data === "object" ? e.data : {};
	const id = typeof data.id === "string" ? data.id : CODE_IDS[String(e.code)] || "internal";
	const Cls = ERROR_CLASSES[id] || UkeyError;
	const code = Number.isInteger(e.code) ? e.code : null;
	return new Cls(typeof e.message === "string" && e.message ? e.message : id, { code, id, data, method });
}

/* ------------------------------------------------------------------ base64 */

/**
 * Bytes to standard base64 (with padding).
 * @param {Uint8Array|ArrayBuffer|ArrayBufferView} bytes
 * @returns {string}
 */
export function toBase64(bytes) {
	const u8 = asBytes(bytes);
	let s = "";
	for (let i = 0; i < u8.length; i += 0x8000)
		s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
	return btoa(s);
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Standard base64 (padded; whitespace ignored) to bytes.
 * @param {string} b64
 * @returns {Uint8Array}
 * @throws {TypeError} when b64 is not base64
 */
export function fromBase64(b64) {
	const s = String(b64).replace(/\s+/g, "");
	if (!BASE64_RE.test(s))
		throw new TypeError("not base64");
	const bin = atob(s);
	const out = new Uint8Array(bin.length);
	for (let i = 0; i < bin.length; i++)
		out[i] = bin.charCodeAt(i);
	return out;
}

/**
 * Whether s is padded standard base64.
 * @param {string} s
 */
export function isBase64(s) {
	return typeof s === "string" && BASE64_RE.test(s.replace(/\s+/g, ""));
}

function asBytes(v) {
	if (v instanceof Uint8Array)
		return v;
	if (v instanceof ArrayBuffer)
		return new Uint8Array(v);
	if (ArrayBuffer.isView(v))
		return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
	throw new TypeError("expected a Uint8Array, an ArrayBuffer or a base64 string");
}

/* Bytes or a base64 string to base64 for the wire. A string must be base64: plain text is refused, so "order 42" is never sent by mistake as if it were bytes. */
function wireBase64(v, name) {
	if (typeof v === "string") {
		const s = v.replace(/\s+/g, "");
		if (!BASE64_RE.test(s))
			throw new TypeError(`${name}: a string must be base64 (encode text with new TextEncoder().encode(text))`);
		return s;
	}
	return toBase64(asBytes(v));
}

/* ------------------------------------------------------------------ agent */

/**
 * @typedef {object} ConnectOptions
 * @property {string} [url]        the agent's WebSocket URL (default: {@link defaultUrl})
 * @property {boolean} [reconnect=true] reconnect with jittered exponential backoff when the socket drops (never after close())
 * @property {{initial?: number, max?: number}} [backoff] delays in ms (default {initial: 500, max: 10000})
 * @property {boolean} [wait=false] keep trying (with the same backoff) until the first connection opens, instead of rejecting when the first try fails
 * @property {number} [keepAlive=240000] ms without a request after which the SDK sends an `agent.info`, so that the agent's 300 s idle timeout does not drop an open page; 0 turns it off
 */

/**
 * Connect to the agent.
 *
 * @param {ConnectOptions} [options]
 * @returns {Promise<Agent>} resolves once the WebSocket is open; rejects with
 *   a {@link ConnectionError} when the first try fails (unless `wait`)
 */
export async function connect({ url = defaultUrl(), reconnect = true, backoff = { initial: 500, max: 10000 }, wait = false, keepAlive = 240000 } = {}) {
	return new Agent({ url, reconnect, backoff, wait, keepAlive }).open();
}

/**
 * A connection to the agent. Make one with {@link connect}, or with
 * `new Agent(options)`, attach listeners, then `await agent.open()` (which
 * lets a page hear "reconnecting" before the first connection is up).
 *
 * Events (`on`/`off`):
 * - notifications from the agent, the listener gets the params:
 *   "token.inserted" (a token.list entry), "token.removed" ({serial, label}),
 *   "pin.locked" ({serial, label, rule}), "cert.expiring" (a cert.list entry),
 *   "device.changed" (a key, reader or card event: {event, time, model, reader, atr, usb}),
 *   "renew.progress" ({serial, step, index, total, detail}: only to the connection running
 *   renew.start; {@link Agent#renewStart} also hands them to its `onProgress`),
 *   and any other method the agent pushes;
 * - "notification": every notification, as {method, params};
 * - "open": {url} — each time the socket opens (first time and after a reconnect);
 * - "close": {code, reason, willReconnect} — each time the socket closes;
 * - "reconnecting": {attempt, delay} — a new try is scheduled in `delay` ms.
 */
export class Agent {
	/** @param {ConnectOptions} [options] */
	constructor({ url = defaultUrl(), reconnect = true, backoff = {}, wait = false, keepAlive = 240000 } = {}) {
		this._url = url;
		this._reconnect = reconnect !== false;
		this._backoff = {
			initial: Math.max(50, Number(backoff && backoff.initial) || 500),
			max: Math.max(50, Number(backoff && backoff.max) || 10000),
		};
		this._wait = wait === true;
		this._keepAlive = Number(keepAlive) > 0 ? Number(keepAlive) : 0;
		this._ws = null;
		this._state = "idle"; // idle | connecting | open | reconnecting | closed
		this._nextId = 1;
		/** @type {Map<number, {resolve: Function, reject: Function, timer: any, method: string}>} */
		this._pending = new Map();
		/** @type {Map<string, Set<Function>>} */
		this._listeners = new Map();
		this._attempt = 0;
		this._retryTimer = null;
		this._keepAliveTimer = null;
		this._everOpened = false;
		this._opening = null;
		this._userClosed = false;
		/** renewStart calls in flight, in the order sent: {token, serial, onProgress}. */
		this._renewals = [];
	}

	/** The WebSocket URL. */
	get url() {
		return this._url;
	}

	/**
	 * "idle" (not started), "connecting" (first try), "open",
	 * "reconnecting" (waiting for or making a new try), "closed" (after close(), or the first try failed without `wait`).
	 */
	get state() {
		return this._state;
	}

	/** Whether requests can be sent now. */
	get connected() {
		return this._state === "open";
	}

	/**
	 * Start connecting; resolves with this Agent when the socket first opens.
	 * @returns {Promise<Agent>}
	 */
	open() {
		if (this._userClosed)
			return Promise.reject(new ConnectionError("This Agent was closed: make a new one.", { reason: "closed" }));
		// After a first try that failed (without `wait`), open() tries again.
		if (this._opening && !(this._state === "closed" && !this._everOpened))
			return this._opening;
		this._opening = new Promise((resolve, reject) => {
			this._firstOpen = { resolve, reject };
		});
		this._state = "connecting";
		this._dial();
		return this._opening;
	}

	_dial() {
		let ws;
		this._retryTimer = null;
		try {
			ws = new WebSocket(this._url, PROTOCOL);
		} catch (e) {
			// A malformed URL: no retry can help.
			this._state = "closed";
			this._settleFirst(new ConnectionError(`Cannot connect to the ukey agent at ${this._url}: ${e.message}`, { reason: "refused" }));
			return;
		}
		this._ws = ws;
		let opened = false;
		ws.onopen = () => {
			if (this._ws !== ws)
				return;
			opened = true;
			this._everOpened = true;
			this._attempt = 0;
			this._state = "open";
			this._armKeepAlive();
			this._emit("open", { url: this._url });
			this._settleFirst(null);
		};
		ws.onmessage = (ev) => {
			if (this._ws === ws)
				this._onMessage(ev.data);
		};
		ws.onerror = () => {
			/* always followed by close */
		};
		ws.onclose = (ev) => {
			if (this._ws !== ws)
				return;
			this._ws = null;
			this._onClose(opened, ev);
		};
	}

	_settleFirst(err) {
		const f = this._firstOpen;
		if (!f)
			return;
		this._firstOpen = null;
		if (err)
			f.reject(err);
		else
			f.resolve(this);
	}

	_onClose(opened, ev) {
		clearTimeout(this._keepAliveTimer);
		this._keepAliveTimer = null;
		const userClosed = this._userClosed;
		const why = opened ? "The connection to the ukey agent was closed" : `Cannot connect to the ukey agent at ${this._url} (not running, or this page is not allowed)`;
		this._failPending(why, opened ? "closed" : "refused");
		const firstFailed = !opened && !this._everOpened && !this._wait;
		const willReconnect = !userClosed && !firstFailed && this._reconnect;
		if (opened || userClosed)
			this._emit("close", { code: ev.code, reason: ev.reason, willReconnect });
		if (firstFailed) {
			this._state = "closed";
			this._settleFirst(new ConnectionError(`${why}.`, { reason: "refused" }));
			return;
		}
		if (userClosed)
			return;
		if (!willReconnect) {
			this._state = "closed";
			return;
		}
		this._state = this._everOpened ? "reconnecting" : "connecting";
		this._scheduleRetry();
	}

	_scheduleRetry() {
		// Exponential backoff with jitter: base = initial * 2^attempt, capped at max; the delay is drawn from [base/2, base].
		const base = Math.min(this._backoff.max, this._backoff.initial * 2 ** Math.min(this._attempt, 30));
		const delay = Math.round(base / 2 + Math.random() * (base / 2));
		this._attempt++;
		this._emit("reconnecting", { attempt: this._attempt, delay });
		this._retryTimer = setTimeout(() => {
			if (this._state !== "closed")
				this._dial();
		}, delay);
	}

	_failPending(message, reason) {
		const pending = [...this._pending.values()];
		this._pending.clear();
		for (const p of pending) {
			clearTimeout(p.timer);
			p.reject(new ConnectionError(`${message} during "${p.method}"; it was not retried.`, { method: p.method, reason }));
		}
	}

	_armKeepAlive() {
		clearTimeout(this._keepAliveTimer);
		this._keepAliveTimer = null;
		if (!this._keepAlive || this._state !== "open")
			return;
		this._keepAliveTimer = setTimeout(() => {
			this._keepAliveTimer = null;
			if (this._state === "open")
				this.call("agent.info").catch(() => {});
		}, this._keepAlive);
	}

	_onMessage(text) {
		let msg;
		try {
			msg = JSON.parse(text);
		} catch {
			return; // not JSON: nothing to route
		}
		if (!msg || typeof msg !== "object")
			return;
		if (typeof msg.method === "string" && !("id" in msg)) {
			const params = msg.params === undefined ? {} : msg.params;
			if (msg.method === "renew.progress")
				this._renewProgress(params);
			this._emit(msg.method, params);
			this._emit("notification", { method: msg.method, params });
			return;
		}
		const p = this._pending.get(msg.id);
		if (!p)
			return; // a late answer to a call that timed out, or id null (parse error)
		this._pending.delete(msg.id);
		clearTimeout(p.timer);
		if (msg.error !== undefined)
			p.reject(errorFromResponse(msg.error, p.method));
		else
			p.resolve(msg.result);
	}

	/*
	 * A renew.progress to the renewStart call it belongs to. The agent renews one key at a time and
	 * sends a call's steps before its answer, so a notification goes to the call already bound to its
	 * serial, else to the call in flight not yet bound whose token is that serial, else to the first
	 * one not yet bound (its token was left out, or is a label); that call is then bound to the serial.
	 */
	_renewProgress(params) {
		if (!params || typeof params !== "object" || typeof params.serial !== "string")
			return;
		const serial = params.serial;
		let r = this._renewals.find((x) => x.serial === serial);
		if (!r) {
			const free = this._renewals.filter((x) => x.serial === null);
			r = free.find((x) => x.token === serial) || free[0];
			if (r)
				r.serial = serial;
		}
		if (r && r.onProgress) {
			try {
				r.onProgress(params);
			} catch (e) {
				setTimeout(() => {
					throw e;
				});
			}
		}
	}

	_emit(event, arg) {
		const set = this._listeners.get(event);
		if (!set)
			return;
		for (const fn of [...set]) {
			try {
				fn(arg);
			} catch (e) {
				setTimeout(() => {
					throw e;
				});
			}
		}
	}

	/**
	 * Listen to a notification ("token.inserted", "token.removed", "pin.locked",
	 * "cert.expiring", …) or to "notification", "open", "close", "reconnecting".
	 * @param {string} event
	 * @param {(arg: any) => void} fn
	 * @returns {this}
	 */
	on(event, fn) {
		if (typeof fn !== "function")
			throw new TypeError("listener must be a function");
		if (!this._listeners.has(event))
			this._listeners.set(event, new Set());
		this._listeners.get(event).add(fn);
		return this;
	}

	/**
	 * Stop listening.
	 * @param {string} event
	 * @param {(arg: any) => void} fn
	 * @returns {this}
	 */
	off(event, fn) {
		const set = this._listeners.get(event);
		if (set) {
			set.delete(fn);
			if (!set.size)
				this._listeners.delete(event);
		}
		return this;
	}

	/**
	 * Call a method. The request is sent once: never queued for later and
	 * never re-sent, whatever happens to the connection.
	 *
	 * @param {string} method e.g. "token.list"
	 * @param {object} [params]
	 * @param {{timeout?: number}} [options] timeout in ms (default 30000; 0 = none)
	 * @returns {Promise<any>} the result
	 * @throws {UkeyError} the agent's error (PinIncorrectError, PinLockedError, NoTokenError, …)
	 * @throws {ConnectionError} not connected, the socket closed, or no answer in time
	 */
	call(method, params = {}, { timeout = 30000 } = {}) {
		if (this._state !== "open" || !this._ws || this._ws.readyState !== WebSocket.OPEN)
			return Promise.reject(new ConnectionError(`Not connected to the ukey agent (${this._state}): "${method}" was not sent.`, { method, reason: "not-connected" }));
		const id = this._nextId++;
		// The text is built here and handed to the socket; params (which may hold a PIN) are not kept.
		const text = JSON.stringify({ jsonrpc: "2.0", id, method, params: params || {} });
		return new Promise((resolve, reject) => {
			const entry = { resolve, reject, timer: null, method };
			if (timeout > 0) {
				entry.timer = setTimeout(() => {
					if (this._pending.get(id) === entry) {
						this._pending.delete(id);
						reject(new ConnectionError(`No answer from the ukey agent to "${method}" within ${timeout} ms; it was not retried.`, { method, reason: "timeout" }));
					}
				}, timeout);
			}
			this._pending.set(id, entry);
			try {
				this._ws.send(text);
			} catch (e) {
				this._pending.delete(id);
				clearTimeout(entry.timer);
				reject(new ConnectionError(`Cannot send "${method}" to the ukey agent: ${e.message}`, { method, reason: "closed" }));
				return;
			}
			this._armKeepAlive();
		});
	}

	/**
	 * `agent.info`: {name, version, api, port, max_tries, origin}.
	 * @returns {Promise<object>}
	 */
	info() {
		return this.call("agent.info");
	}

	/**
	 * `token.list`: the inserted keys.
	 * @returns {Promise<Array<object>>} [{label, serial, manufacturer, model, slot, pin: {tries_left, max_tries, locked, …}, certificates}]
	 */
	async tokens() {
		const r = await this.call("token.list");
		return (r && r.tokens) || [];
	}

	/**
	 * `cert.list`: the certificates on one key (or on the only key).
	 * @param {string} [token] serial or label
	 * @returns {Promise<Array<object>>} cert.list entries (subject_cn, subject_o, issuer, not_before, not_after, days_left, status, renewal_open, key_match, der, …)
	 */
	async certificates(token) {
		const r = await this.call("cert.list", withToken({}, token));
		return (r && r.certificates) || [];
	}

	/**
	 * `pin.status`: tries left, or locked.
	 * @param {string} [token]
	 * @returns {Promise<object>} {serial, label, tries_left, max_tries, locked, locked_by_token, final_try, counted}
	 */
	pinStatus(token) {
		return this.call("pin.status", withToken({}, token));
	}

	/**
	 * `pin.verify`: check the PIN. The try counts toward R-P1; it is never retried.
	 * @param {string} pin
	 * @param {string} [token]
	 * @returns {Promise<object>} the pin.status object with result "verified"
	 * @throws {PinIncorrectError|PinLockedError|NoTokenError|UkeyError|ConnectionError}
	 */
	verifyPin(pin, token) {
		return this.call("pin.verify", withToken({ pin: String(pin) }, token));
	}

	/**
	 * `pin.change`. The try counts toward R-P1; it is never retried.
	 * @param {string} pin the current PIN
	 * @param {string} newPin
	 * @param {string} [token]
	 * @returns {Promise<object>} the pin.status object with result "changed"
	 */
	changePin(pin, newPin, token) {
		return this.call("pin.change", withToken({ pin: String(pin), new_pin: String(newPin) }, token));
	}

	/**
	 * `sign`: log in with the PIN (counted, R-P1), sign, log out. Give exactly
	 * one of `data` (the message; the key hashes it) and `digest` (SHA-256, 32
	 * bytes), each as a Uint8Array/ArrayBuffer or a base64 string.
	 *
	 * @param {object} args
	 * @param {string} args.pin
	 * @param {Uint8Array|ArrayBuffer|string} [args.data]
	 * @param {Uint8Array|ArrayBuffer|string} [args.digest]
	 * @param {"rsa-pkcs1-sha256"|"rsa-pss-sha256"|"ecdsa-sha256"} [args.mechanism="rsa-pkcs1-sha256"]
	 * @param {string} [args.keyId] hex CKA_ID (default: the first certificate's key)
	 * @param {string} [args.token] serial or label
	 * @param {{timeout?: number}} [options]
	 * @returns {Promise<{signature: Uint8Array, certificate: Uint8Array|null, mechanism: string, key_id: string}>}
	 */
	async sign({ pin, data, digest, mechanism = "rsa-pkcs1-sha256", keyId, token } = {}, options = {}) {
		if ((data === undefined) === (digest === undefined))
			throw new TypeError("sign: give exactly one of data and digest");
		const params = { pin: String(pin ?? ""), mechanism };
		if (data !== undefined)
			params.data = wireBase64(data, "data");
		else
			params.digest = wireBase64(digest, "digest");
		if (keyId !== undefined && keyId !== null)
			params.key_id = String(keyId);
		withToken(params, token);
		const r = await this.call("sign", params, options);
		return {
			...r,
			signature: fromBase64(r.signature),
			certificate: typeof r.certificate === "string" ? fromBase64(r.certificate) : null,
		};
	}

	/**
	 * `diagnose`: the technician's diagnosis of a key (`ukey diagnose --json`):
	 * verdict (HEALTHY, R-D1…R-D3, ENVIRONMENT, LOCKED, EXPIRED, REVOKED) with
	 * the rule text, warranty and fee (R-D4…R-D6), the next service, the checks,
	 * and `report_html`, a printable page (treat it as untrusted markup: show it
	 * only in a sandboxed frame). Uses no PIN; may take about 2 s.
	 *
	 * @param {object} [args]
	 * @param {"off"|"blinking"|"steady"} [args.led] the indicator light as the user tells it (left out: unknown)
	 * @param {string} [args.firstIssued] the first issue date, YYYY-MM-DD (left out: the date recorded on the key, if any)
	 * @param {string} [args.token] serial or label
	 * @param {{timeout?: number}} [options]
	 * @returns {Promise<object>} {time, verdict, led, warranty, token, model, service, checks, report_html}
	 */
	diagnose({ led, firstIssued, token } = {}, options = {}) {
		const params = {};
		if (led)
			params.led = String(led);
		if (firstIssued)
			params.first_issued = String(firstIssued);
		return this.call("diagnose", withToken(params, token), options);
	}

	/**
	 * `renew.check`: whether the key's certificate may be renewed online now and what the new one
	 * would be (R-R2…R-R5, read from the certificate on the key; the key and the CA are not touched,
	 * no PIN). Offline, so it works even when the agent has no CA configured.
	 *
	 * @param {object} [args]
	 * @param {string} [args.token] serial or label (may be left out when one key is inserted)
	 * @param {{timeout?: number}} [options]
	 * @returns {Promise<object>} {token_serial, token_label,
	 *   certificate: {subject, subject_cn, serial, not_after, days_left, days_expired, status},
	 *   renewal: {open, opens_on, closes_on, rule ("R-R3" | "R-R4" | "R-R5"), expected_not_after
	 *   ("YYYY-MM-DD"), in_progress, journal_state}}
	 * @throws {NoTokenError|UkeyError|ConnectionError} (cert-unreadable: nothing to renew)
	 */
	renewCheck({ token } = {}, options = {}) {
		return this.call("renew.check", withToken({}, token), options);
	}

	/**
	 * `renew.start`: renew the key's certificate online (or finish a renewal begun earlier): log in
	 * with the PIN (counted, R-P1; never retried), make a new key pair on the key, ask the CA, check
	 * and write the new certificate, remove the old pair. The PIN stays the same (R-P4). The agent
	 * needs a CA (ukeyd --ca-url, --ca-trust). The steps come as they start, in order: "login",
	 * "keygen", "request", "verify", "write", "remove-old", "done" (a resumed renewal skips the steps
	 * already done); each is given to `onProgress` as {serial, step, index (1…7), total (7), detail
	 * (keygen: the key type, request: the CA's URL, done: the new end date; else null)}.
	 *
	 * After any error the old certificate still works; calling renewStart again carries on.
	 *
	 * @param {object} args
	 * @param {string} args.pin
	 * @param {string} [args.token] serial or label
	 * @param {boolean} [args.force=false] ask the CA even outside the online window (R-R2): the CA decides
	 * @param {(progress: {serial: string, step: string, index: number, total: number, detail: string|null}) => void} [args.onProgress]
	 * @param {{timeout?: number}} [options] timeout in ms (default 180000: the CA may take up to 30 s per request)
	 * @returns {Promise<object>} the renewCheck object plus {result: "renewed", new_not_after: "YYYY-MM-DD",
	 *   warning: null | string (the CA's dates differ from what R-R3/R-R4 give: the CA decides)}
	 * @throws {PinIncorrectError|PinLockedError} wrong PIN (`triesLeft`), or locked (R-P2)
	 * @throws {RenewNotOpenError} not open now (R-R2, R-R5); no PIN tried
	 * @throws {RenewPendingError} the CA holds the order (R-R6): try again later
	 * @throws {CaError} ca-unreachable (`notConfigured`: the agent has no --ca-url), ca-untrusted, ca-refused, ca-failed, ca-bad-response
	 * @throws {NoTokenError|UkeyError|ConnectionError} e.g. token-removed
	 */
	renewStart({ pin, token, force = false, onProgress } = {}, { timeout = 180000 } = {}) {
		if (onProgress !== undefined && onProgress !== null && typeof onProgress !== "function")
			return Promise.reject(new TypeError("renewStart: onProgress must be a function"));
		const entry = { token: token === undefined || token === null || token === "" ? null : String(token), serial: null, onProgress: onProgress || null };
		this._renewals.push(entry);
		const params = withToken({ pin: String(pin ?? "") }, token);
		if (force)
			params.force = true;
		// Sent at once; neither the PIN nor params outlive this function (the entry holds no PIN).
		return this.call("renew.start", params, { timeout }).finally(() => {
			const i = this._renewals.indexOf(entry);
			if (i >= 0)
				this._renewals.splice(i, 1);
		});
	}

	/**
	 * Close the connection for good: no reconnect; calls in flight reject with
	 * ConnectionError.
	 */
	close() {
		const prev = this._state;
		this._state = "closed";
		this._userClosed = true;
		clearTimeout(this._retryTimer);
		clearTimeout(this._keepAliveTimer);
		this._retryTimer = this._keepAliveTimer = null;
		this._settleFirst(new ConnectionError("The connection to the ukey agent was closed by the page.", { reason: "closed" }));
		const ws = this._ws;
		if (ws && prev !== "closed") {
			// The close event still arrives and tells the listeners ("close", willReconnect false).
			try {
				ws.close(1000, "bye");
			} catch {
				/* already closing */
			}
		} else {
			this._failPending("The connection to the ukey agent was closed by the page", "closed");
		}
	}
}

function withToken(params, token) {
	if (token !== undefined && token !== null && token !== "")
		params.token = String(token);
	return params;
}
