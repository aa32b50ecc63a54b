// SPDX-License-Identifier: LGPL-2.1-or-later
// Online renewal on the agent's page (issue 4, "renew with progress"): a certificate in its window
// (R-R2) offers "Renew online"; the page reads renew.check and shows the new end date and its rule
// (R-R3), the PIN unchanged (R-P4); the PIN typed there goes to one renew.start, whose seven
// renew.progress steps the page ticks off in order; then the result and the certificate list read
// again. A wrong PIN counts (R-P1) and changes nothing; outside the window nothing is offered but the
// day it opens; the CA holding the order (R-R6) and an agent without a CA each say so in one sentence.
//
// The reference CA (tests/ca, ukey-refca) serves EST over HTTPS on 127.0.0.1; the token's certificate
// comes from it (mktoken --refca), and ukeyd gets --ca-url and --ca-trust.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { PIN, WRONG, Sandbox, run, startRefCa } from '../lib/agent.mjs';
import { UI_MS, offLoopback, withBrowser } from './browser.mjs';

const T = { timeout: 90000 };
const DAY = 86400;
const REFCA = process.env.UKEY_REFCA_BIN;
const STEPS = ['login', 'keygen', 'request', 'verify', 'write', 'remove-old', 'done'];
// The renewal's own wait: keygen, a TLS request to the CA and the writes, on a slow machine.
const RENEW_MS = 45000;

// A key whose certificate (from the reference CA) has daysLeft left, and ukeyd with the CA (or without: ca false).
async function setup(t, daysLeft, { caArgs, ca: withCa = true, label = 'renew key' } = {}) {
	const sb = await Sandbox.create(t);
	const ca = await startRefCa(t, sb, caArgs);
	const serial = await sb.mktoken('--refca', ca.dir, '--label', label, '--cn', 'Beijing Test Unit', '--org', 'Test Org',
		'--not-before', `-${(365 - daysLeft) * DAY}`, '--not-after', `+${daysLeft * DAY}`);
	const agent = await sb.startAgent({ args: withCa ? ['--ca-url', ca.url, '--ca-trust', ca.trust] : [] });
	return { sb, ca, serial, agent };
}

// What `ukey renew --check --json` says of the key (the CLI's own reading of R-R2…R-R5).
async function cliPlan(sb, ca) {
	const r = await sb.ukey(['--json', '--ca-url', ca.url, '--ca-trust', ca.trust, 'renew', '--check']);
	assert.ok(r.json && r.json.renewal, `ukey renew --check --json: ${r.stderr}${r.stdout}`);
	return r.json;
}

// The certificates as the CLI reads them from the key.
async function cliCerts(sb) {
	const r = await sb.ukey(['--json', 'certs']);
	assert.equal(r.code, 0, r.stderr);
	return r.json.certificates;
}

// The page, connected, with the key's certificate shown; resolves the key's card.
async function openPage(page, agent, serial) {
	await page.goto(`${agent.origin}/`);
	await page.getByTestId('connection').and(page.locator('[data-state="open"]')).waitFor({ timeout: UI_MS });
	const card = page.locator(`[data-testid="token"][data-serial="${serial}"]`);
	await card.getByTestId('cert').waitFor({ timeout: UI_MS });
	return card;
}

// Waits for the renewal panel to reach a phase (checking, confirm, running, done, error).
async function phase(card, name, timeout = UI_MS) {
	const panel = card.getByTestId('renew-panel');
	await panel.and(card.page().locator(`[data-phase="${name}"]`)).waitFor({ timeout });
	return panel;
}

// Records, in the page, every state the step list goes through (one entry per change: step → state).
async function recordSteps(page) {
	await page.evaluate(() => {
		window.__renewSeen = [];
		const snap = () => {
			const items = [...document.querySelectorAll('[data-testid="renew-step"]')];
			if (!items.length)
				return;
			const s = items.map((li) => `${li.dataset.step}:${li.dataset.state}`).join(' ');
			if (window.__renewSeen.at(-1) !== s)
				window.__renewSeen.push(s);
		};
		new MutationObserver(snap).observe(document.body, { subtree: true, childList: true, attributes: true });
	});
}

// The step states seen, as arrays of {step: state}.
async function seenSteps(page) {
	const seen = await page.evaluate(() => window.__renewSeen);
	return seen.map((line) => Object.fromEntries(line.split(' ').map((p) => p.split(':'))));
}

