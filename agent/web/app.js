// SPDX-License-Identifier: LGPL-2.1-or-later
// The agent's own page: the inserted USBKeys, their certificates (days left,
// renewal window per R-R2) and PIN state (R-P1..R-P3), a PIN check and a PIN
// change per key, kept live by the agent's notifications; online renewal of a
// certificate in its window (renew.check, then renew.start with its steps,
// R-R2…R-R6, R-P4); the last device event (device.changed); the technician's
// diagnosis (R-D1…R-D7) with its printable report.
//
// PINs: each PIN is read from its input in the submit handler, the input is
// cleared at once, the PIN is handed to one SDK call and the handler's
// variable is dropped before the answer comes. Nothing is stored: not in
// localStorage (which holds only the language), not in the page's state.

import {
	Agent, CaError, ConnectionError, PinIncorrectError, PinLockedError, RenewNotOpenError, RenewPendingError,
} from "./sdk/ukey.js";
import { messages, t, setLang, getLang, initialLang, htmlLang } from "./i18n.js";

const DAY_MS = 86400000;
const RENEW_OPEN_DAYS = 90; // R-R2

const $ = (sel, root = document) => root.querySelector(sel);

/** Build an element: h("p", {class: "x", "data-testid": "y"}, "text", child…). */
function h(tag, attrs = {}, ...children) {
	const el = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs)) {
		if (v === undefined || v === null || v === false)
			continue;
		if (k === "text")
			el.textContent = v;
		else
			el.setAttribute(k, v === true ? "" : String(v));
	}
	for (const c of children) {
		if (c === undefined || c === null || c === false)
			continue;
		el.append(c instanceof Node ? c : String(c));
	}
	return el;
}

/* ------------------------------------------------------------------ state */

const state = {
	conn: "connecting", // connecting | open | reconnecting | closed
	everOpened: false,
	retryAt: 0,
	attempt: 0,
	version: null,
	maxTries: 10,
	loaded: false,
	tokens: [],
	tokensError: null,
	certs: new Map(), // serial → {list} | {error}
	device: null, // the last device.changed params
	diag: null, // the last diagnose result
	diagBusy: false,
	renewPending: new Map(), // serial → renew.pending params: a renewal begun and not finished
};

const agent = new Agent({ wait: true });

/* ------------------------------------------------------------------ text helpers */

function isoDate(iso) {
	const ms = Date.parse(iso);
	return Number.isFinite(ms) ? new Date(ms).toISOString().slice(0, 10) : String(iso ?? "");
}

/* The value of attribute `name` in an RFC 2253 DN ("CN=BJCA CA,O=BJCA,C=CN"), honouring backslash escapes. */
function dnAttr(dn, name) {
	if (typeof dn !== "string")
		return null;
	const parts = [];
	let cur = "";
	for (let i = 0; i < dn.length; i++) {
		const c = dn[i];
		if (c === "\\" && i + 1 < dn.length) {
			cur += dn[++i];
		} else if (c === "," || c === "+") {
			parts.push(cur);
			cur = "";
		} else {
			cur += c;
		}
	}
	parts.push(cur);
	for (const p of parts) {
		const eq = p.indexOf("=");
		if (eq > 0 && p.slice(0, eq).trim().toUpperCase() === name)
			return p.slice(eq + 1).trim();
	}
	return null;
}

/* The first day of online renewal (R-R2): fewer than 90 days left, as the core counts it (agent/core/renew.c). */
function opensOn(cert) {
	const end = Date.parse(cert.not_after);
	return Number.isFinite(end) ? isoDate(new Date(end - RENEW_OPEN_DAYS * DAY_MS + 1000).toISOString()) : "";
}

/* Days since not_after, as the core counts them (floor of whole days; agent/core/validity.c). */
function daysExpired(cert) {
	const end = Date.parse(cert.not_after);
	if (Number.isFinite(end))
		return Math.floor((Date.now() - end) / DAY_MS);
	return Math.max(0, -Number(cert.days_left || 0));
}

function triesText(pin) {
	if (!pin)
		return "";
	const max = pin.max_tries ?? state.maxTries;
	if (pin.locked)
		return t("pin.locked");
	if (pin.tries_left === null || pin.tries_left === undefined)
		return t("pin.tries.unknown", { max });
	return t("pin.tries", { n: pin.tries_left, max });
}

/* A message as {key, params, kind}: kept on its element (never with a PIN in it) so a language switch can redraw it. */
function errorMsg(e) {
	if (e instanceof PinIncorrectError) {
		if (e.locked)
			return { key: "err.pin-incorrect.locked", kind: "error" };
		if (e.triesLeft === null)
			return { key: "err.pin-incorrect.unknown", kind: "error" };
		return { key: "err.pin-incorrect", params: { n: e.triesLeft }, kind: e.triesLeft <= 1 ? "error" : "warn" };
	}
	if (e instanceof PinLockedError)
		return { key: "err.pin-locked", kind: "error" };
	if (e instanceof ConnectionError)
		return { key: e.reason === "not-connected" ? "err.not-connected" : "err.connection", kind: "error" };
	if (e && e.id === "token-removed" && e.triesLeft !== null)
		return { key: "err.token-removed.tries", params: { n: e.triesLeft }, kind: "error" };
	if (e && e.id && messages.en[`err.${e.id}`])
		return { key: `err.${e.id}`, kind: "error" };
	return { key: "err.generic", params: { message: (e && e.message) || String(e) }, kind: "error" };
}

function showMsg(el, msg) {
	el._msg = msg;
	drawMsg(el);
}

function drawMsg(el) {
	const m = el._msg;
	el.textContent = m ? t(m.key, m.params || {}) : "";
	el.className = `msg${m ? ` msg-${m.kind || "info"}` : ""}`;
	if (m && m.kind)
		el.dataset.kind = m.kind;
	else
		delete el.dataset.kind;
}

/* ------------------------------------------------------------------ static text, language */

function renderStatic() {
	const lang = getLang();
	document.documentElement.lang = htmlLang(lang);
	document.title = t("app.title");
	for (const el of document.querySelectorAll("[data-i18n]"))
		el.textContent = t(el.dataset.i18n, el._i18nParams || {});
	for (const el of document.querySelectorAll("[data-i18n-label]"))
		el.setAttribute("aria-label", t(el.dataset.i18nLabel));
	for (const el of document.querySelectorAll(".msg"))
		drawMsg(el);
	const toggle = $('[data-testid="lang-toggle"]');
	toggle.dataset.lang = lang;
	for (const s of toggle.querySelectorAll("[data-lang]"))
		s.classList.toggle("on", s.dataset.lang === lang);
	toggle.title = t("lang.label");
}

function switchLang() {
	setLang(getLang() === "zh_CN" ? "en" : "zh_CN", { remember: true });
	renderAll();
}

/* ------------------------------------------------------------------ connection */

let connTimer = null;

function renderConnection() {
	const el = $('[data-testid="connection"]');
	const text = $(".conn-text", el);
	el.dataset.state = state.conn;
	let s;
	if (state.conn === "open") {
		s = state.version ? t("conn.open.version", { version: state.version }) : t("conn.open");
	} else if (state.conn === "reconnecting" || (state.conn === "connecting" && state.attempt > 0)) {
		const secs = Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000));
		const id = state.everOpened ? "conn.reconnecting" : "conn.retrying";
		s = secs > 0 ? t(id, { s: secs, n: state.attempt }) : t(`${id}.now`);
	} else if (state.conn === "connecting") {
		s = t("conn.connecting");
	} else {
		s = t("conn.closed");
	}
	text.textContent = s;
	const hint = $("#conn-hint");
	const showHint = state.conn !== "open" && state.attempt >= 2;
	hint.hidden = !showHint;
	if (showHint)
		hint.textContent = t("conn.hint");
	document.body.classList.toggle("offline", state.conn !== "open");
	for (const card of document.querySelectorAll(".token"))
		updateFormDisabled(card);
	updateDiagDisabled();
	clearTimeout(connTimer);
	// Count the seconds down until the next try.
	if (state.conn !== "open" && state.retryAt > Date.now())
		connTimer = setTimeout(renderConnection, 250);
}

