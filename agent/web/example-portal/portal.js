// SPDX-License-Identifier: LGPL-2.1-or-later
// The example portal's logic: load the SDK from the agent, read the certificate
// name from the inserted key (R-R7: the inserted key wins over the record
// picked on the portal), ask for the PIN, sign the order, show the signature.
//
// Query parameters: ?agent=PORT (the agent's port, default 24801);
// ?record=NAME (the certificate record "selected on the portal", to show R-R7).

const params = new URLSearchParams(location.search);
const port = agentPort(params.get("agent"));
const record = params.get("record");
const SDK_URL = `http://127.0.0.1:${port}/sdk/ukey.js`;

const $ = (id) => document.getElementById(id);
const el = {
	status: document.querySelector('[data-testid="agent-status"]'),
	choice: $("key-choice"),
	select: $("key-select"),
	info: $("cert-info"),
	name: document.querySelector('[data-testid="cert-name"]'),
	org: document.querySelector('[data-testid="cert-org"]'),
	until: document.querySelector('[data-testid="cert-until"]'),
	key: document.querySelector('[data-testid="key-name"]'),
	tries: document.querySelector('[data-testid="tries-left"]'),
	recordNote: $("record-note"),
	order: $("order"),
	form: $("sign-form"),
	pin: $("pin"),
	sign: $("sign"),
	error: $("error"),
	sigBox: $("sig-box"),
	signature: $("signature"),
	verified: $("verified"),
};

let sdk = null;
let agent = null;
let keys = []; // [{token, cert}] for the keys inserted now, each with its first usable certificate
let chosen = null; // the entry the order is for
let orderText = "";
let busy = false;
let loadSeq = 0;

function agentPort(v) {
	const n = Number(v);
	return v && /^\d{1,5}$/.test(v) && n >= 1 && n <= 65535 ? n : 24801;
}

/** Show a bilingual status line: kind is info | ok | warn | error. */
function status(zh, en, kind = "info") {
	el.status.dataset.kind = kind;
	el.status.replaceChildren(`${zh} `, span("en", en));
}

function span(cls, text) {
	const s = document.createElement("span");
	s.className = cls;
	s.textContent = text;
	return s;
}

function show(node, on) {
	node.classList.toggle("hidden", !on);
}

/* ------------------------------------------------------------------ keys */

async function loadKeys() {
	const seq = ++loadSeq;
	let tokens;
	const found = [];
	try {
		tokens = await agent.tokens();
		for (const token of tokens) {
			let certs = [];
			try {
				certs = await agent.certificates(token.serial);
			} catch {
				/* a key whose certificates cannot be read: shown without one */
			}
			const cert = certs.find((c) => c.readable !== false && c.status !== "unreadable") || null;
			found.push({ token, cert });
		}
	} catch (e) {
		if (seq === loadSeq)
			status("无法读取 USBKey。", `The keys cannot be read: ${e.message}`, "error");
		return;
	}
	if (seq !== loadSeq)
		return;
	keys = found;
	const keep = chosen && keys.find((k) => k.token.serial === chosen.token.serial);
	chosen = keep || keys[0] || null;
	render();
}

function render() {
	el.select.replaceChildren(...keys.map((k) => {
		const o = document.createElement("option");
		o.value = k.token.serial;
		o.textContent = `${k.cert ? k.cert.subject_cn || k.cert.subject : "—"} · ${k.token.label} (${k.token.serial})`;
		return o;
	}));
	show(el.choice, keys.length > 1);
	if (chosen)
		el.select.value = chosen.token.serial;

	if (!chosen) {
		status("请插入 USBKey：插入后本页会自动识别证书名称。", "Insert your USBKey: this page reads the certificate name by itself.", "warn");
		show(el.info, false);
		show(el.recordNote, false);
		setOrder(null);
		return;
	}
	const { token, cert } = chosen;
	if (!cert) {
		status("此 USBKey 中没有可用的证书。", "This key holds no readable certificate.", "error");
		show(el.info, false);
		setOrder(null);
		return;
	}
	if (token.pin && token.pin.locked)
		status("此 USBKey 已锁死 (R-P2)：可在线或到服务网点免费办理证书解锁 (R-P3)。", "This key is locked (R-P2): unlocking is free, online or at the service point (R-P3).", "error");
	else
		status("已识别 USBKey 中的证书。", "The certificate on the inserted key was read.", "ok");
	el.name.textContent = cert.subject_cn || cert.subject;
	el.org.textContent = cert.subject_o || "—";
	el.until.textContent = `${String(cert.not_after).slice(0, 10)}${Number.isFinite(cert.days_left) ? `（${cert.days_left >= 0 ? `剩余 ${cert.days_left} 天 / ${cert.days_left} days left` : `已过期 / expired`}）` : ""}`;
	el.key.textContent = `${token.label} · ${token.serial}`;
	el.tries.textContent = triesText(token.pin);
	show(el.info, true);

	// R-R7: when the record picked on the portal is not the inserted key's certificate, the inserted key wins.
	const cn = cert.subject_cn || "";
	if (record && record !== cn) {
		el.recordNote.textContent = `您在页面上选择的记录（${record}）与插入的 USBKey 中的证书（${cn}）不一致：以插入的 USBKey 为准 (R-R7)。 The record selected on the portal (${record}) is not the certificate on the inserted key (${cn}): the inserted key is used (R-R7).`;
		show(el.recordNote, true);
	} else {
		show(el.recordNote, false);
	}
	setOrder(chosen);
}

