// SPDX-License-Identifier: LGPL-2.1-or-later
// The technician's diagnosis on the agent's page (PROTOCOL.md "diagnose"): the form (indicator
// light, first-issue date), the verdict with its rule, warranty and fee (R-D4…R-D6), the next
// service and the checks; the printable report in a sandboxed frame; both languages; and the
// device.changed status line.
//
// A key with no certificate whose first issue (recorded on the key by mktoken) is 2020-01-01,
// light steady: R-D3 (media fault: the certificate cannot be recognised), out of warranty, so the
// media fee is 80 CNY (R-D6), service R-S4.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { Sandbox } from '../lib/agent.mjs';
import { ARTIFACTS, UI_MS, withBrowser } from './browser.mjs';

const T = { timeout: 60000 };
const R_D3_KEY = ['--label', 'faulty key', '--cert', 'none', '--first-issued', '2020-01-01'];
// One A4 page at 96 px per inch, less the report's @page margins (12 mm each side).
const MM = 96 / 25.4;
const A4_CONTENT_HEIGHT = (297 - 24) * MM;

// Opens the agent's page and waits for the key's card (the page is ready: connected, keys listed).
async function openPage(page, agent, serial) {
	await page.goto(`${agent.origin}/`);
	await page.getByTestId('connection').and(page.locator('[data-state="open"]')).waitFor({ timeout: UI_MS });
	await page.locator(`[data-testid="token"][data-serial="${serial}"]`).waitFor({ timeout: UI_MS });
}

// Runs the diagnosis with the light as given ('steady', …) and waits for the verdict.
async function diagnose(page, led) {
	const form = page.getByTestId('diagnose');
	await form.getByTestId(`diag-led-${led}`).check();
	const run = form.getByTestId('diag-run');
	await run.click();
	await page.getByTestId('diag-verdict').waitFor({ timeout: UI_MS });
	assert.equal(await run.isEnabled(), true, 'the button is back once the diagnosis is done');
	assert.equal(await page.getByTestId('diag-progress').isHidden(), true, 'no progress left once done');
}

function savePath(name) {
	fs.mkdirSync(ARTIFACTS, { recursive: true });
	return path.join(ARTIFACTS, name);
}