agent.on("open", async () => {
	state.conn = "open";
	state.everOpened = true;
	state.attempt = 0;
	renderConnection();
	try {
		const info = await agent.info();
		state.version = info && info.version ? info.version : null;
		if (info && Number.isInteger(info.max_tries))
			state.maxTries = info.max_tries;
		renderConnection();
	} catch {
		/* the list below still works */
	}
	refresh();
});

agent.on("close", () => {
	state.conn = agent.state === "closed" ? "closed" : "reconnecting";
	renderConnection();
});

agent.on("reconnecting", ({ attempt, delay }) => {
	state.conn = state.everOpened ? "reconnecting" : "connecting";
	state.attempt = attempt;
	state.retryAt = Date.now() + delay;
	renderConnection();
});

/* A renewal begun and not finished (interrupted, or waiting at the CA, R-R6): the agent says so at
   connect; only the PIN can take it on, so the key offers "Renew online" with what is waiting. */
agent.on("renew.pending", (p) => {
	if (!p || typeof p !== "object" || typeof p.serial !== "string")
		return;
	state.renewPending.set(p.serial, p);
	renderTokens();
});

/* Keys come and go, or lock: list them again, without a page reload. */
for (const ev of ["token.inserted", "token.removed", "pin.locked"])
	agent.on(ev, () => scheduleRefresh());

/* A key, reader or card came or went, a card is mute, pcscd stopped or came back: one status line.
   The token list is left to token.inserted / token.removed, which follow a key's device event. */
agent.on("device.changed", (ev) => {
	if (!ev || typeof ev !== "object" || typeof ev.event !== "string")
		return;
	state.device = ev;
	renderDeviceStatus();
});

/* ------------------------------------------------------------------ data */

let refreshSeq = 0;
let refreshTimer = null;

function scheduleRefresh(delay = 120) {
	clearTimeout(refreshTimer);
	refreshTimer = setTimeout(refresh, delay);
}

let certRetries = 0;

async function refresh() {
	clearTimeout(refreshTimer);
	const seq = ++refreshSeq;
	let tokens;
	const certs = new Map();
	try {
		tokens = await agent.tokens();
		// One key after the other: the agent allows 8 requests in flight per connection.
		for (const tk of tokens) {
			try {
				certs.set(tk.serial, { list: await agent.certificates(tk.serial) });
			} catch (e) {
				certs.set(tk.serial, { error: e });
			}
		}
	} catch (e) {
		if (seq !== refreshSeq)
			return;
		if (!(e instanceof ConnectionError)) {
			state.tokensError = e;
			state.loaded = true;
			renderTokens();
		}
		return;
	}
	if (seq !== refreshSeq)
		return;
	state.tokens = tokens;
	state.certs = certs;
	state.tokensError = null;
	state.loaded = true;
	renderTokens();
	renderDiagTokens();
	// A key just plugged in may not be readable yet, or may still be written: read it again
	// a few times, backing off, when its certificates failed or fewer came than it reports.
	const incomplete = tokens.some((tk) => {
		const c = certs.get(tk.serial);
		return !c || c.error || (typeof tk.certificates === 'number' && c.list.length < tk.certificates);
	});
	if (incomplete && certRetries < 4)
		scheduleRefresh(1000 * 2 ** certRetries++);
	else if (!incomplete)
		certRetries = 0;
}

/* ------------------------------------------------------------------ keys */

function renderTokens() {
	const box = $("#tokens");
	for (const el of [...box.children])
		if (!el.classList.contains("token"))
			el.remove();
	if (state.tokensError) {
		box.prepend(h("p", { class: "empty error" }, t("tokens.error", { message: errorText(state.tokensError) })));
	} else if (!state.loaded) {
		box.prepend(h("p", { class: "empty" }, t("tokens.loading")));
	} else if (!state.tokens.length) {
		box.prepend(h("p", { class: "empty", "data-testid": "no-tokens" }, t("tokens.none")));
	}
	const cards = new Map([...box.querySelectorAll(":scope > .token")].map((c) => [c.dataset.serial, c]));
	const keep = new Set();
	let prev = null;
	for (const tk of state.tokens) {
		let card = cards.get(tk.serial);
		if (!card)
			card = makeCard(tk.serial);
		keep.add(tk.serial);
		fillCard(card, tk, state.certs.get(tk.serial));
		if (prev ? prev.nextElementSibling !== card : box.querySelector(":scope > .token") !== card)
			prev ? prev.after(card) : box.append(card);
		prev = card;
	}
	for (const [serial, card] of cards)
		if (!keep.has(serial))
			card.remove();
	// A key pulled out takes its renewal panel with it (a renewal still running reports on its own).
	for (const [serial, r] of renewals)
		if (!keep.has(serial) && r.phase !== "running")
			renewals.delete(serial);
}

function errorText(e) {
	const m = errorMsg(e);
	return t(m.key, m.params || {});
}

function makeCard(serial) {
	const card = h("article", { class: "token", "data-testid": "token", "data-serial": serial });
	card.append(
		h("header", { class: "token-head" }),
		h("div", { class: "lock-notice", role: "alert", hidden: true }),
		h("section", { class: "certs" }, h("div", { class: "cert-list" }), makeRenewPanel(card)),
		makePinForms(card),
	);
	return card;
}

function fillCard(card, tk, certs) {
	card._token = tk;
	const pin = tk.pin || {};
	card.classList.toggle("locked", !!pin.locked);
	card.dataset.locked = pin.locked ? "true" : "false";

	/* header: label, serial, model, PIN state */
	const head = $(".token-head", card);
	const max = pin.max_tries ?? state.maxTries;
	const badgeClass = pin.locked || pin.final_try ? "badge bad"
		: pin.tries_left === null || pin.tries_left === undefined ? "badge muted"
		: pin.tries_left < max ? "badge warn" : "badge ok";
	const tries = h("span", {
		class: badgeClass,
		"data-testid": "tries-left",
		"data-tries": pin.tries_left ?? "",
		"data-locked": pin.locked ? "true" : "false",
	}, triesText(pin));
	const facts = h("dl", { class: "facts inline" },
		h("dt", {}, t("token.serial")), h("dd", { class: "mono" }, tk.serial),
		h("dt", {}, t("token.model")), h("dd", {}, tk.model || "—"),
		h("dt", {}, t("token.manufacturer")), h("dd", {}, tk.manufacturer || "—"),
	);
	head.replaceChildren(
		h("div", { class: "token-title" },
			h("h3", {}, tk.label || tk.serial),
			h("div", { class: "pin-state" }, h("span", { class: "pin-label" }, t("token.pin")), tries)),
		facts,
	);
	if (!pin.locked && pin.final_try)
		head.append(h("p", { class: "final-try" }, t("pin.final")));

	/* R-P2 / R-P3: what a locked key means and how to unlock it */
	const lock = $(".lock-notice", card);
	lock.hidden = !pin.locked;
	if (pin.locked) {
		lock.replaceChildren(
			h("p", { class: "lock-title" }, pin.locked_by_token ? t("lock.token") : t("lock.count", { max: pin.max_tries ?? state.maxTries })),
			h("p", {}, t("lock.rules")),
			h("ul", {}, h("li", {}, t("lock.online")), h("li", {}, t("lock.onsite"))),
		);
	} else {
		lock.replaceChildren();
	}

	/* certificates */
	const list = $(".cert-list", card);
	const items = [h("h4", {}, t("certs.heading"))];
	if (!certs)
		items.push(h("p", { class: "empty" }, t("certs.loading")));
	else if (certs.error)
		items.push(h("p", { class: "empty error" }, t("certs.error", { message: errorText(certs.error) })));
	else if (!certs.list.length)
		items.push(h("p", { class: "empty" }, t("certs.none")));
	else
		for (const [i, c] of certs.list.entries())
			items.push(renderCert(c, card, i === 0));
	list.replaceChildren(...items);
	renderRenew(card);

	/* PIN forms and the renewal's PIN: built once, only their texts and state change */
	$('[data-i18n="form.verify.hint"]', card)._i18nParams = { max: pin.max_tries ?? state.maxTries };
	$('[data-i18n="renew.pin.hint"]', card)._i18nParams = { max: pin.max_tries ?? state.maxTries };
	for (const el of card.querySelectorAll("[data-i18n]"))
		el.textContent = t(el.dataset.i18n, el._i18nParams || {});
	updateFormDisabled(card);
}

