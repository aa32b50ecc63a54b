// SPDX-License-Identifier: LGPL-2.1-or-later
// The agent's own page in Chromium (issue 4, "Local page"): what a user sees of an inserted key
// and its certificate, with no console error and nothing fetched from anywhere but the agent.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';

import { Sandbox } from '../lib/agent.mjs';
import { UI_MS, offLoopback, withBrowser } from './browser.mjs';

const T = { timeout: 50000 };
const DAY_MS = 86400000;

test('the page shows the inserted key, its PIN tries and its certificate, with no console error and no request off 127.0.0.1', T, async (t) => {
	const sb = await Sandbox.create(t);
	// 200 days and a half: a count of days left that no second boundary during the test can change.
	const [serial] = await sb.tokens(['--label', 'demo key', '--cn', 'Beijing Test Unit', '--org', 'Test Org',
		'--not-after', `+${200 * 86400 + 43200}`]);
	const agent = await sb.startAgent();
	const cert = new crypto.X509Certificate(sb.certPem(serial));
	const cli = await sb.ukey(['--json', 'certs']);
	assert.equal(cli.code, 0, cli.stderr);

	await withBrowser('page-token', { env: sb.env() }, async (s) => {
		const { page } = s;
		await page.goto(`${agent.origin}/`);

		const conn = page.getByTestId('connection');
		await conn.and(page.locator('[data-state="open"]')).waitFor({ timeout: UI_MS });
		assert.match(await conn.innerText(), /Connected to the agent \(ukeyd \d+\.\d+\.\d+\)/);

		// The key: label, serial, model, PIN tries.
		const card = page.locator(`[data-testid="token"][data-serial="${serial}"]`);
		await card.getByTestId('cert').waitFor({ timeout: UI_MS });
		assert.equal(await page.getByTestId('token').count(), 1);
		assert.equal(await card.locator('h3').innerText(), 'demo key');
		const head = await card.locator('.token-head').innerText();
		assert.ok(head.includes(serial), `serial ${serial} shown: ${head}`);
		assert.ok(head.includes('SoftHSM'), `model shown: ${head}`);
		const tries = card.getByTestId('tries-left');
		assert.equal(await tries.innerText(), '10 of 10 tries left');
		assert.equal(await tries.getAttribute('data-tries'), '10');
		assert.equal(await card.getAttribute('data-locked'), 'false');

		// Its certificate: name, organisation, issuer, validity, status and days left (as the CLI counts them).
		const c = card.getByTestId('cert');
		assert.equal(await c.count(), 1);
		assert.equal(await c.locator('h5').innerText(), 'Beijing Test Unit');
		const text = await c.innerText();
		for (const want of ['Test Org', 'ukey Demo CA', 'Valid', 'RSA-2048, matches the key pair on the key'])
			assert.ok(text.includes(want), `certificate shows "${want}": ${text}`);
		const notAfter = new Date(cert.validTo).toISOString().slice(0, 10);
		assert.ok(text.includes(notAfter), `end date ${notAfter} shown: ${text}`);
		const daysLeft = cli.json.certificates[0].days_left;
		assert.equal(daysLeft, 200);
		assert.equal(daysLeft, Math.floor((Date.parse(cert.validTo) - Date.now()) / DAY_MS));
		assert.equal(await c.getByTestId('days-left').innerText(), `${daysLeft} days left`);
		const status = c.getByTestId('cert-status');
		assert.equal(await status.getAttribute('data-status'), 'valid');
		assert.equal(await status.getAttribute('data-renewal-open'), 'false');
		assert.match(await status.innerText(), new RegExp(`^Valid, ${daysLeft} days left\\. Online renewal opens on \\d{4}-\\d{2}-\\d{2}, when fewer than 90 days are left \\(R-R2\\)\\.$`));

		// PIN entry is on while connected and the key is not locked.
		assert.equal(await card.getByTestId('pin-input').isEnabled(), true);
		assert.equal(await card.getByTestId('pin-verify').isEnabled(), true);

		// Let anything late (a lazy fetch, a retried socket) happen before the record is read.
		await page.waitForTimeout(500);
		assert.deepEqual(s.errors(), [], 'no console error, no uncaught exception');
		assert.deepEqual(s.failed, [], 'no failed request');
		assert.deepEqual(offLoopback(s.pageAddresses(), [agent.port]), [], 'every request of the page went to the agent on 127.0.0.1');
		// Chromium's own background calls (time, component update, accounts, autofill) are not the page's;
		// they went to the catcher, not to the network. Anything else there would be the page's doing.
		assert.deepEqual(s.caughtBeyondChromium(), [], 'nothing but Chromium\'s own Google-service calls reached the catcher');
		if (s.catcher.caught.length)
			t.diagnostic(`Chromium's own calls, blocked: ${s.catcher.caught.map((c) => c.replace(/\?.*/, '')).join(', ')}`);
		// The page's own files and exactly one WebSocket to the agent, which answered.
		const urls = s.requests.map((r) => new URL(r.url).pathname).sort();
		assert.deepEqual(urls, ['/', '/app.js', '/i18n.js', '/sdk/ukey.js', '/style.css']);
		assert.equal(s.sockets.length, 1);
		assert.equal(s.sockets[0].url, `ws://127.0.0.1:${agent.port}/api`);
		assert.ok(s.sockets[0].received.length >= 3, 'agent.info, token.list and cert.list answered');
	});
});