test('R-D3: the page diagnoses a key without certificate, out of warranty (80 CNY, R-D6), and prints its report', T, async (t) => {
	const sb = await Sandbox.create(t);
	const [serial] = await sb.tokens(R_D3_KEY);
	const agent = await sb.startAgent();

	await withBrowser('diagnose-r-d3', { env: sb.env() }, async (s) => {
		const { page } = s;
		await openPage(page, agent, serial);
		const sec = page.getByTestId('diagnose');
		assert.equal(await sec.locator('h2').innerText(), 'Diagnose a key');
		assert.equal(await sec.getByTestId('diag-led-unknown').isChecked(), true, '"don\'t know" until told');
		// One key: no key selection, the agent takes the only one.
		assert.equal(await sec.getByTestId('diag-token').isVisible(), false);

		await diagnose(page, 'steady');
		const sent = s.sockets.flatMap((w) => w.sent).map((f) => JSON.parse(f)).filter((m) => m.method === 'diagnose');
		assert.deepEqual(sent.map((m) => m.params), [{ led: 'steady' }], 'led given; no token (one key), no date (the key has one)');

		// The verdict, prominently, with the rule text.
		const verdict = page.getByTestId('diag-verdict');
		assert.equal(await verdict.getAttribute('data-code'), 'R-D3');
		assert.equal(await page.getByTestId('diag-code').innerText(), 'R-D3');
		assert.match(await page.getByTestId('diag-rule-text').innerText(), /^R-D3 media fault: .*certificate cannot be recognised/);
		const codeSize = await page.getByTestId('diag-code').evaluate((el) => parseFloat(getComputedStyle(el).fontSize));
		assert.ok(codeSize >= 28, `the code is big (${codeSize}px)`);
		assert.equal(await page.getByTestId('diag-note').count(), 0, 'no note: the light was given');

		// Warranty and fee: first issued 2020-01-01 (on the key), out of warranty since 2021-01-01, 80 CNY (R-D6).
		const warranty = await page.getByTestId('diag-warranty').innerText();
		for (const want of ['2020-01-01 (recorded on the key)', '2021-01-01'])
			assert.ok(warranty.includes(want), `warranty shows "${want}": ${warranty}`);
		assert.equal(await page.getByTestId('diag-in-warranty').innerText(), 'no');
		const fee = page.getByTestId('diag-fee');
		assert.equal(await fee.innerText(), '80 CNY (R-D6)');
		assert.equal(await fee.getAttribute('data-fee'), '80');
		assert.equal(await fee.getAttribute('data-rule'), 'R-D6');

		// The next service: R-S4, damage replacement.
		const next = page.getByTestId('diag-next');
		assert.equal(await next.getAttribute('data-rule'), 'R-S4');
		assert.match(await next.innerText(), /R-S4 Damage replacement/);

		// The checks: the failed one is cert-present, shown as failed with its evidence and fix.
		const failed = page.locator('[data-testid="diag-check"][data-status="fail"]');
		assert.deepEqual(await failed.evaluateAll((rows) => rows.map((r) => r.dataset.id)), ['cert-present']);
		const row = await failed.innerText();
		for (const want of ['Certificate on the key', 'fail', 'no certificate object', 'R-D3'])
			assert.ok(row.includes(want), `the cert-present row shows "${want}": ${row}`);
		const failColour = await failed.locator('.status').evaluate((el) => getComputedStyle(el).color);
		const passColour = await page.locator('[data-testid="diag-check"][data-status="pass"] .status').first()
			.evaluate((el) => getComputedStyle(el).color);
		assert.notEqual(failColour, passColour, 'statuses are colour-coded');
		assert.ok(await page.locator('[data-testid="diag-check"][data-status="pass"]').count() >= 3);
		await s.shot('result');

		// The printable report: the agent's HTML in a sandboxed frame in a dialog.
		await page.getByTestId('diag-report').click();
		const dialog = page.getByTestId('report-dialog');
		await dialog.waitFor({ timeout: UI_MS });
		const frameEl = page.getByTestId('report-frame');
		await frameEl.and(page.locator('[data-ready="true"]')).waitFor({ timeout: UI_MS });
		const sandbox = (await frameEl.getAttribute('sandbox')).split(/\s+/).sort();
		assert.deepEqual(sandbox, ['allow-modals', 'allow-same-origin'], 'no script may run in the report');
		const report = page.frameLocator('[data-testid="report-frame"]');
		const text = await report.locator('body').innerText();
		for (const want of ['R-D3', '介质质量问题', 'USBKey 检测报告', 'faulty key', serial, '80 CNY (R-D6)', 'R-S4', '证书损坏补办'])
			assert.ok(text.includes(want), `the report contains "${want}"`);
		// Its own style sheet applies (the code is 16pt), though this page's policy forbids inline styles.
		const reportCode = await report.locator('.verdict .code').evaluate((el) => getComputedStyle(el).fontSize);
		assert.equal(reportCode, '21.3333px'); // 16pt: the report's own style sheet applies

		// Print: the frame's own print(), so only the report is printed.
		await frameEl.evaluate((f) => {
			f.contentWindow.print = () => (window.__printed = (window.__printed ?? 0) + 1);
		});
		await page.getByTestId('report-print').click();
		assert.equal(await page.evaluate(() => window.__printed), 1);
		// The dialog as the technician sees it (the window, not the whole page behind it).
		const dialogShot = savePath('diagnose-r-d3-dialog.png');
		await page.screenshot({ path: dialogShot, animations: 'disabled' });
		process.stderr.write(`# screenshot ${dialogShot}\n`);

		// The report itself, as the dialog shows it (an A4 sheet, 210 mm wide): the window made as
		// tall as the report so that all of it is on the screenshot.
		const height = await frameEl.evaluate((f) => f.getBoundingClientRect().height);
		await page.setViewportSize({ width: 1280, height: Math.ceil(height) + 160 });
		const reportShot = savePath('diagnose-report.png');
		await frameEl.screenshot({ path: reportShot, animations: 'disabled' });
		process.stderr.write(`# screenshot ${reportShot}\n`);
		// And as printed: print media, the width of an A4 page less the report's 12 mm margins.
		await page.emulateMedia({ media: 'print' });
		const printed = await frameEl.evaluate((f) => {
			f.style.width = '186mm';
			// scrollHeight is at least the frame's own height: measure the content, then fit the frame to it.
			f.style.height = '10px';
			const h = Math.ceil(f.contentDocument.body.getBoundingClientRect().bottom);
			f.style.height = `${h}px`;
			return h;
		});
		const printShot = savePath('diagnose-report-print.png');
		await frameEl.screenshot({ path: printShot, animations: 'disabled' });
		process.stderr.write(`# screenshot ${printShot}\n`);
		await page.emulateMedia({ media: 'screen' });
		await page.setViewportSize({ width: 1280, height: 800 });
		const pages = printed / A4_CONTENT_HEIGHT;
		t.diagnostic(`printed, the report is ${printed}px tall: ${pages.toFixed(2)} A4 pages`);
		// One page, signature lines included (issue 7: a report the technician prints or attaches).
		assert.ok(pages <= 1, `the report fits on one A4 page (${printed}px, ${pages.toFixed(2)} pages)`);

		await page.getByTestId('report-close').click();
		await dialog.waitFor({ state: 'hidden', timeout: UI_MS });
		assert.equal(await page.getByTestId('report-frame').count(), 0, 'the report goes with the dialog');

		// Nothing but the page's own files was fetched, and nothing went wrong in the console
		// (the report's inline <style> would be refused by the page's policy, with an error).
		const urls = [...new Set(s.requests.map((r) => new URL(r.url).pathname))].sort();
		assert.deepEqual(urls, ['/', '/app.js', '/i18n.js', '/sdk/ukey.js', '/style.css']);
		assert.deepEqual(s.errors(), []);
	});
});