function certStatus(c) {
	switch (c.status) {
	case "valid":
		return { badge: "badge.valid", cls: "ok", text: t("status.valid", { n: c.days_left, date: opensOn(c) }) };
	case "expiring":
		return { badge: "badge.expiring", cls: "warn", text: t("status.expiring", { n: c.days_left }) };
	case "expired": {
		const n = daysExpired(c);
		if (c.renewal_open)
			return { badge: "badge.expired", cls: "bad", text: t("status.expired", { n }) };
		return { badge: "badge.expired.documents", cls: "bad", text: t("status.expired.documents", { n }) };
	}
	case "not-yet-valid":
		return { badge: "badge.not-yet-valid", cls: "muted", text: t("status.not-yet-valid", { date: isoDate(c.not_before) }) };
	default:
		return { badge: "badge.unreadable", cls: "bad", text: t("status.unreadable") };
	}
}

function renderCert(c, card, first) {
	const st = certStatus(c);
	const art = h("article", {
		class: `cert cert-${st.cls}`,
		"data-testid": "cert",
		"data-id": c.id,
		"data-status": c.status,
	});
	if (c.readable === false || c.status === "unreadable") {
		art.append(
			h("div", { class: "cert-head" },
				h("h5", {}, c.label || c.id || "?"),
				h("span", { class: `badge ${st.cls}` }, t(st.badge))),
			h("p", { class: "status-text", "data-testid": "cert-status", "data-status": "unreadable" }, st.text),
		);
		return art;
	}
	const issuerCn = dnAttr(c.issuer, "CN") || c.issuer;
	const days = c.status === "expired"
		? t("cert.daysago", { n: daysExpired(c) })
		: c.status === "not-yet-valid" ? "" : t("cert.daysleft", { n: c.days_left });
	const keyText = c.key_match === "match" || c.key_match === "mismatch" ? t(`keymatch.${c.key_match}`, { type: c.key_type })
		: t("keymatch.unknown", { type: c.key_type || "?" });
	art.append(
		h("div", { class: "cert-head" },
			h("h5", { title: c.subject || "" }, c.subject_cn || c.subject || c.label),
			h("span", { class: `badge ${st.cls}` }, t(st.badge))),
		h("dl", { class: "facts" },
			h("dt", {}, t("cert.org")), h("dd", {}, c.subject_o || "—"),
			h("dt", {}, t("cert.issuer")), h("dd", { title: c.issuer || "" }, issuerCn || "—"),
			h("dt", {}, t("cert.valid")),
			h("dd", {}, t("cert.valid.range", { from: isoDate(c.not_before), to: isoDate(c.not_after) }),
				days ? h("span", { class: `days ${st.cls}`, "data-testid": "days-left" }, days) : null),
			h("dt", {}, t("cert.serial")), h("dd", { class: "mono" }, c.serial || "—"),
			h("dt", {}, t("cert.key")),
			h("dd", { class: c.key_match === "mismatch" ? "bad-text" : "", "data-testid": "key-match", "data-match": c.key_match }, keyText),
		),
		h("p", {
			class: `status-text ${st.cls}`,
			"data-testid": "cert-status",
			"data-status": c.status,
			"data-renewal-open": c.renewal_open ? "true" : "false",
		}, st.text),
		renewAction(c, card, first),
	);
	return art;
}

/* ------------------------------------------------------------------ PIN forms */

let formSeq = 0;

function pinField(labelKey, testid, autocomplete) {
	const id = `pin-${++formSeq}`;
	return h("div", { class: "field" },
		h("label", { for: id, "data-i18n": labelKey }, t(labelKey)),
		h("input", {
			id, type: "password", "data-testid": testid, autocomplete, maxlength: 64,
			spellcheck: "false", autocapitalize: "off", "data-lpignore": "true", required: true,
		}));
}

function makePinForms(card) {
	const verify = h("form", { class: "pin-form verify", novalidate: true },
		h("h4", { "data-i18n": "form.verify.title" }, t("form.verify.title")),
		h("div", { class: "row" },
			pinField("form.verify.label", "pin-input", "off"),
			h("button", { type: "submit", class: "primary", "data-testid": "pin-verify", "data-i18n": "form.verify.button" }, t("form.verify.button"))),
		h("p", { class: "hint", "data-i18n": "form.verify.hint" }),
		h("p", { class: "msg", "data-testid": "pin-message", role: "status", "aria-live": "polite" }),
	);
	const change = h("form", { class: "pin-form change", novalidate: true },
		h("h4", { "data-i18n": "form.change.title" }, t("form.change.title")),
		h("div", { class: "row wrap" },
			pinField("form.change.current", "pin-change-current", "off"),
			pinField("form.change.new", "pin-change-new", "new-password"),
			pinField("form.change.again", "pin-change-again", "new-password"),
			h("button", { type: "submit", "data-testid": "pin-change", "data-i18n": "form.change.button" }, t("form.change.button"))),
		h("p", { class: "msg", "data-testid": "pin-change-message", role: "status", "aria-live": "polite" }),
	);
	verify.addEventListener("submit", (ev) => onVerify(ev, card, verify));
	change.addEventListener("submit", (ev) => onChange(ev, card, change));
	return h("section", { class: "pin-forms" }, verify, change,
		h("p", { class: "locked-note", "data-i18n": "form.locked", hidden: true }),
		h("p", { class: "offline-note", "data-i18n": "form.offline", hidden: true }));
}

function updateFormDisabled(card) {
	const tk = card._token;
	const locked = !!(tk && tk.pin && tk.pin.locked);
	const off = locked || card._busy || card._renewing || state.conn !== "open";
	for (const el of card.querySelectorAll(".pin-forms input, .pin-forms button"))
		el.disabled = off;
	$(".locked-note", card).hidden = !locked;
	$(".offline-note", card).hidden = locked || state.conn === "open";
	updateRenewDisabled(card, off);
}

function setBusy(card, busy) {
	card._busy = busy;
	card.setAttribute("aria-busy", busy ? "true" : "false");
	updateFormDisabled(card);
}

