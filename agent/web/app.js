// SPDX-License-Identifier: LGPL-2.1-or-later
// The agent's own page: the inserted USBKeys, their certificates (days left,
// renewal window per R-R2) and PIN state (R-P1..R-P3), a PIN check and a PIN
// change per key, kept live by the agent's notifications.
//
// PINs: each PIN is read from its input in the submit handler, the input is
// cleared at once, the PIN is handed to one SDK call and the handler's
// variable is dropped before the answer comes. Nothing is stored: not in
// localStorage (which holds only the language), not in the page's state.

import { Agent, ConnectionError, PinIncorrectError, PinLockedError } from "./sdk/ukey.js";
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

/* Keys come and go, or lock: list them again, without a page reload. */
for (const ev of ["token.inserted", "token.removed", "pin.locked"])
	agent.on(ev, () => scheduleRefresh());

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
		h("section", { class: "certs" }),
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
	const sec = $(".certs", card);
	const items = [h("h4", {}, t("certs.heading"))];
	if (!certs)
		items.push(h("p", { class: "empty" }, t("certs.loading")));
	else if (certs.error)
		items.push(h("p", { class: "empty error" }, t("certs.error", { message: errorText(certs.error) })));
	else if (!certs.list.length)
		items.push(h("p", { class: "empty" }, t("certs.none")));
	else
		for (const c of certs.list)
			items.push(renderCert(c));
	sec.replaceChildren(...items);

	/* PIN forms: built once, only their texts and state change */
	$('[data-i18n="form.verify.hint"]', card)._i18nParams = { max: pin.max_tries ?? state.maxTries };
	for (const el of card.querySelectorAll("[data-i18n]"))
		el.textContent = t(el.dataset.i18n, el._i18nParams || {});
	updateFormDisabled(card);
}

function certStatus(c) {
	switch (c.status) {
	case "valid": {
		const opens = isoDate(new Date(Date.parse(c.not_after) - RENEW_OPEN_DAYS * DAY_MS).toISOString());
		return { badge: "badge.valid", cls: "ok", text: t("status.valid", { n: c.days_left, date: opens }) };
	}
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

function renderCert(c) {
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
	const off = locked || card._busy || state.conn !== "open";
	for (const el of card.querySelectorAll(".pin-forms input, .pin-forms button"))
		el.disabled = off;
	$(".locked-note", card).hidden = !locked;
	$(".offline-note", card).hidden = locked || state.conn === "open";
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

/* ------------------------------------------------------------------ start */

function renderAll() {
	renderStatic();
	renderConnection();
	renderTokens();
}

setLang(initialLang());
$('[data-testid="lang-toggle"]').addEventListener("click", switchLang);
renderAll();
agent.open().catch(() => {
	state.conn = "closed";
	renderConnection();
});