test('a first-issue date entered makes R-D3 free in warranty (R-D5); without the light the verdict says so', T, async (t) => {
	const sb = await Sandbox.create(t);
	const [serial] = await sb.tokens(R_D3_KEY);
	const agent = await sb.startAgent();

	await withBrowser('diagnose-warranty', { env: sb.env() }, async (s) => {
		const { page } = s;
		await openPage(page, agent, serial);
		// Four months before today (the agent decides "in warranty" by the local calendar day).
		const d = new Date(Date.now() - 120 * 86400000);
		const date = [d.getFullYear(), d.getMonth() + 1, d.getDate()].map((n) => String(n).padStart(2, '0')).join('-');
		await page.getByTestId('diag-first-issued').fill(date);
		await diagnose(page, 'unknown');
		const sent = s.sockets.flatMap((w) => w.sent).map((f) => JSON.parse(f)).filter((m) => m.method === 'diagnose');
		assert.deepEqual(sent.map((m) => m.params), [{ first_issued: date }], '"don\'t know": no led');
		assert.equal(await page.getByTestId('diag-code').innerText(), 'R-D3');
		assert.match(await page.getByTestId('diag-note').innerText(), /^Note: The light was not given/);
		assert.ok((await page.getByTestId('diag-warranty').innerText()).includes(`${date} (as entered)`));
		assert.equal(await page.getByTestId('diag-in-warranty').innerText(), 'yes');
		assert.equal(await page.getByTestId('diag-fee').innerText(), '0 CNY (R-D5)');
		assert.deepEqual(s.errors(), []);
	});
});

test('with two keys the page asks which one to diagnose and sends its serial', T, async (t) => {
	const sb = await Sandbox.create(t);
	const [faulty, other] = await sb.tokens(R_D3_KEY, ['--label', 'good key']);
	const agent = await sb.startAgent();

	await withBrowser('diagnose-two-keys', { env: sb.env() }, async (s) => {
		const { page } = s;
		await openPage(page, agent, faulty);
		await page.locator(`[data-testid="token"][data-serial="${other}"]`).waitFor({ timeout: UI_MS });
		const select = page.getByTestId('diag-token');
		await select.waitFor({ timeout: UI_MS });
		assert.equal(await select.isEnabled(), true);
		const options = await select.locator('option').evaluateAll((os) => os.map((o) => [o.value, o.textContent]));
		assert.deepEqual(options.sort(), [[faulty, `faulty key (${faulty})`], [other, `good key (${other})`]].sort());
		await select.selectOption(other);
		await diagnose(page, 'steady');
		await select.selectOption(faulty);
		await page.getByTestId('diag-run').click();
		await page.getByTestId('diag-verdict').and(page.locator('[data-code="R-D3"]')).waitFor({ timeout: UI_MS });
		const sent = s.sockets.flatMap((w) => w.sent).map((f) => JSON.parse(f)).filter((m) => m.method === 'diagnose');
		assert.deepEqual(sent.map((m) => m.params), [{ led: 'steady', token: other }, { led: 'steady', token: faulty }]);
		assert.ok((await page.getByTestId('diag-result').innerText()).includes(`faulty key (${faulty})`));
		assert.deepEqual(s.errors(), []);
	});
});