async function onVerify(ev, card, form) {
	ev.preventDefault();
	if (card._busy)
		return;
	const input = $('[data-testid="pin-input"]', form);
	const msg = $('[data-testid="pin-message"]', form);
	let pin = input.value;
	input.value = "";
	if (!pin) {
		showMsg(msg, { key: "msg.empty", kind: "warn" });
		return;
	}
	setBusy(card, true);
	showMsg(msg, { key: "form.busy", kind: "info" });
	try {
		const call = agent.verifyPin(pin, card.dataset.serial);
		pin = null; // handed over; the page keeps no copy
		const r = await call;
		showMsg(msg, { key: "msg.verified", params: { n: r.tries_left, max: r.max_tries }, kind: "ok" });
	} catch (e) {
		showMsg(msg, errorMsg(e));
	} finally {
		pin = null;
		input.value = "";
		setBusy(card, false);
		scheduleRefresh(0);
	}
}

async function onChange(ev, card, form) {
	ev.preventDefault();
	if (card._busy)
		return;
	const inputs = ["pin-change-current", "pin-change-new", "pin-change-again"].map((id) => $(`[data-testid="${id}"]`, form));
	const msg = $('[data-testid="pin-change-message"]', form);
	let [pin, newPin, again] = inputs.map((i) => i.value);
	for (const i of inputs)
		i.value = "";
	if (!pin || !newPin) {
		pin = newPin = again = null;
		showMsg(msg, { key: "msg.empty", kind: "warn" });
		return;
	}
	if (newPin !== again) {
		pin = newPin = again = null;
		showMsg(msg, { key: "msg.mismatch", kind: "warn" });
		return;
	}
	setBusy(card, true);
	showMsg(msg, { key: "form.busy", kind: "info" });
	try {
		const call = agent.changePin(pin, newPin, card.dataset.serial);
		pin = newPin = again = null; // handed over; the page keeps no copy
		await call;
		showMsg(msg, { key: "msg.changed", kind: "ok" });
	} catch (e) {
		showMsg(msg, errorMsg(e));
	} finally {
		pin = newPin = again = null;
		for (const i of inputs)
			i.value = "";
		setBusy(card, false);
		scheduleRefresh(0);
	}
}

/* ------------------------------------------------------------------ online renewal
 *
 * A certificate in its renewal window (cert.list's renewal_open, R-R2) gets "Renew online". The panel
 * under the key's certificates then reads renew.check (no PIN, nothing touched) and shows what will
 * happen: the new end date and its rule (R-R3, R-R4), the PIN unchanged (R-P4). The PIN typed there
 * goes to one renew.start; its renew.progress notifications tick off the seven steps; then the result,
 * or what went wrong in one sentence, and the certificate list is read again.
 */

const RENEW_STEPS = ["login", "keygen", "request", "verify", "write", "remove-old", "done"];
const STEP_DETAILS = new Set(["keygen", "request"]); // the key type; the CA's address

/*
 * serial → the renewal shown for that key:
 * {phase: "checking" | "confirm" | "running" | "done" | "error", plan (renew.check's object),
 *  started (a step list to show), steps: {step: "active" | "done" | "failed" | "waiting" (at the CA, R-R6)},
 *  details: {step: text}, result (renew.start's), msg, retry (whether "Try again" can help)}.
 * Never a PIN.
 */
const renewals = new Map();

function cardOf(serial) {
	return [...document.querySelectorAll("#tokens > .token")].find((c) => c.dataset.serial === serial) || null;
}

/* The action under a certificate: "Renew online" while the window is open, or while a renewal of the
   key waits to be finished (renew.pending; under its first certificate); before the window opens, the
   same button disabled with the day it opens (R-R2). Expired beyond 365 days (R-R5), not valid yet or
   unreadable: nothing here (the status text says what to do). */
function renewAction(c, card, first) {
	const pending = first ? state.renewPending.get(card.dataset.serial) : null;
	if (c.renewal_open || pending) {
		const btn = h("button", { type: "button", class: "primary renew-start", "data-testid": "renew-button" }, t("renew.button"));
		btn.addEventListener("click", () => startRenew(card));
		return h("div", { class: "renew-action" }, btn, pending ? pendingNote(pending) : null);
	}
	if (c.status === "valid") {
		const date = opensOn(c);
		const id = `renew-opens-${++formSeq}`;
		return h("div", { class: "renew-action" },
			h("button", { type: "button", class: "primary renew-start", "data-testid": "renew-button", disabled: true, "data-closed": "true", "aria-describedby": id }, t("renew.button")),
			h("span", { class: "hint renew-opens", id, "data-testid": "renew-opens", "data-date": date }, t("renew.opens", { date })));
	}
	return null;
}

/* What renew.pending said: waiting at the CA until about a time (R-R6), or begun and interrupted. */
function pendingNote(p) {
	const when = p.state === "pending" ? localTime(p.retry_after) : "";
	return h("span", { class: "hint renew-waiting", "data-testid": "renew-waiting", "data-state": p.state || "" },
		when ? t("renew.waiting.ca", { time: when }) : t("renew.waiting", { state: p.state || "?" }));
}