// The agent's WebSocket through Playwright, with a hold: from the renew.progress of step `holdAt` on,
// what the agent sends is kept back until release(), so that a step in progress can be looked at.
async function holdAfterStep(page, holdAt) {
	const ctl = { held: [], holding: false, client: null, seen: [] };
	await page.routeWebSocket(/\/api$/, (ws) => {
		const server = ws.connectToServer();
		ctl.client = ws;
		ws.onMessage((m) => server.send(m));
		server.onMessage((m) => {
			let msg = null;
			try {
				msg = JSON.parse(String(m));
			} catch {
				/* not JSON: passed on as it is */
			}
			if (msg && msg.method === 'renew.progress')
				ctl.seen.push(msg.params.step);
			if (ctl.holding) {
				ctl.held.push(m);
				return;
			}
			ws.send(m);
			if (msg && msg.method === 'renew.progress' && msg.params.step === holdAt)
				ctl.holding = true;
		});
	});
	ctl.release = () => {
		ctl.holding = false;
		for (const m of ctl.held.splice(0))
			ctl.client.send(m);
	};
	return ctl;
}

// The date a year after an ISO time's date, as the CA and ukey count R-R3 (Feb 29 → Feb 28).
function plusYear(iso) {
	const d = new Date(iso);
	const y = d.getUTCFullYear() + 1;
	const m = d.getUTCMonth();
	const day = Math.min(d.getUTCDate(), new Date(Date.UTC(y, m + 1, 0)).getUTCDate());
	return new Date(Date.UTC(y, m, day)).toISOString().slice(0, 10);
}

