// SPDX-License-Identifier: LGPL-2.1-or-later
// The agent's page in Chinese (issue 4: "zh_CN and English"): a browser whose language is zh-CN gets
// the page in Chinese, with the CA's words (USBKey, 密码, 证书); the toggle switches to English and
// the choice survives a reload.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Sandbox, WRONG } from '../lib/agent.mjs';
import { UI_MS, withBrowser } from './browser.mjs';

const T = { timeout: 50000 };

test('with locale zh-CN the page is in Chinese; the toggle switches it to English', T, async (t) => {
	const sb = await Sandbox.create(t);
	const [serial] = await sb.tokens(['--label', 'zh key', '--not-after', `+${200 * 86400 + 43200}`]);
	const agent = await sb.startAgent();

	await withBrowser('i18n', { env: sb.env(), locale: 'zh-CN' }, async (s) => {
		const { page } = s;
		assert.equal(await page.evaluate(() => navigator.language), 'zh-CN');
		await page.goto(`${agent.origin}/`);
		const card = page.locator(`[data-testid="token"][data-serial="${serial}"]`);
		await card.getByTestId('cert').waitFor({ timeout: UI_MS });
		await page.getByTestId('connection').and(page.locator('[data-state="open"]')).waitFor({ timeout: UI_MS });

		assert.equal(await page.locator('html').getAttribute('lang'), 'zh-CN');
		assert.equal(await page.title(), 'ukey — USBKey 与数字证书');
		assert.equal(await page.locator('h1').innerText(), 'ukey — USBKey 与数字证书');
		assert.match(await page.getByTestId('connection').innerText(), /^已连接本机 ukey 服务（ukeyd [\d.]+）$/);
		assert.equal(await card.getByTestId('tries-left').innerText(), '剩余 10/10 次');
		assert.equal(await card.getByTestId('days-left').innerText(), '剩余 200 天');
		assert.match(await card.getByTestId('cert-status').innerText(), /^有效，剩余 200 天。/);
		const body = await page.locator('body').innerText();
		for (const want of ['USBKey', '密码', '证书', '验证密码', '修改密码', '序列号'])
			assert.ok(body.includes(want), `the Chinese page contains "${want}"`);
		for (const english of ['Check the PIN', 'Change the PIN', 'tries left', 'Certificates'])
			assert.ok(!body.includes(english), `no English "${english}" on the Chinese page`);

		// A wrong PIN in Chinese: the message tells the tries left.
		await card.getByTestId('pin-input').fill(WRONG);
		await card.getByTestId('pin-verify').click();
		const msg = card.getByTestId('pin-message');
		await msg.and(page.locator('[data-kind="warn"]')).waitFor({ timeout: UI_MS });
		assert.equal(await msg.innerText(), '密码错误：还可尝试 9 次，用完后 USBKey 将被锁死。');
		await card.getByTestId('tries-left').and(page.locator('[data-tries="9"]')).waitFor({ timeout: UI_MS });
		assert.equal(await card.getByTestId('tries-left').innerText(), '剩余 9/10 次');
		await s.shot('zh');

		// The toggle: English, the same facts, the message redrawn in English.
		const toggle = page.getByTestId('lang-toggle');
		assert.equal(await toggle.getAttribute('data-lang'), 'zh_CN');
		await toggle.click();
		await page.locator('html[lang="en"]').waitFor({ timeout: UI_MS });
		assert.equal(await toggle.getAttribute('data-lang'), 'en');
		assert.equal(await page.locator('h1').innerText(), 'ukey — USBKeys and certificates');
		assert.equal(await card.getByTestId('tries-left').innerText(), '9 of 10 tries left');
		assert.equal(await card.getByTestId('days-left').innerText(), '200 days left');
		assert.equal(await msg.innerText(), 'Wrong PIN: 9 tries left before the key locks.');
		assert.match(await page.getByTestId('connection').innerText(), /^Connected to the agent/);
		const en = await page.locator('body').innerText();
		for (const want of ['Check the PIN', 'Change the PIN', 'Certificates'])
			assert.ok(en.includes(want), `the English page contains "${want}"`);
		for (const zh of ['密码', '证书', '验证'])
			assert.ok(!en.includes(zh), `no Chinese "${zh}" left on the English page`);

		// The choice is remembered: English after a reload, though the browser still says zh-CN.
		await page.reload();
		await card.getByTestId('cert').waitFor({ timeout: UI_MS });
		assert.equal(await page.locator('html').getAttribute('lang'), 'en');
		assert.equal(await card.getByTestId('tries-left').innerText(), '9 of 10 tries left');
		assert.deepEqual(s.errors(), []);
	});
});