/* "YYYY-MM-DD HH:MM" in this computer's time zone; "" when not a time. */
function localTime(iso) {
	const d = new Date(Date.parse(iso));
	if (typeof iso !== "string" || !Number.isFinite(d.getTime()))
		return "";
	const p2 = (n) => String(n).padStart(2, "0");
	return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())} ${p2(d.getHours())}:${p2(d.getMinutes())}`;
}

function makeRenewPanel(card) {
	const head = `renew-title-${++formSeq}`;
	const pinId = `renew-pin-${++formSeq}`;
	const form = h("form", { class: "renew-form", novalidate: true },
		h("div", { class: "row" },
			h("div", { class: "field" },
				h("label", { for: pinId, "data-i18n": "renew.pin" }, t("renew.pin")),
				h("input", {
					id: pinId, type: "password", "data-testid": "renew-pin", autocomplete: "off", maxlength: 64,
					spellcheck: "false", autocapitalize: "off", "data-lpignore": "true", required: true,
				})),
			h("button", { type: "submit", class: "primary", "data-testid": "renew-submit", "data-i18n": "renew.submit" }, t("renew.submit")),
			h("button", { type: "button", class: "secondary", "data-testid": "renew-cancel", "data-i18n": "renew.cancel" }, t("renew.cancel"))),
		h("p", { class: "hint", "data-i18n": "renew.pin.hint" }));
	form.addEventListener("submit", (ev) => onRenewSubmit(ev, card, form));
	$('[data-testid="renew-cancel"]', form).addEventListener("click", () => closeRenew(card));
	const retry = h("button", { type: "button", class: "secondary", "data-testid": "renew-retry", "data-i18n": "renew.retry" }, t("renew.retry"));
	const close = h("button", { type: "button", class: "secondary", "data-testid": "renew-close", "data-i18n": "renew.close" }, t("renew.close"));
	retry.addEventListener("click", () => startRenew(card));
	close.addEventListener("click", () => closeRenew(card));
	return h("section", { class: "renew", "data-testid": "renew-panel", "aria-labelledby": head, hidden: true },
		h("h4", { id: head, tabindex: -1, "data-i18n": "renew.title" }, t("renew.title")),
		h("div", { class: "renew-plan", "data-testid": "renew-plan" }),
		form,
		h("p", { class: "msg", "data-testid": "renew-message", role: "status", "aria-live": "polite" }),
		h("div", { class: "renew-result", "data-testid": "renew-result", hidden: true }),
		h("div", { class: "renew-progress", "data-testid": "renew-progress", hidden: true }),
		h("div", { class: "renew-buttons" }, retry, close));
}

/* What renew.check says will happen: the certificate, its end now, the new end and its rule, the PIN kept. */
function renewPlanView(plan) {
	const c = plan.certificate || {};
	const r = plan.renewal || {};
	const days = c.status === "expired"
		? t("cert.daysago", { n: c.days_expired ?? Math.max(0, -Number(c.days_left || 0)) })
		: t("cert.daysleft", { n: c.days_left });
	const rule = messages.en[`renew.rule.${r.rule}`] ? t(`renew.rule.${r.rule}`) : r.rule || "—";
	return [
		h("dl", { class: "facts" },
			...fact(t("renew.cert"), c.subject_cn || c.subject || "—"),
			...fact(t("renew.ends"), h("span", {}, isoDate(c.not_after), " ", h("span", { class: "muted-text" }, `(${days})`))),
			...(r.open || r.in_progress ? [
				...fact(t("renew.new-end"), r.expected_not_after || "—", { class: "strong renew-new", "data-testid": "renew-expected", "data-date": r.expected_not_after || "" }),
				...fact(t("renew.rule"), rule, { "data-testid": "renew-rule", "data-rule": r.rule || "" }),
			] : [])),
		r.open || r.in_progress ? h("p", { class: "renew-note" }, t("renew.what")) : null,
		r.open || r.in_progress ? h("p", { class: "renew-note renew-pin-same" }, h("strong", { "data-testid": "renew-pin-same" }, t("renew.pin-same"))) : null,
		r.in_progress ? h("p", { class: "renew-note warn-text", "data-testid": "renew-resume" }, t("renew.resume", { state: r.journal_state || "?" })) : null,
	];
}

function renderRenew(card) {
	const panel = $('[data-testid="renew-panel"]', card);
	if (!panel)
		return;
	const R = renewals.get(card.dataset.serial);
	panel.hidden = !R;
	const planBox = $('[data-testid="renew-plan"]', panel);
	const form = $(".renew-form", panel);
	const progress = $('[data-testid="renew-progress"]', panel);
	const result = $('[data-testid="renew-result"]', panel);
	const msg = $('[data-testid="renew-message"]', panel);
	if (!R) {
		panel.removeAttribute("data-phase");
		panel.removeAttribute("data-kind");
		planBox.replaceChildren();
		progress.replaceChildren();
		result.replaceChildren();
		showMsg(msg, null);
		updateRenewDisabled(card);
		return;
	}
	panel.dataset.phase = R.phase;
	panel.dataset.kind = R.phase === "error" ? (R.msg && R.msg.kind) || "error" : "";
	panel.setAttribute("aria-busy", R.phase === "checking" || R.phase === "running" ? "true" : "false");
	// The plan until the result replaces it.
	if (R.phase === "checking")
		planBox.replaceChildren(h("p", { class: "muted-text" }, t("renew.checking")));
	else if (R.plan && R.phase !== "done")
		planBox.replaceChildren(...renewPlanView(R.plan).filter(Boolean));
	else
		planBox.replaceChildren();
	form.hidden = R.phase !== "confirm";
	progress.hidden = !R.started;
	if (R.started)
		progress.replaceChildren(...renewStepsView(R));
	result.hidden = R.phase !== "done" || !R.result;
	if (R.phase === "done" && R.result) {
		const r = R.result;
		const rule = r.renewal && messages.en[`renew.rule.${r.renewal.rule}`] ? t(`renew.rule.${r.renewal.rule}`) : "";
		// The CA's warning (its dates differ from R-R3/R-R4: the CA decides) is the agent's English.
		// Not a .msg: those are redrawn from their message id on a language switch.
		result.replaceChildren(...[
			h("dl", { class: "facts" },
				...fact(t("renew.new-end"), r.new_not_after || "—", { class: "strong renew-new", "data-testid": "renew-new-end", "data-date": r.new_not_after || "" }),
				...(rule ? fact(t("renew.rule"), rule) : [])),
			r.warning ? h("p", { class: "renew-warning", "data-testid": "renew-warning" },
				h("strong", {}, `${t("renew.warning")}: `), enText("span", {}, r.warning)) : null,
		].filter(Boolean));
	} else {
		result.replaceChildren();
	}
	showMsg(msg, R.msg || null);
	$('[data-testid="renew-retry"]', panel).hidden = !(R.phase === "error" && R.retry);
	$('[data-testid="renew-close"]', panel).hidden = !(R.phase === "error" || R.phase === "done");
	updateRenewDisabled(card);
}

/* The seven steps as a list: done ✓, the current one, those to come, and where it failed ✕. */
function renewStepsView(R) {
	const doneCount = RENEW_STEPS.filter((s) => R.steps[s] === "done").length;
	const current = RENEW_STEPS.find((s) => ["active", "failed", "waiting"].includes(R.steps[s]));
	const index = current ? RENEW_STEPS.indexOf(current) + 1 : doneCount;
	const bar = h("div", { class: "renew-bar" },
		h("progress", { max: RENEW_STEPS.length, value: doneCount, "aria-hidden": "true" }),
		h("span", { class: "renew-count", "data-testid": "renew-count" }, t("renew.progress", { i: Math.max(1, index), n: RENEW_STEPS.length })));
	const list = h("ol", { class: "renew-steps", "data-testid": "renew-steps" }, ...RENEW_STEPS.map((step, i) => {
		const st = R.steps[step] || "pending";
		const mark = { done: "✓", failed: "✕", waiting: "…" }[st] || String(i + 1);
		const detail = STEP_DETAILS.has(step) && R.details[step] ? R.details[step] : null;
		return h("li", {
			class: `renew-step step-${st}`, "data-testid": "renew-step", "data-step": step, "data-state": st,
			"aria-current": st === "active" ? "step" : null,
		},
		h("span", { class: "mark", "aria-hidden": "true" }, mark),
		h("span", { class: "step-text" }, t(`renew.step.${step}`),
			detail ? h("span", { class: "step-detail", lang: "en" }, detail) : null));
	}));
	return [bar, list];
}

function updateRenewDisabled(card, off) {
	if (off === undefined) {
		const tk = card._token;
		off = !!(tk && tk.pin && tk.pin.locked) || card._busy || card._renewing || state.conn !== "open";
	}
	const R = renewals.get(card.dataset.serial);
	const active = !!R && (R.phase === "checking" || R.phase === "confirm" || R.phase === "running");
	for (const b of card.querySelectorAll('[data-testid="renew-button"]'))
		b.disabled = b.dataset.closed === "true" || off || active;
	const form = $(".renew-form", card);
	if (form)
		for (const el of form.querySelectorAll("input, button"))
			el.disabled = el.dataset.testid === "renew-cancel" ? !!card._renewing : off;
	for (const b of card.querySelectorAll('[data-testid="renew-retry"]'))
		b.disabled = off;
}

function closeRenew(card) {
	if (card._renewing)
		return;
	renewals.delete(card.dataset.serial);
	const pin = $('[data-testid="renew-pin"]', card);
	if (pin)
		pin.value = "";
	renderRenew(card);
	const btn = $('[data-testid="renew-button"]:not([disabled])', card);
	if (btn)
		btn.focus();
}

/* "Renew online": read renew.check (no PIN), then ask for the PIN, or say why not. */
async function startRenew(card) {
	const serial = card.dataset.serial;
	const R = { phase: "checking", plan: null, steps: {}, details: {}, result: null, msg: null, retry: false, started: false };
	renewals.set(serial, R);
	renderRenew(card);
	$('[data-testid="renew-panel"]', card).scrollIntoView({ block: "nearest" });
	try {
		R.plan = await agent.renewCheck({ token: serial });
		if (renewals.get(serial) !== R)
			return; // closed meanwhile
		const r = R.plan.renewal || {};
		if (!r.in_progress)
			state.renewPending.delete(serial); // finished meanwhile (another page, the CLI)
		if (r.open || r.in_progress) {
			R.phase = "confirm";
		} else {
			R.phase = "error";
			R.msg = notOpenMsg(R.plan, r.rule === "R-R5" ? "R-R5" : "R-R2");
		}
	} catch (e) {
		if (renewals.get(serial) !== R)
			return;
		R.phase = "error";
		R.msg = renewErrorMsg(e, R.plan);
		R.retry = !(e instanceof RenewNotOpenError);
	}
	const now = cardOf(serial);
	if (!now)
		return;
	renderRenew(now);
	const panel = $('[data-testid="renew-panel"]', now);
	panel.scrollIntoView({ block: "nearest" });
	if (R.phase === "confirm")
		$('[data-testid="renew-pin"]', now).focus({ preventScroll: true });
	else
		$("h4", panel).focus({ preventScroll: true });
}

async function onRenewSubmit(ev, card, form) {
	ev.preventDefault();
	const serial = card.dataset.serial;
	const R = renewals.get(serial);
	if (!R || R.phase !== "confirm" || card._busy || card._renewing)
		return;
	const input = $('[data-testid="renew-pin"]', form);
	let pin = input.value;
	input.value = "";
	if (!pin) {
		R.msg = { key: "msg.empty", kind: "warn" };
		renderRenew(card);
		return;
	}
	Object.assign(R, { phase: "running", started: true, steps: {}, details: {}, msg: { key: "renew.running", kind: "info" } });
	card._renewing = true;
	updateFormDisabled(card);
	renderRenew(card);
	try {
		const call = agent.renewStart({ pin, token: serial, onProgress: (p) => onRenewProgress(serial, R, p) });
		pin = null; // handed over; the page keeps no copy
		R.result = await call;
		state.renewPending.delete(serial);
		for (const s of RENEW_STEPS)
			R.steps[s] = "done";
		R.phase = "done";
		R.msg = { key: "renew.done", params: { date: R.result.new_not_after }, kind: "ok" };
	} catch (e) {
		R.msg = renewErrorMsg(e, R.plan);
		if (e instanceof PinIncorrectError && !e.locked) {
			// Nothing was done: the PIN may be typed again, the steps start over.
			Object.assign(R, { phase: "confirm", started: false, steps: {} });
		} else {
			R.phase = "error";
			R.retry = !(e instanceof RenewNotOpenError || e instanceof PinLockedError || (e instanceof PinIncorrectError && e.locked)
				|| (e instanceof CaError && e.notConfigured));
			// Where it stopped: the step that waits at the CA (R-R6), or the one that failed; no step begun, no list.
			const at = RENEW_STEPS.find((s) => R.steps[s] === "active");
			if (at)
				R.steps[at] = e instanceof RenewPendingError ? "waiting" : "failed";
			R.started = RENEW_STEPS.some((s) => R.steps[s]);
		}
	} finally {
		pin = null;
		input.value = "";
		card._renewing = false;
		const now = cardOf(serial) || card;
		updateFormDisabled(now);
		renderRenew(now);
		if (R.phase === "confirm")
			$('[data-testid="renew-pin"]', now).focus({ preventScroll: true });
		scheduleRefresh(0); // the new certificate, or the tries left
	}
}

/* A renew.progress: this step has begun, every one before it is done ("done" itself is done). */
function onRenewProgress(serial, R, p) {
	const i = RENEW_STEPS.indexOf(p && p.step);
	if (renewals.get(serial) !== R || R.phase !== "running" || i < 0)
		return;
	for (let k = 0; k < i; k++)
		R.steps[RENEW_STEPS[k]] = "done";
	R.steps[p.step] = p.step === "done" ? "done" : "active";
	if (typeof p.detail === "string" && p.detail)
		R.details[p.step] = p.detail;
	const card = cardOf(serial);
	if (card)
		renderRenew(card);
}

function notOpenMsg(plan, rule) {
	if (rule === "R-R5")
		return { key: "renew.err.not-open.R-R5", kind: "warn" };
	const r = (plan && plan.renewal) || {};
	return { key: "renew.err.not-open", params: { date: r.opens_on || "?" }, kind: "warn" };
}

/* What went wrong with a renewal, in one sentence of the page's language. */
function renewErrorMsg(e, plan) {
	if (e instanceof PinIncorrectError && !e.locked && e.triesLeft !== null)
		return { key: "renew.err.pin-incorrect", params: { n: e.triesLeft }, kind: e.triesLeft <= 1 ? "error" : "warn" };
	if (e instanceof RenewNotOpenError)
		return notOpenMsg(plan, e.rule);
	if (e instanceof RenewPendingError)
		return { key: "renew.err.pending", kind: "warn" };
	if (e instanceof CaError) {
		if (e.notConfigured)
			return { key: "renew.err.no-ca", kind: "error" };
		if (e.id === "ca-refused") {
			const reason = String(e.message || "").replace(/\.\s*$/, "");
			return reason && !/^The CA refused the request$/i.test(reason)
				? { key: "renew.err.ca-refused", params: { reason }, kind: "error" }
				: { key: "renew.err.ca-refused.plain", kind: "error" };
		}
		return { key: `renew.err.${e.id}`, kind: "error" };
	}
	if (e && e.id === "token-removed")
		return { key: "renew.err.token-removed", kind: "error" };
	if (e instanceof ConnectionError && e.reason !== "not-connected")
		return { key: "renew.err.connection", kind: "error" };
	return errorMsg(e);
}

/* ------------------------------------------------------------------ device events */

const DEVICE_KINDS = {
	"key-inserted": "ok", "card-inserted": "ok", "reader-added": "ok", "pcscd-up": "ok",
	"key-removed": "info", "card-removed": "info", "reader-removed": "info",
	"card-mute": "warn", "pcscd-down": "warn",
};

/* What the user knows the device as: "Feitian ePass2003", else the USB product, else the reader. */
function deviceName(ev, readerFirst = false) {
	const m = ev.model && typeof ev.model === "object" ? ev.model : null;
	const model = m && (m.vendor || m.name) ? [m.vendor, m.name].filter(Boolean).join(" ") : null;
	const product = ev.usb && typeof ev.usb === "object" && ev.usb.product ? String(ev.usb.product) : null;
	const reader = typeof ev.reader === "string" && ev.reader ? ev.reader : null;
	const order = readerFirst ? [reader, model, product] : [model, product, reader];
	return order.find(Boolean) || t("dev.unknown");
}

function timeOf(iso) {
	const d = new Date(Date.parse(iso));
	if (!Number.isFinite(d.getTime()))
		return "";
	return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
}

function renderDeviceStatus() {
	const el = $("#device-status");
	const ev = state.device;
	el.hidden = !ev;
	if (!ev) {
		el.replaceChildren();
		return;
	}
	const known = Object.hasOwn(DEVICE_KINDS, ev.event);
	const name = deviceName(ev, ev.event === "reader-added" || ev.event === "reader-removed");
	const text = known ? t(`dev.${ev.event}`, { name }) : t("dev.other", { event: ev.event, name });
	const kind = known ? DEVICE_KINDS[ev.event] : "info";
	el.className = `device-status device-${kind}`;
	el.dataset.event = ev.event;
	el.dataset.kind = kind;
	const when = timeOf(ev.time);
	el.replaceChildren(
		when ? h("time", { class: "device-time", datetime: ev.time }, when) : null,
		h("span", { class: "device-text", "data-testid": "device-text" }, text),
	);
}

/* ------------------------------------------------------------------ diagnosis */

const VERDICT_KINDS = {
	HEALTHY: "ok", "R-D1": "bad", "R-D2": "bad", "R-D3": "bad",
	ENVIRONMENT: "warn", LOCKED: "warn", EXPIRED: "warn", REVOKED: "bad",
};
const CHECK_STATUSES = ["fail", "warn", "pass", "skipped"];

/* The key selection: shown only when several keys are inserted (with one, the agent takes it). */
function renderDiagTokens() {
	const sel = $("#diag-token");
	const prev = sel.value;
	const several = state.tokens.length > 1;
	sel.closest(".diag-token").hidden = !several;
	sel.replaceChildren(...state.tokens.map((tk) =>
		h("option", { value: tk.serial }, tk.label && tk.label !== tk.serial ? `${tk.label} (${tk.serial})` : tk.serial)));
	if (state.tokens.some((tk) => tk.serial === prev))
		sel.value = prev;
	sel.disabled = !several;
}

function updateDiagDisabled() {
	const form = $("#diag-form");
	const off = state.diagBusy || state.conn !== "open";
	for (const el of form.querySelectorAll("input, button, select"))
		el.disabled = off || (el.id === "diag-token" && state.tokens.length < 2);
	const msg = $('[data-testid="diag-message"]', form);
	if (state.conn !== "open" && !state.diagBusy && (state.everOpened || state.attempt > 0))
		showMsg(msg, { key: "diag.offline", kind: "warn" });
	else if (msg._msg && msg._msg.key === "diag.offline")
		showMsg(msg, null);
}

async function onDiagnose(ev) {
	ev.preventDefault();
	if (state.diagBusy)
		return;
	const form = ev.currentTarget;
	const msg = $('[data-testid="diag-message"]', form);
	const date = $("#diag-first-issued");
	if (date.validity.badInput || (date.value && !/^\d{4}-\d{2}-\d{2}$/.test(date.value))) {
		showMsg(msg, { key: "diag.bad-date", kind: "warn" });
		date.focus();
		return;
	}
	const led = (form.querySelector('input[name="led"]:checked') || {}).value || undefined;
	const sel = $("#diag-token");
	const token = !sel.closest(".diag-token").hidden && sel.value ? sel.value : undefined;
	setDiagBusy(true);
	showMsg(msg, null);
	try {
		state.diag = await agent.diagnose({ led, firstIssued: date.value || undefined, token });
		if (getLang() === "zh_CN")
			await loadChecksZh(); // drawn once, in Chinese
		renderDiagnosis();
		// The result's heading takes the focus (a screen reader reads from there), and comes into view.
		const head = $("#diag-result h3");
		head.focus({ preventScroll: true });
		$("#diag-result").scrollIntoView({ block: "start" });
	} catch (e) {
		showMsg(msg, errorMsg(e));
	} finally {
		setDiagBusy(false);
	}
}

function setDiagBusy(busy) {
	state.diagBusy = busy;
	const sec = $("#diagnose");
	sec.setAttribute("aria-busy", busy ? "true" : "false");
	$('[data-testid="diag-progress"]').hidden = !busy;
	// The old result goes while a new one is made: it would answer another question.
	if (busy) {
		state.diag = null;
		renderDiagnosis();
	}
	updateDiagDisabled();
}

/* A text from the agent that exists in English only (evidence, the note): marked as English. */
function enText(tag, attrs, text) {
	return h(tag, { ...attrs, lang: getLang() === "en" ? undefined : "en" }, text);
}

/*
 * The check titles and fixes in Chinese: diagnose-zh.js, generated from the message catalogue
 * (agent/po/zh_CN.po) by agent/po/web-strings, keyed by the agent's English. Loaded the first
 * time the page is in Chinese (an English page fetches nothing more); until then, or for a text
 * it lacks, the English shows, marked as English.
 */
let checksZh = null; // the table, once loaded
let checksZhLoad = null; // its loading; always resolves (on failure the English stays)

function loadChecksZh() {
	checksZhLoad ??= import("./diagnose-zh.js").then(
		(m) => { checksZh = m.diagnoseZh || null; },
		() => {});
	return checksZhLoad;
}

/* A check's title or fix: Chinese from the catalogue when the page is Chinese and has it, else the agent's English. */
function checkText(tag, attrs, text) {
	const zh = getLang() === "zh_CN" && checksZh && Object.hasOwn(checksZh, text) ? checksZh[text] : null;
	return typeof zh === "string" && zh ? h(tag, attrs, zh) : enText(tag, attrs, text);
}

function fact(label, value, attrs = {}) {
	return [h("dt", {}, label), h("dd", attrs, value)];
}

function renderDiagnosis() {
	const box = $("#diag-result");
	const d = state.diag;
	if (getLang() === "zh_CN" && !checksZh)
		loadChecksZh().then(() => checksZh && state.diag && getLang() === "zh_CN" && renderDiagnosis());
	box.hidden = !d;
	if (!d) {
		box.replaceChildren();
		return;
	}
	const zh = getLang() === "zh_CN";
	const v = d.verdict || {};
	const w = d.warranty || {};
	const code = String(v.code || "?");
	const kind = VERDICT_KINDS[code] || "warn";
	const ruleText = (zh ? v.rule_text_zh_CN : v.rule_text) || v.rule_text || "";

	/* the verdict, big */
	const verdict = h("div", { class: `verdict verdict-${kind}`, "data-testid": "diag-verdict", "data-code": code },
		h("div", { class: "verdict-head" },
			h("span", { class: "verdict-code", "data-testid": "diag-code" }, code),
			v.media_fault ? h("span", { class: "badge bad" }, t("diag.media-fault")) : null),
		h("p", { class: "verdict-text", "data-testid": "diag-rule-text" }, ruleText),
		v.note ? h("p", { class: "verdict-note", "data-testid": "diag-note" },
			h("strong", {}, `${t("diag.note")}: `), enText("span", {}, v.note)) : null,
	);

	/* what was diagnosed */
	const tk = d.token && typeof d.token === "object" ? d.token : null;
	const about = h("dl", { class: "facts inline diag-about" },
		...fact(t("diag.key"), tk ? (tk.label && tk.label !== tk.serial ? `${tk.label} (${tk.serial})` : tk.serial) : t("diag.nokey")),
		...fact(t("diag.model"), d.model || "—"),
		...fact(t("diag.led.stated"), t(`diag.led.${["off", "blinking", "steady"].includes(d.led) ? d.led : "unknown"}`)),
		...fact(t("diag.time"), d.time ? `${isoDate(d.time)} ${timeOf(d.time)}` : "—"),
	);

	/* warranty and fee (R-D4…R-D6) */
	const source = w.source && messages.en[`diag.source.${w.source}`] ? t(`diag.source.${w.source}`) : w.source;
	const inWarranty = !w.known ? t("diag.unknown") : w.in_warranty ? t("diag.yes") : t("diag.no");
	const warranty = h("section", { class: "diag-block diag-warranty", "data-testid": "diag-warranty" },
		h("h4", {}, t("diag.warranty")),
		h("dl", { class: "facts" },
			...fact(t("diag.first-issued"), !w.first_issued ? "—" : source ? t("diag.first-issued.value", { date: w.first_issued, source }) : w.first_issued),
			...fact(t("diag.until"), w.until || "—"),
			...fact(t("diag.in-warranty"), inWarranty, { "data-testid": "diag-in-warranty", class: w.known ? "" : "muted-text" }),
			...fact(t("diag.fee"), t("diag.fee.value", { fee: w.fee_cny ?? "?", rule: w.rule || "?" }),
				{ "data-testid": "diag-fee", "data-fee": w.fee_cny ?? "", "data-rule": w.rule || "", class: "strong" }),
		));

	/* the next service (a guide entry) */
	const svc = d.service && typeof d.service === "object" ? d.service : null;
	const name = svc && svc.name ? (zh ? svc.name.zh_CN : svc.name.en) || svc.name.en : "";
	const next = h("section", { class: "diag-block diag-next", "data-testid": "diag-next", "data-rule": svc ? svc.rule : "" },
		h("h4", {}, t("diag.next")),
		svc ? h("p", {}, h("span", { class: "rule" }, svc.rule), " ", name) : h("p", {}, t("diag.next.none")),
		svc && svc.old_key ? h("p", { class: "hint" }, (zh ? svc.old_key.zh_CN : svc.old_key.en) || "") : null,
	);

	/* the checks */
	const checks = Array.isArray(d.checks) ? d.checks : [];
	const count = Object.fromEntries(CHECK_STATUSES.map((st) => [st, checks.filter((c) => c.status === st).length]));
	const table = h("table", { class: "checks", "data-testid": "diag-checks" },
		h("thead", {}, h("tr", {},
			h("th", { scope: "col" }, t("diag.col.check")),
			h("th", { scope: "col" }, t("diag.col.status")),
			h("th", { scope: "col" }, t("diag.col.evidence")),
			h("th", { scope: "col" }, t("diag.col.fix")))),
		h("tbody", {}, ...checks.map((c) => {
			const st = CHECK_STATUSES.includes(c.status) ? c.status : "skipped";
			const layer = messages.en[`diag.layer.${c.layer}`] ? t(`diag.layer.${c.layer}`) : c.layer;
			return h("tr", { class: `check check-${st}`, "data-testid": "diag-check", "data-id": c.id, "data-status": st },
				h("td", {}, h("span", { class: "layer" }, layer), checkText("span", { class: "title" }, c.title || c.id)),
				h("td", {}, h("span", { class: `status status-${st}` }, t(`diag.status.${st}`))),
				h("td", {}, enText("span", { class: "evidence" }, c.evidence || "")),
				c.fix ? h("td", {}, checkText("span", { class: "fix" }, c.fix)) : h("td", { class: "none" }, "—"));
		})));

	const report = typeof d.report_html === "string" && d.report_html
		? h("button", { type: "button", class: "secondary", "data-testid": "diag-report" }, t("diag.report"))
		: null;
	if (report)
		report.addEventListener("click", () => openReport(d.report_html));

	box.replaceChildren(
		h("div", { class: "diag-result-head" }, h("h3", { tabindex: -1 }, t("diag.result")), report),
		verdict,
		about,
		h("div", { class: "diag-columns" }, warranty, next),
		h("section", { class: "diag-block diag-checks-block" },
			h("h4", {}, t("diag.checks"), h("span", { class: "checks-summary", "data-testid": "diag-checks-summary" },
				CHECK_STATUSES.filter((st) => count[st]).map((st) => `${t(`diag.status.${st}`)} ${count[st]}`).join(" · "))),
			h("div", { class: "table-wrap" }, table)),
	);
}

/* ------------------------------------------------------------------ printable report
 *
 * report_html is a whole page made by the agent (ukey_report_html in agent/json/diagnose.c). It
 * escapes what comes from the key, but this page still treats the markup as untrusted, so it is
 * shown only in an <iframe srcdoc> with sandbox="allow-same-origin allow-modals":
 *   - no "allow-scripts": nothing in the report can run, whatever it holds; no "allow-forms",
 *     "allow-popups" or "allow-top-navigation" either;
 *   - "allow-same-origin": with scripts off this gives the frame nothing of its own; it lets THIS
 *     page reach into the frame to give it its style sheet and to call print() (a frame with an
 *     opaque origin refuses both). allow-same-origin is only dangerous with allow-scripts, which
 *     would let the frame lift its own sandbox;
 *   - "allow-modals": Chromium ignores print() in a sandboxed frame without it.
 * Not a blob: URL in a new tab: that document would not be sandboxed.
 *
 * A srcdoc (or blob:) document inherits this page's Content-Security-Policy (style-src 'self'),
 * which blocks the report's inline <style> and logs an error. So the report is parsed here into a
 * <template> (inert: no script runs, nothing loads, no style applies, no policy check fires; a
 * DOMParser document would check its <style> against this page's policy and log an error), its
 * <style> elements are taken out, and their text is given to the frame as a constructed style
 * sheet (CSSOM, which the policy allows; replaceSync ignores @import, so nothing is fetched).
 */

let reportFrame = null;

/* The report as {html, css}: the page without its <style> elements, and their text. */
function splitReport(report) {
	const tpl = document.createElement("template");
	tpl.innerHTML = report; // <html>, <head> and <body> tags are dropped, what they hold is kept
	let css = "";
	for (const st of tpl.content.querySelectorAll("style")) {
		css += `${st.textContent}\n`;
		st.remove();
	}
	// Its language (the one attribute of <html> worth keeping), only if it looks like a language tag.
	const m = /^\s*(?:<!doctype[^>]*>\s*)?<html\b[^>]*?\slang=["']?([A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*)["'\s>]/i.exec(report);
	const lang = m ? ` lang="${m[1]}"` : "";
	// The <meta> and <title> ahead of the first body content go back into the head by themselves.
	return { html: `<!DOCTYPE html>\n<html${lang}>${tpl.innerHTML}</html>`, css };
}

function openReport(report) {
	const dialog = $("#report-dialog");
	const paper = $("#report-paper");
	const { html, css } = splitReport(report);
	const frame = h("iframe", {
		class: "report-frame",
		"data-testid": "report-frame",
		sandbox: "allow-same-origin allow-modals",
		referrerpolicy: "no-referrer",
		title: t("report.frame"),
	});
	frame.addEventListener("load", () => {
		const fd = frame.contentDocument;
		if (!fd)
			return;
		try {
			const sheet = new frame.contentWindow.CSSStyleSheet();
			sheet.replaceSync(css);
			fd.adoptedStyleSheets = [sheet];
		} catch {
			/* unstyled, still readable */
		}
		// As tall as the report (at least one A4 page, style.css): the dialog scrolls, not the frame.
		frame.style.height = `${Math.ceil(fd.documentElement.scrollHeight) + 2}px`;
		frame.dataset.ready = "true";
	}, { once: true });
	frame.srcdoc = html;
	paper.replaceChildren(frame);
	reportFrame = frame;
	if (!dialog.open)
		dialog.showModal();
}

function printReport() {
	if (reportFrame && reportFrame.contentWindow && reportFrame.dataset.ready === "true")
		reportFrame.contentWindow.print();
}

function closeReport() {
	const dialog = $("#report-dialog");
	if (dialog.open)
		dialog.close();
}

/* ------------------------------------------------------------------ start */

function renderAll() {
	renderStatic();
	renderConnection();
	renderTokens();
	renderDeviceStatus();
	renderDiagTokens();
	renderDiagnosis();
	if (reportFrame)
		reportFrame.title = t("report.frame");
}

setLang(initialLang());
$('[data-testid="lang-toggle"]').addEventListener("click", switchLang);
$("#diag-form").addEventListener("submit", onDiagnose);
$('[data-testid="report-print"]').addEventListener("click", printReport);
$('[data-testid="report-close"]').addEventListener("click", closeReport);
$("#report-dialog").addEventListener("close", () => {
	// The report's document goes with the dialog.
	$("#report-paper").replaceChildren();
	reportFrame = null;
});
renderAll();
agent.open().catch(() => {
	state.conn = "closed";
	renderConnection();
});