function triesText(pin) {
	if (!pin)
		return "—";
	if (pin.locked)
		return "已锁死 / locked";
	if (pin.tries_left === null || pin.tries_left === undefined)
		return `剩余 ?/${pin.max_tries} 次 / ? of ${pin.max_tries} tries left`;
	return `剩余 ${pin.tries_left}/${pin.max_tries} 次 / ${pin.tries_left} of ${pin.max_tries} tries left`;
}

function setOrder(k) {
	if (!k || !k.cert) {
		orderText = "";
		el.order.textContent = "—";
	} else {
		const c = k.cert;
		orderText = [
			"订单号 Order: DEMO-2026-0042",
			"业务 Service: 证书更新（在线）/ online certificate renewal, 1 year",
			`证书名称 Certificate: ${c.subject_cn || c.subject}`,
			`单位 Organisation: ${c.subject_o || "—"}`,
			`证书序列号 Certificate serial: ${c.serial}`,
			`USBKey: ${k.token.label} (${k.token.serial})`,
		].join("\n");
		el.order.textContent = orderText;
	}
	updateForm();
}

function updateForm() {
	const usable = !!(agent && agent.connected && chosen && chosen.cert && !(chosen.token.pin && chosen.token.pin.locked));
	el.pin.disabled = el.sign.disabled = !usable || busy;
}

/* ------------------------------------------------------------------ signing */

function mechanismFor(cert) {
	return /^EC/i.test(cert.key_type || "") ? "ecdsa-sha256" : "rsa-pkcs1-sha256";
}

async function onSign(ev) {
	ev.preventDefault();
	if (busy || !chosen || !chosen.cert)
		return;
	let pin = el.pin.value;
	el.pin.value = "";
	show(el.error, false);
	show(el.sigBox, false);
	if (!pin) {
		showError("请输入 USBKey 密码：未向 USBKey 发送任何内容。", "Type the PIN first: nothing was sent to the key.");
		return;
	}
	const { token, cert } = chosen;
	const mechanism = mechanismFor(cert);
	const data = new TextEncoder().encode(orderText);
	busy = true;
	updateForm();
	try {
		// One call, one PIN attempt (R-P1): neither this page nor the SDK ever re-sends it.
		const call = agent.sign({ pin, data, mechanism, keyId: cert.id, token: token.serial });
		pin = null;
		const r = await call;
		el.signature.textContent = sdk.toBase64(r.signature);
		show(el.sigBox, true);
		show(el.verified, false);
		verifyInBrowser(r, data, mechanism).then((ok) => {
			if (ok) {
				el.verified.textContent = "已用 USBKey 中证书的公钥在浏览器中验证签名。 Verified in the browser with the certificate's public key.";
				show(el.verified, true);
			}
		});
	} catch (e) {
		showSdkError(e);
	} finally {
		pin = null;
		el.pin.value = "";
		busy = false;
		updateForm();
		loadKeys(); // tries left may have changed
	}
}

function showError(zh, en, attrs = {}) {
	el.error.replaceChildren(`${zh} `, span("en", en));
	for (const k of ["errorId", "triesLeft"])
		delete el.error.dataset[k];
	Object.assign(el.error.dataset, attrs);
	show(el.error, true);
}

function showSdkError(e) {
	const attrs = { errorId: e.id || "internal" };
	if (e.triesLeft !== null && e.triesLeft !== undefined)
		attrs.triesLeft = String(e.triesLeft);
	if (e instanceof sdk.PinIncorrectError) {
		if (e.locked)
			return showError("密码错误：最后一次尝试机会已用完，USBKey 现已锁死 (R-P1)；可在线或到服务网点免费办理证书解锁 (R-P3)。",
				"Wrong PIN: that was the last try and the key is now locked (R-P1); unlocking is free, online or at the service point (R-P3).", attrs);
		return showError(`密码错误：还可尝试 ${e.triesLeft ?? "?"} 次。`, `Wrong PIN: ${e.triesLeft ?? "?"} ${e.triesLeft === 1 ? "try" : "tries"} left.`, attrs);
	}
	if (e instanceof sdk.PinLockedError)
		return showError("USBKey 已锁死 (R-P2)：可在线或到服务网点免费办理证书解锁 (R-P3)。", "The key is locked (R-P2): unlocking is free, online or at the service point (R-P3).", attrs);
	if (e instanceof sdk.NoTokenError)
		return showError("未找到 USBKey：请插入后重试。", "No USBKey found: insert it and try again.", attrs);
	if (e instanceof sdk.ConnectionError)
		return showError("与本机 ukey 服务的连接中断：本次尝试可能已被计数。", "The connection to the agent broke: the try may have been counted.", attrs);
	return showError("签名失败。", `Signing failed: ${e.message}`, attrs);
}