test('30 days left: the page renews online with its seven steps in order, shows the new end date, lists the new certificate, and the PIN still verifies (R-R2, R-R3, R-P4)', T, async (t) => {
	const { sb, ca, serial, agent } = await setup(t, 30);
	const plan = await cliPlan(sb, ca);
	assert.equal(plan.renewal.open, true);
	assert.equal(plan.renewal.rule, 'R-R3');
	const [before] = await cliCerts(sb);
	const expected = plan.renewal.expected_not_after;
	assert.equal(expected, plusYear(before.not_after), 'R-R3: one year after the old end date');

	await withBrowser('renew', { env: sb.env() }, async (s) => {
		const { page } = s;
		const hold = await holdAfterStep(page, 'request');
		const card = await openPage(page, agent, serial);
		const cert = card.getByTestId('cert');
		assert.equal(await cert.getAttribute('data-status'), 'expiring');
		assert.equal(await cert.getByTestId('days-left').innerText(), '30 days left');

		// The offer: "Renew online" under the certificate in its window.
		const offer = cert.getByTestId('renew-button');
		assert.equal(await offer.innerText(), 'Renew online');
		assert.equal(await offer.isEnabled(), true);
		assert.equal(await card.getByTestId('renew-panel').isHidden(), true, 'no panel before the user asks');

		// What will happen (renew.check): the new end date and its rule, the PIN kept.
		await offer.click();
		const panel = await phase(card, 'confirm');
		assert.equal(await panel.locator('h4').innerText(), 'Renew the certificate online');
		assert.equal(await panel.getByTestId('renew-expected').innerText(), expected);
		assert.equal(await panel.getByTestId('renew-rule').getAttribute('data-rule'), 'R-R3');
		assert.equal(await panel.getByTestId('renew-rule').innerText(), 'one year after the current end date (R-R3)');
		assert.equal(await panel.getByTestId('renew-pin-same').innerText(), 'Your PIN stays the same (R-P4).');
		const planText = await panel.getByTestId('renew-plan').innerText();
		for (const want of ['Beijing Test Unit', before.not_after.slice(0, 10), '30 days left'])
			assert.ok(planText.includes(want), `the plan shows "${want}": ${planText}`);
		const pin = panel.getByTestId('renew-pin');
		assert.equal(await pin.getAttribute('type'), 'password');
		assert.equal(await offer.isDisabled(), true, 'one renewal at a time');
		await s.shot('confirm');

		// The PIN, once: the input is empty as soon as it is sent.
		await recordSteps(page);
		await pin.fill(PIN);
		await panel.getByTestId('renew-submit').click();
		assert.equal(await pin.inputValue(), '', 'the PIN input is cleared at once');

		// Held after "request": login and keygen done, request in progress, the rest to come.
		const step = (name) => panel.locator(`[data-testid="renew-step"][data-step="${name}"]`);
		await step('request').and(page.locator('[data-state="active"]')).waitFor({ timeout: RENEW_MS });
		assert.equal(await panel.getAttribute('data-phase'), 'running');
		assert.deepEqual(await panel.getByTestId('renew-step').evaluateAll((li) => li.map((e) => e.dataset.state)),
			['done', 'done', 'active', 'pending', 'pending', 'pending', 'pending']);
		assert.deepEqual(await panel.getByTestId('renew-step').allInnerTexts(), [
			'✓\nCheck the PIN', '✓\nGenerate a new key pair on the key\nRSA-2048',
			`3\nAsk the CA for the new certificate\n${ca.url}`, '4\nCheck the new certificate',
			'5\nWrite the new certificate onto the key', '6\nRemove the old certificate and key', '7\nDone']);
		assert.equal(await panel.getByTestId('renew-count').innerText(), 'Step 3 of 7');
		assert.equal(await panel.getByTestId('renew-message').innerText(), 'Renewing: keep the key inserted until the last step is done.');
		assert.equal(await card.getByTestId('pin-verify').isDisabled(), true, 'no other PIN entry on this key meanwhile');
		await s.shot('progress');
		hold.release();

		// The result: the new end date, as renew.check announced (R-R3), no warning.
		await phase(card, 'done', RENEW_MS);
		assert.deepEqual(hold.seen, STEPS, 'the agent sent the seven steps in order');
		assert.equal(await panel.getByTestId('renew-new-end').innerText(), expected);
		assert.equal(await panel.getByTestId('renew-message').innerText(),
			`Renewed: the new certificate is on the key and ends on ${expected}; your PIN is unchanged (R-P4).`);
		assert.equal(await panel.getByTestId('renew-message').getAttribute('data-kind'), 'ok');
		assert.equal(await panel.getByTestId('renew-warning').count(), 0, 'the CA gave the dates R-R3 gives');
		assert.deepEqual(await panel.getByTestId('renew-step').evaluateAll((li) => li.map((e) => e.dataset.state)),
			Array(7).fill('done'));

		// The page went through the steps one by one, in order: each became the current one, then done.
		const seen = await seenSteps(page);
		const active = [];
		for (const st of seen)
			for (const name of STEPS)
				if (st[name] === 'active' && active.at(-1) !== name)
					active.push(name);
		assert.deepEqual(active, STEPS.slice(0, 6), `every step was shown in progress, in order: ${JSON.stringify(seen)}`);
		for (const st of seen) {
			const states = STEPS.map((n) => st[n]);
			const firstNotDone = states.findIndex((x) => x !== 'done');
			assert.ok(firstNotDone < 0 || states.slice(firstNotDone + 1).every((x) => x === 'pending'),
				`never a step ahead of the current one: ${states}`);
		}

		// The certificate list, read again: the new certificate, more than a year left, no renewal offered.
		await cert.and(page.locator('[data-status="valid"]')).waitFor({ timeout: UI_MS });
		const [after] = await cliCerts(sb);
		assert.notEqual(after.serial, before.serial);
		assert.equal(after.not_after.slice(0, 10), expected);
		const days = Number(/^(\d+) days left$/.exec(await cert.getByTestId('days-left').innerText())?.[1]);
		assert.ok(days > 365, `the new certificate has more than a year left (${days})`);
		assert.equal(days, after.days_left);
		assert.ok((await cert.innerText()).includes(after.serial), 'the list shows the new serial');
		assert.equal(await cert.getByTestId('key-match').getAttribute('data-match'), 'match');
		assert.equal(await cert.getByTestId('renew-button').isDisabled(), true);
		await s.shot('result');

		// R-P4: the same PIN still verifies, on the page and as the CLI counts.
		await card.getByTestId('pin-input').fill(PIN);
		await card.getByTestId('pin-verify').click();
		const msg = card.getByTestId('pin-message');
		await msg.and(page.locator('[data-kind="ok"]')).waitFor({ timeout: UI_MS });
		assert.equal(await msg.innerText(), 'PIN correct: 10 of 10 tries left.');
		assert.equal((await sb.pinStatus(serial)).tries_left, 10);

		// Nothing kept: no PIN in the page's storage; nothing but the agent on 127.0.0.1 asked for.
		assert.equal(await page.evaluate(() => JSON.stringify({ ...localStorage }).includes('123456')), false);
		assert.deepEqual(offLoopback(s.pageAddresses(), [agent.port]), []);
		assert.deepEqual(s.errors(), []);

		// Closing the panel leaves the list.
		await panel.getByTestId('renew-close').click();
		assert.equal(await card.getByTestId('renew-panel').isHidden(), true);
	});
});