test('zh_CN: the diagnosis section, its result and the report button are in Chinese', T, async (t) => {
	const sb = await Sandbox.create(t);
	const [serial] = await sb.tokens(R_D3_KEY);
	const agent = await sb.startAgent();

	await withBrowser('diagnose-zh', { env: sb.env(), locale: 'zh-CN' }, async (s) => {
		const { page } = s;
		await openPage(page, agent, serial);
		assert.equal(await page.locator('html').getAttribute('lang'), 'zh-CN');
		const sec = page.getByTestId('diagnose');
		assert.equal(await sec.locator('h2').innerText(), 'USBKey 检测');
		assert.equal(await sec.locator('legend').innerText(), 'USBKey 指示灯');
		const leds = await sec.locator('.diag-led label').allInnerTexts();
		assert.deepEqual(leds.map((l) => l.trim()), ['不亮', '闪烁', '常亮', '不清楚']);
		assert.equal(await sec.locator('label[for="diag-first-issued"]').innerText(), '首次签发日期（可选）');
		assert.equal(await sec.getByTestId('diag-run').innerText(), '开始检测');

		await diagnose(page, 'steady');
		assert.equal(await page.getByTestId('diag-code').innerText(), 'R-D3');
		assert.match(await page.getByTestId('diag-rule-text').innerText(), /^R-D3 介质质量问题：/);
		const result = await page.getByTestId('diag-result').innerText();
		for (const want of ['检测结果', '保修与费用', '首次签发日期', '2020-01-01（USBKey 中记录）', '更换介质费',
			'80 元（R-D6）', '下一步办理', 'R-S4 证书损坏补办', '检查项', '未通过', '打印报告'])
			assert.ok(result.includes(want), `the Chinese result contains "${want}": ${result}`);
		for (const english of ['Diagnose a key', 'Warranty and fee', 'Next service', 'Checks', 'Printable report', 'CNY'])
			assert.ok(!(await page.locator('body').innerText()).includes(english), `no English "${english}" on the Chinese page`);
		// The checks' titles and fixes come from the catalogue (agent/po/zh_CN.po, through
		// diagnose-zh.js); their evidence is data, in the agent's English, marked so.
		const certPresent = page.locator('[data-testid="diag-check"][data-id="cert-present"]');
		assert.equal(await certPresent.locator('.title').innerText(), 'USBKey 中有证书');
		assert.equal(await certPresent.locator('.title').getAttribute('lang'), null, 'the title is in the page\'s language');
		assert.equal(await certPresent.locator('.fix').innerText(), 'USBKey 中的证书已丢失：R-D3');
		assert.equal(await certPresent.locator('.fix').getAttribute('lang'), null);
		assert.equal(await certPresent.locator('.evidence').innerText(), 'no certificate object');
		assert.equal(await certPresent.locator('.evidence').getAttribute('lang'), 'en');
		// Every check the agent names has its Chinese title (the table covers diagnose.c's N_() texts).
		const titles = await page.locator('[data-testid="diag-check"] .title').evaluateAll((els) =>
			els.map((el) => [el.closest('tr').dataset.id, el.textContent, el.lang]));
		assert.ok(titles.length >= 5);
		for (const [id, text, lang] of titles)
			assert.ok(lang === '' && /[\u4e00-\u9fff]/.test(text), `check ${id}: a Chinese title, not "${text}" (lang=${lang})`);
		await s.shot('result');

		// The toggle redraws the result in English, without a new diagnosis.
		await page.getByTestId('lang-toggle').click();
		await page.locator('html[lang="en"]').waitFor({ timeout: UI_MS });
		assert.match(await page.getByTestId('diag-rule-text').innerText(), /^R-D3 media fault: /);
		assert.equal(await page.getByTestId('diag-fee').innerText(), '80 CNY (R-D6)');
		assert.equal(await page.getByTestId('diag-report').innerText(), 'Printable report');
		assert.equal(await certPresent.locator('.title').innerText(), 'Certificate on the key');
		assert.equal(await certPresent.locator('.fix').innerText(), 'The certificate is gone from the key: R-D3');
		// The Chinese table is one more of the page's own files, fetched in Chinese only.
		const urls = [...new Set(s.requests.map((r) => new URL(r.url).pathname))].sort();
		assert.deepEqual(urls, ['/', '/app.js', '/diagnose-zh.js', '/i18n.js', '/sdk/ukey.js', '/style.css']);
		const sent = s.sockets.flatMap((w) => w.sent).map((f) => JSON.parse(f)).filter((m) => m.method === 'diagnose');
		assert.equal(sent.length, 1);
		assert.deepEqual(s.errors(), []);
	});
});