/* ------------------------------------------------------------------ verification (a demonstration; a real portal verifies on its server) */

function derRead(buf, pos) {
	const tag = buf[pos];
	let len = buf[pos + 1];
	let hdr = 2;
	if (len & 0x80) {
		const n = len & 0x7f;
		len = 0;
		for (let i = 0; i < n; i++)
			len = len * 256 + buf[pos + 2 + i];
		hdr += n;
	}
	return { tag, start: pos, body: pos + hdr, end: pos + hdr + len };
}

function derChildren(buf, node) {
	const out = [];
	for (let p = node.body; p < node.end;) {
		const c = derRead(buf, p);
		out.push(c);
		p = c.end;
	}
	return out;
}

/* SubjectPublicKeyInfo of a DER certificate: tbsCertificate's 7th field (6th without the [0] version). */
function spkiOf(der) {
	const cert = derRead(der, 0);
	const tbs = derChildren(der, cert)[0];
	const f = derChildren(der, tbs);
	const i = f[0].tag === 0xa0 ? 6 : 5;
	return der.slice(f[i].start, f[i].end);
}

/* DER ECDSA-Sig-Value to the r||s form WebCrypto wants (P-256: 32 bytes each). */
function ecdsaRaw(sig, size = 32) {
	const seq = derRead(sig, 0);
	const [r, s] = derChildren(sig, seq);
	const fix = (n) => {
		let b = sig.slice(n.body, n.end);
		while (b.length > size && b[0] === 0)
			b = b.slice(1);
		const out = new Uint8Array(size);
		out.set(b, size - b.length);
		return out;
	};
	const out = new Uint8Array(2 * size);
	out.set(fix(r), 0);
	out.set(fix(s), size);
	return out;
}

async function verifyInBrowser(r, data, mechanism) {
	try {
		if (!r.certificate || !globalThis.crypto || !crypto.subtle)
			return false;
		const spki = spkiOf(r.certificate);
		let alg, sig = r.signature;
		if (mechanism === "ecdsa-sha256") {
			alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
			sig = ecdsaRaw(sig);
		} else if (mechanism === "rsa-pss-sha256") {
			alg = { name: "RSA-PSS", hash: "SHA-256", saltLength: 32 };
		} else {
			alg = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
		}
		const key = await crypto.subtle.importKey("spki", spki, alg, false, ["verify"]);
		return await crypto.subtle.verify(alg, key, sig, data);
	} catch {
		return false;
	}
}

/* ------------------------------------------------------------------ start */

async function main() {
	el.form.addEventListener("submit", onSign);
	el.select.addEventListener("change", () => {
		chosen = keys.find((k) => k.token.serial === el.select.value) || null;
		show(el.error, false);
		show(el.sigBox, false);
		render();
	});
	try {
		sdk = await import(SDK_URL);
	} catch {
		// The agent serves the SDK only to origins that may use it: not running and not allowed look alike here.
		status(`无法从本机 ukey 服务（127.0.0.1:${port}）加载 SDK：它未在运行，或本网站（${location.origin}）不在其允许列表中（ukey origin add ${location.origin}）。`,
			`Cannot load the SDK from the ukey agent at 127.0.0.1:${port}: it is not running, or this site (${location.origin}) is not on its allowlist (ukey origin add ${location.origin}).`, "error");
		return;
	}
	try {
		// connect() finds the agent's WebSocket from where the SDK was loaded (ws://127.0.0.1:PORT/api).
		agent = await sdk.connect();
	} catch {
		status(`本机 ukey 服务（127.0.0.1:${port}）拒绝了连接：它未在运行，或本网站（${location.origin}）不在其允许列表中（ukey origin add ${location.origin}）。`,
			`The ukey agent at 127.0.0.1:${port} refused the connection: it is not running, or this site (${location.origin}) is not on its allowlist (ukey origin add ${location.origin}).`, "error");
		return;
	}
	for (const ev of ["token.inserted", "token.removed", "pin.locked"])
		agent.on(ev, loadKeys);
	agent.on("open", () => {
		updateForm();
		loadKeys();
	});
	agent.on("close", updateForm);
	agent.on("reconnecting", () => {
		status("与本机 ukey 服务的连接已断开，正在重新连接…", "The connection to the agent broke: reconnecting…", "warn");
		updateForm();
	});
	loadKeys();
}

main();