test('R-P1: a wrong PIN in the renewal says the tries left (9), changes nothing, and the PIN can be typed again', T, async (t) => {
	const { sb, ca, serial, agent } = await setup(t, 30);
	const [before] = await cliCerts(sb);

	await withBrowser('renew-wrong-pin', { env: sb.env() }, async (s) => {
		const { page } = s;
		const card = await openPage(page, agent, serial);
		await card.getByTestId('renew-button').click();
		const panel = await phase(card, 'confirm');
		await panel.getByTestId('renew-pin').fill(WRONG);
		await panel.getByTestId('renew-submit').click();

		const msg = panel.getByTestId('renew-message');
		await msg.and(page.locator('[data-kind="warn"]')).waitFor({ timeout: RENEW_MS });
		assert.equal(await msg.innerText(), 'Wrong PIN: 9 tries left before the key locks (R-P1); nothing was changed.');
		// Back to the PIN, empty, with the plan still shown; no steps left over.
		assert.equal(await panel.getAttribute('data-phase'), 'confirm');
		assert.equal(await panel.getByTestId('renew-pin').inputValue(), '');
		assert.equal(await panel.getByTestId('renew-pin').isEnabled(), true);
		assert.equal(await panel.getByTestId('renew-progress').isHidden(), true);
		assert.equal(await panel.getByTestId('renew-expected').count(), 1);
		// The count, on the badge and as the CLI reads it; the certificate is the old one.
		await card.getByTestId('tries-left').and(page.locator('[data-tries="9"]')).waitFor({ timeout: UI_MS });
		assert.equal(await card.getByTestId('tries-left').innerText(), '9 of 10 tries left');
		assert.equal((await sb.pinStatus(serial)).tries_left, 9);
		const certs = await cliCerts(sb);
		assert.equal(certs.length, 1);
		assert.equal(certs[0].serial, before.serial);
		assert.equal(await card.getByTestId('cert').getAttribute('data-status'), 'expiring');
		assert.equal((await cliPlan(sb, ca)).renewal.in_progress, false, 'no renewal was begun');
		assert.deepEqual(s.errors(), []);
		await s.shot('message');

		// Cancel: the panel goes, the offer stays.
		await panel.getByTestId('renew-cancel').click();
		assert.equal(await card.getByTestId('renew-panel').isHidden(), true);
		assert.equal(await card.getByTestId('renew-button').isEnabled(), true);
	});
});