// device.changed needs a real (or virtual) PC/SC reader and root (tests/js/api/devices.test.mjs);
// here the notifications are pushed into the page's own WebSocket to the agent (playwright's
// routeWebSocket keeps the real connection and adds frames), which is all the page sees of them.
test('device.changed: a status line for a key inserted, a mute card, pcscd down, in both languages; the key list still works', T, async (t) => {
	const sb = await Sandbox.create(t);
	const [serial] = await sb.tokens(R_D3_KEY);
	const agent = await sb.startAgent();

	await withBrowser('diagnose-device-events', { env: sb.env() }, async (s) => {
		const { page } = s;
		let route;
		let tamper = null; // a function that rewrites the agent's answers, when set
		await page.routeWebSocket(/\/api$/, (ws) => {
			route = ws;
			const server = ws.connectToServer();
			ws.onMessage((m) => server.send(m));
			server.onMessage(async (m) => ws.send(tamper ? await tamper(m) : m));
		});
		await openPage(page, agent, serial);
		const status = page.getByTestId('device-status');
		assert.equal(await status.isHidden(), true, 'no event yet: no line');
		assert.equal(await status.getAttribute('role'), 'status');
		assert.equal(await status.getAttribute('aria-live'), 'polite');

		const push = (params) => route.send(JSON.stringify({ jsonrpc: '2.0', method: 'device.changed', params }));
		const epass = { id: 'feitian-epass2003', name: 'ePass2003', vendor: 'Feitian', transport: 'ccid', module: 'opensc-pkcs11.so', pin_retries: 10 };
		const time = new Date().toISOString();
		push({ event: 'key-inserted', time, model: epass, reader: null, atr: null,
			usb: { vid: '096e', pid: '0807', port: '1-2', product: 'ePass2003', serial: 'x' } });
		await status.and(page.locator('[data-event="key-inserted"]')).waitFor({ timeout: UI_MS });
		assert.equal(await page.getByTestId('device-text').innerText(), 'Key inserted: Feitian ePass2003');

		push({ event: 'card-mute', time, model: epass, reader: 'Feitian ePass2003 00 00', atr: '3b9f95', usb: null });
		await status.and(page.locator('[data-event="card-mute"]')).waitFor({ timeout: UI_MS });
		assert.match(await page.getByTestId('device-text').innerText(), /^Card does not answer \(mute\): Feitian ePass2003\./);
		assert.equal(await status.getAttribute('data-kind'), 'warn');

		push({ event: 'pcscd-down', time, model: null, reader: null, atr: null, usb: null });
		await status.and(page.locator('[data-event="pcscd-down"]')).waitFor({ timeout: UI_MS });
		assert.match(await page.getByTestId('device-text').innerText(), /^pcscd is not running/);
		await s.shot('en');

		// Chinese: the same line redrawn.
		await page.getByTestId('lang-toggle').click();
		await page.locator('html[lang="zh-CN"]').waitFor({ timeout: UI_MS });
		assert.match(await page.getByTestId('device-text').innerText(), /^智能卡服务 pcscd 未运行/);
		push({ event: 'card-mute', time, model: null, reader: 'Virtual PCD 00 00', atr: null, usb: null });
		await status.and(page.locator('[data-event="card-mute"]')).waitFor({ timeout: UI_MS });
		assert.match(await page.getByTestId('device-text').innerText(), /^卡片无应答：Virtual PCD 00 00。/);
		push({ event: 'key-inserted', time, model: epass, reader: null, atr: null, usb: null });
		await status.and(page.locator('[data-event="key-inserted"]')).waitFor({ timeout: UI_MS });
		assert.equal(await page.getByTestId('device-text').innerText(), 'USBKey 已插入：Feitian ePass2003');
		await s.shot('zh');

		// The key list is untouched by these events and still follows the agent: pull the key.
		const card = page.locator(`[data-testid="token"][data-serial="${serial}"]`);
		assert.equal(await card.count(), 1);
		sb.pull(serial);
		await card.waitFor({ state: 'detached', timeout: UI_MS });
		await page.getByTestId('no-tokens').waitFor({ timeout: UI_MS });
		sb.plugIn(serial);
		await card.waitFor({ timeout: UI_MS });

		// A slow diagnosis (a mute card takes the agent up to 2 s): progress shows, the button is off.
		await page.getByTestId('lang-toggle').click();
		await page.locator('html[lang="en"]').waitFor({ timeout: UI_MS });
		let release;
		const held = new Promise((resolve) => (release = resolve));
		tamper = (m) => (JSON.parse(m).result?.verdict ? held.then(() => m) : m);
		const sec = page.getByTestId('diagnose');
		await sec.getByTestId('diag-led-steady').check();
		await sec.getByTestId('diag-run').click();
		const progress = sec.getByTestId('diag-progress');
		await progress.waitFor({ timeout: UI_MS });
		assert.match(await progress.innerText(), /Diagnosing/);
		assert.equal(await sec.getByTestId('diag-run').isDisabled(), true);
		assert.equal(await sec.getAttribute('aria-busy'), 'true');
		assert.equal(await sec.locator('progress').count(), 1);
		await s.shot('progress');
		release();
		await page.getByTestId('diag-verdict').waitFor({ timeout: UI_MS });
		await progress.waitFor({ state: 'hidden', timeout: UI_MS });
		assert.equal(await sec.getAttribute('aria-busy'), 'false');

		// A report with markup that would run script or load something: nothing of it runs or loads.
		const evil = '<!DOCTYPE html><html><head><style>@import url("/imported.css"); h1 { color: rgb(1, 2, 3) }</style>'
			+ '<script>parent.__evil = "script"</script></head><body><h1>R-D3 report</h1>'
			+ '<img src="/evil.png" onerror="parent.__evil = \'onerror\'"><form action="/x"><button>go</button></form>'
			+ '<a href="javascript:parent.__evil=1" id="a">link</a></body></html>';
		tamper = (m) => {
			const msg = JSON.parse(m);
			if (msg.result && msg.result.report_html)
				msg.result.report_html = evil;
			return JSON.stringify(msg);
		};
		await diagnose(page, 'steady');
		await page.getByTestId('diag-report').click();
		const frameEl = page.getByTestId('report-frame');
		await frameEl.and(page.locator('[data-ready="true"]')).waitFor({ timeout: UI_MS });
		const report = page.frameLocator('[data-testid="report-frame"]');
		assert.equal(await report.locator('h1').innerText(), 'R-D3 report');
		assert.equal(await report.locator('h1').evaluate((el) => getComputedStyle(el).color), 'rgb(1, 2, 3)', 'its style applies');
		await report.locator('#a').click();
		await page.waitForTimeout(300);
		assert.equal(await page.evaluate(() => window.__evil), undefined, 'no script of the report ran');
		const urls = [...new Set(s.requests.map((r) => new URL(r.url).pathname))];
		assert.ok(!urls.includes('/imported.css'), `no @import fetched: ${urls}`);
		tamper = null;
		// What the page logs here is the sandbox and the policy refusing the report's script, handler
		// and javascript: link, and the agent's 404 for /evil.png; no style was refused (the
		// report's own went into a constructed sheet).
		const errs = s.errors().filter((e) => !/Blocked script execution in 'about:srcdoc'|(Executing inline event handler|Running the JavaScript URL) violates|404 \(Not Found\) \(http:\/\/127\.0\.0\.1:\d+\/evil\.png\)/.test(e));
		assert.deepEqual(errs, []);
	});
});
