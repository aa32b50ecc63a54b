// SPDX-License-Identifier: LGPL-2.1-or-later
// The example portal on a second origin (issue 4: "the example portal on an allowed origin can
// sign"): agent/web/example-portal/ served by a tiny web server of the test on 127.0.0.1:<other
// port>, allowed with `ukey origin add` while ukeyd runs (no restart), loads the SDK from the agent,
// reads the certificate name from the key, signs the order with the right PIN — a signature that
// verifies against the certificate's public key — and tells the tries left after a wrong PIN.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';

import { PIN, Sandbox, WRONG } from '../lib/agent.mjs';
import { PORTAL_DIR, UI_MS, offLoopback, serveStatic, withBrowser } from './browser.mjs';

const T = { timeout: 55000 };

test('the example portal on an allowed second origin reads the certificate name, signs with the right PIN, and shows the tries left after a wrong one', T, async (t) => {
	const sb = await Sandbox.create(t);
	const [serial] = await sb.tokens(['--label', 'portal key', '--cn', '北京示例科技有限公司', '--org', 'Example Org']);
	const agent = await sb.startAgent();
	const portal = await serveStatic(t, PORTAL_DIR);
	assert.notEqual(portal.port, agent.port);

	// Allowed while ukeyd runs, with the CLI on the same state dir.
	const add = await sb.ukey(['origin', 'add', portal.origin]);
	assert.equal(add.code, 0, add.stderr);
	assert.equal((await sb.ukey(['origin', 'list'])).stdout.trim(), portal.origin);
	const pid = agent.pid;

	const cert = new crypto.X509Certificate(sb.certPem(serial));
	await withBrowser('portal', { env: sb.env() }, async (s) => {
		const { page } = s;
		await page.goto(`${portal.origin}/?agent=${agent.port}`);

		// The certificate name comes from the inserted key.
		const status = page.getByTestId('agent-status');
		await status.and(page.locator('[data-kind="ok"]')).waitFor({ timeout: UI_MS });
		assert.equal(await page.getByTestId('cert-name').innerText(), '北京示例科技有限公司');
		assert.equal(await page.getByTestId('cert-org').innerText(), 'Example Org');
		assert.equal(await page.getByTestId('key-name').innerText(), `portal key · ${serial}`);
		assert.equal(await page.getByTestId('tries-left').innerText(), '剩余 10/10 次 / 10 of 10 tries left');
		const order = await page.getByTestId('order').innerText();
		assert.ok(order.includes('证书名称 Certificate: 北京示例科技有限公司'), order);
		assert.ok(order.includes(`USBKey: portal key (${serial})`), order);

		// The right PIN: a signature over the order, shown in base64, that verifies with node:crypto.
		await page.getByTestId('pin-input').fill(PIN);
		await page.getByTestId('sign').click();
		const sig = page.getByTestId('signature');
		await sig.waitFor({ timeout: UI_MS });
		assert.equal(await page.getByTestId('pin-input').inputValue(), '', 'the PIN input is cleared');
		const signature = Buffer.from((await sig.innerText()).trim(), 'base64');
		assert.equal(signature.length, 256, 'an RSA-2048 signature');
		const signed = Buffer.from(await page.getByTestId('order').textContent(), 'utf8');
		assert.equal(crypto.verify('sha256', signed, cert.publicKey, signature), true, 'the signature verifies against the certificate');
		assert.equal(crypto.verify('sha256', Buffer.from('something else'), cert.publicKey, signature), false);
		// The page's own check in the browser (WebCrypto) agrees.
		await page.getByTestId('verified').waitFor({ timeout: UI_MS });
		assert.match(await page.getByTestId('verified').innerText(), /Verified in the browser with the certificate's public key/);
		assert.equal(await page.getByTestId('error').isVisible(), false);
		await s.shot('signed');

		// A wrong PIN: the error with the tries left; no signature shown.
		await page.getByTestId('pin-input').fill(WRONG);
		await page.getByTestId('sign').click();
		const error = page.getByTestId('error');
		await error.waitFor({ timeout: UI_MS });
		assert.equal(await error.getAttribute('data-error-id'), 'pin-incorrect');
		assert.equal(await error.getAttribute('data-tries-left'), '9');
		assert.equal(await error.innerText(), '密码错误：还可尝试 9 次。 Wrong PIN: 9 tries left.');
		assert.equal(await sig.isVisible(), false);
		assert.equal(await page.getByTestId('pin-input').inputValue(), '');
		await page.getByTestId('tries-left').filter({ hasText: '剩余 9/10 次' }).waitFor({ timeout: UI_MS });
		assert.equal((await sb.pinStatus(serial)).tries_left, 9, 'the CLI counts the portal\'s wrong PIN');

		// Served from two origins only: the portal's files and the agent (the SDK and the WebSocket).
		assert.deepEqual(offLoopback(s.pageAddresses(), [portal.port, agent.port]), []);
		assert.deepEqual(s.caughtBeyondChromium(), []);
		assert.ok(s.requests.some((r) => r.url === `${agent.origin}/sdk/ukey.js`), 'the SDK came from the agent');
		assert.deepEqual(s.sockets.map((w) => w.url), [`ws://127.0.0.1:${agent.port}/api`]);
		assert.deepEqual(s.errors(), []);
	});
	assert.equal(agent.pid, pid);
	assert.equal(agent.exited, false, 'the same ukeyd all along: the origin applied without a restart');
});

test('the portal signs with an EC P-256 key too (ECDSA, DER), and the signature verifies', T, async (t) => {
	const sb = await Sandbox.create(t);
	const [serial] = await sb.tokens(['--label', 'ec key', '--key', 'ec', '--cn', 'EC Unit']);
	const agent = await sb.startAgent();
	const portal = await serveStatic(t, PORTAL_DIR);
	assert.equal((await sb.ukey(['origin', 'add', portal.origin])).code, 0);
	const cert = new crypto.X509Certificate(sb.certPem(serial));
	assert.equal(cert.publicKey.asymmetricKeyType, 'ec');

	await withBrowser('portal-ec', { env: sb.env() }, async (s) => {
		const { page } = s;
		await page.goto(`${portal.origin}/?agent=${agent.port}`);
		await page.getByTestId('cert-name').filter({ hasText: 'EC Unit' }).waitFor({ timeout: UI_MS });
		await page.getByTestId('pin-input').fill(PIN);
		await page.getByTestId('sign').click();
		await page.getByTestId('verified').waitFor({ timeout: UI_MS });
		const signature = Buffer.from((await page.getByTestId('signature').innerText()).trim(), 'base64');
		assert.equal(signature[0], 0x30, 'a DER ECDSA-Sig-Value');
		const signed = Buffer.from(await page.getByTestId('order').textContent(), 'utf8');
		assert.equal(crypto.verify('sha256', signed, cert.publicKey, signature), true, 'the ECDSA signature verifies against the certificate');
		assert.deepEqual(s.errors(), []);
	});
});