test('zh_CN: the offer, the plan, the seven steps and the result in Chinese', T, async (t) => {
	const { sb, ca, serial, agent } = await setup(t, 30, { label: 'zh key' });
	const expected = (await cliPlan(sb, ca)).renewal.expected_not_after;

	await withBrowser('renew-zh', { env: sb.env(), locale: 'zh-CN' }, async (s) => {
		const { page } = s;
		const card = await openPage(page, agent, serial);
		const offer = card.getByTestId('renew-button');
		assert.equal(await offer.innerText(), '在线更新');
		await offer.click();
		const panel = await phase(card, 'confirm');
		assert.equal(await panel.locator('h4').innerText(), '在线更新证书');
		assert.equal(await panel.getByTestId('renew-rule').innerText(), '在原证书截止日期的基础上顺延一年 (R-R3)');
		assert.equal(await panel.getByTestId('renew-pin-same').innerText(), '更新后密码保持不变 (R-P4)。');
		assert.equal(await panel.getByTestId('renew-expected').innerText(), expected);
		const planText = await panel.getByTestId('renew-plan').innerText();
		for (const want of ['证书', '当前截止日期', '新证书截止日期', '规则', '剩余 30 天'])
			assert.ok(planText.includes(want), `the plan shows "${want}": ${planText}`);
		assert.equal(await panel.locator('label').innerText(), '密码');
		assert.equal(await panel.getByTestId('renew-submit').innerText(), '立即更新');
		assert.equal(await panel.getByTestId('renew-cancel').innerText(), '取消');
		assert.match(await panel.locator('.renew-form .hint').innerText(), /^密码由 USBKey 验证：输错会计数（连续输错 10 次，USBKey 将被锁死，R-P1）。$/);

		await panel.getByTestId('renew-pin').fill(PIN);
		await panel.getByTestId('renew-submit').click();
		await phase(card, 'done', RENEW_MS);
		assert.deepEqual(await panel.getByTestId('renew-step').locator('.step-text').evaluateAll(
			(els) => els.map((e) => e.firstChild.textContent)),
		['验证密码', '在 USBKey 中生成新密钥对', '向 CA 申请新证书', '检查新证书', '将新证书写入 USBKey', '删除旧证书和旧密钥', '完成']);
		assert.equal(await panel.getByTestId('renew-count').innerText(), '第 7 步，共 7 步');
		assert.equal(await panel.getByTestId('renew-message').innerText(),
			`更新成功：新证书已写入 USBKey，有效期至 ${expected}；密码保持不变 (R-P4)。`);
		assert.match(await panel.getByTestId('renew-result').innerText(), new RegExp(`^新证书截止日期\\s+${expected}\\s+规则\\s+在原证书截止日期的基础上顺延一年 \\(R-R3\\)$`));
		assert.equal(await panel.getByTestId('renew-close').innerText(), '关闭');
		await card.getByTestId('cert').and(page.locator('[data-status="valid"]')).waitFor({ timeout: UI_MS });
		assert.match(await card.getByTestId('renew-opens').innerText(), /^\d{4}-\d{2}-\d{2} 起可在线更新 \(R-R2\)。$/);
		// No English left in the panel but what comes from the agent as it is (the key type, the CA's address).
		const text = await panel.evaluate((el) => {
			const c = el.cloneNode(true);
			for (const e of c.querySelectorAll('[lang="en"]'))
				e.remove();
			return c.textContent;
		});
		for (const english of ['Renew', 'PIN', 'Step', 'Check', 'Done', 'certificate', 'CA for'])
			assert.ok(!text.includes(english), `no English "${english}" in the Chinese panel: ${text}`);
		assert.deepEqual(s.errors(), []);

		// The toggle redraws the result in English.
		await page.getByTestId('lang-toggle').click();
		await page.locator('html[lang="en"]').waitFor({ timeout: UI_MS });
		assert.equal(await panel.getByTestId('renew-message').innerText(),
			`Renewed: the new certificate is on the key and ends on ${expected}; your PIN is unchanged (R-P4).`);
		assert.equal(await panel.getByTestId('renew-step').last().locator('.step-text').innerText(), 'Done');
		await page.getByTestId('lang-toggle').click();
		await page.locator('html[lang="zh-CN"]').waitFor({ timeout: UI_MS });
	});
});

test('R-R2: 200 days left: no renewal offered, the button off with the day it opens', T, async (t) => {
	const { sb, ca, serial, agent } = await setup(t, 200);
	const plan = await cliPlan(sb, ca);
	assert.equal(plan.renewal.open, false);

	await withBrowser('renew-closed', { env: sb.env() }, async (s) => {
		const { page } = s;
		const card = await openPage(page, agent, serial);
		const cert = card.getByTestId('cert');
		assert.equal(await cert.getAttribute('data-status'), 'valid');
		assert.equal(await cert.getByTestId('cert-status').getAttribute('data-renewal-open'), 'false');
		const offer = cert.getByTestId('renew-button');
		assert.equal(await offer.isDisabled(), true);
		const opens = cert.getByTestId('renew-opens');
		assert.equal(await opens.innerText(), `Opens on ${plan.renewal.opens_on} (R-R2).`);
		assert.equal(await opens.getAttribute('data-date'), plan.renewal.opens_on);
		assert.equal(await offer.getAttribute('aria-describedby'), await opens.getAttribute('id'));
		assert.ok((await cert.getByTestId('cert-status').innerText()).includes(plan.renewal.opens_on),
			'the status text names the same day');
		await offer.click({ force: true }).catch(() => {});
		assert.equal(await card.getByTestId('renew-panel').isHidden(), true, 'nothing happens on the disabled button');
		// The page asked for neither renew.check nor renew.start.
		const methods = s.sockets.flatMap((w) => w.sent).map((f) => JSON.parse(f).method);
		assert.ok(!methods.some((m) => m.startsWith('renew.')), `no renew.* call: ${methods}`);
		assert.equal((await sb.pinStatus(serial)).tries_left, 10);
		assert.deepEqual(s.errors(), []);
	});
});

test('R-R6: the CA holds the order (no --autopay): the page says so, a page opened later too (renew.pending); paid, the PIN finishes the renewal begun', T, async (t) => {
	const { sb, ca, serial, agent } = await setup(t, 30, { caArgs: [] });

	await withBrowser('renew-pending', { env: sb.env() }, async (s) => {
		const { page } = s;
		const card = await openPage(page, agent, serial);
		await card.getByTestId('renew-button').click();
		const panel = await phase(card, 'confirm');
		await panel.getByTestId('renew-pin').fill(PIN);
		await panel.getByTestId('renew-submit').click();
		await phase(card, 'error', RENEW_MS);
		const msg = panel.getByTestId('renew-message');
		assert.equal(await msg.innerText(),
			'The CA holds the order (payment, or documents and approval, R-R6): try again later; the old certificate still works.');
		// Where it stopped: the request waits at the CA; what comes after it never began.
		assert.deepEqual(await panel.getByTestId('renew-step').evaluateAll((li) => li.map((e) => e.dataset.state)),
			['done', 'done', 'waiting', 'pending', 'pending', 'pending', 'pending']);
		assert.equal(await panel.getByTestId('renew-retry').isVisible(), true);
		assert.equal(await card.getByTestId('cert').getAttribute('data-status'), 'expiring', 'the old certificate stays');
		await s.shot('message');

		// A page opened later hears of it at connect (renew.pending): the key offers to finish it.
		await page.reload();
		await card.getByTestId('cert').waitFor({ timeout: UI_MS });
		const waiting = card.getByTestId('renew-waiting');
		await waiting.waitFor({ timeout: UI_MS });
		assert.equal(await waiting.getAttribute('data-state'), 'pending');
		assert.match(await waiting.innerText(),
			/^This key's renewal waits at the CA \(R-R6\): after \d{4}-\d\d-\d\d \d\d:\d\d, “Renew online” finishes it with the PIN\.$/);
		assert.equal(await card.getByTestId('renew-button').isEnabled(), true);
		assert.equal(await card.getByTestId('renew-panel').isHidden(), true);
		await s.shot('waiting');

		// Paid at the CA: "Renew online" reads the journal (the renewal begun), and the PIN finishes it.
		const orders = await run(REFCA, ['admin', ca.dir, 'orders']);
		const order = orders.stdout.trim().split('\n').map((l) => JSON.parse(l)).find((o) => o.state === 'payment-required');
		assert.ok(order, `an order waits for payment: ${orders.stdout}`);
		assert.equal((await run(REFCA, ['admin', ca.dir, 'pay', order.id])).code, 0);
		await card.getByTestId('renew-button').click();
		await phase(card, 'confirm');
		assert.match(await panel.getByTestId('renew-resume').innerText(), /^A renewal of this key was begun and not finished \(pending\)/);
		await panel.getByTestId('renew-pin').fill(PIN);
		await panel.getByTestId('renew-submit').click();
		await phase(card, 'done', RENEW_MS);
		assert.deepEqual(await panel.getByTestId('renew-step').evaluateAll((li) => li.map((e) => e.dataset.state)), Array(7).fill('done'));
		await card.getByTestId('cert').and(page.locator('[data-status="valid"]')).waitFor({ timeout: UI_MS });
		assert.equal(await card.getByTestId('renew-waiting').count(), 0, 'nothing waits any more');
		assert.equal(await card.getByTestId('renew-button').isDisabled(), true);
		assert.deepEqual(s.errors(), []);
	});
});

test('an agent without a CA: renew.check still shows the plan, renew.start says to start ukeyd with --ca-url', T, async (t) => {
	const { sb, serial, agent } = await setup(t, 30, { ca: false });

	await withBrowser('renew-no-ca', { env: sb.env() }, async (s) => {
		const { page } = s;
		const card = await openPage(page, agent, serial);
		await card.getByTestId('renew-button').click();
		const panel = await phase(card, 'confirm');
		await panel.getByTestId('renew-pin').fill(PIN);
		await panel.getByTestId('renew-submit').click();
		await phase(card, 'error');
		assert.equal(await panel.getByTestId('renew-message').innerText(),
			'This agent has no CA configured: start ukeyd with --ca-url (and --ca-trust), then try again.');
		assert.equal(await panel.getByTestId('renew-retry').isVisible(), false, 'trying again cannot help');
		assert.equal(await panel.getByTestId('renew-pin').isVisible(), false);
		assert.equal((await sb.pinStatus(serial)).tries_left, 10, 'no PIN was tried');
		assert.deepEqual(s.errors(), []);
	});
});
