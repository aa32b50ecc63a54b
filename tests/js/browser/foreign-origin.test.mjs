// SPDX-License-Identifier: LGPL-2.1-or-later
// A page on a foreign origin cannot use the agent (issue 4: "a page on a foreign origin cannot
// connect"): the example portal served from an origin that is NOT on the allowlist cannot even
// import the SDK (the agent serves it cross-origin only to allowed origins, issue 12), so it never
// opens a WebSocket; the page shows its error and how to allow it. A WebSocket it opened anyway is
// refused before the upgrade (api/security). Allowing one origin does not allow another.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Sandbox, sleep } from '../lib/agent.mjs';
import { PORTAL_DIR, UI_MS, serveStatic, withBrowser } from './browser.mjs';

const T = { timeout: 50000 };

test('the portal on an origin that is not allowed cannot import the SDK or connect: its error says how to allow it, no WebSocket', T, async (t) => {
	const sb = await Sandbox.create(t);
	const [serial] = await sb.tokens(['--label', 'foreign key']);
	const agent = await sb.startAgent();
	const allowed = await serveStatic(t, PORTAL_DIR);
	const foreign = await serveStatic(t, PORTAL_DIR);
	// Another origin is allowed, and the foreign one differs from it only by the port.
	assert.equal((await sb.ukey(['origin', 'add', allowed.origin])).code, 0);
	assert.equal((await sb.ukey(['origin', 'list'])).stdout.trim(), allowed.origin);

	await withBrowser('foreign-origin', { env: sb.env(), watchSockets: true }, async (s) => {
		const { page } = s;
		await page.goto(`${foreign.origin}/?agent=${agent.port}`);

		// The page's own words: refused, and how to allow it.
		const status = page.getByTestId('agent-status');
		await status.and(page.locator('[data-kind="error"]')).waitFor({ timeout: UI_MS });
		const text = await status.innerText();
		assert.ok(text.includes(`Cannot load the SDK from the ukey agent at 127.0.0.1:${agent.port}`), text);
		assert.ok(text.includes(`ukey origin add ${foreign.origin}`), text);
		assert.ok(text.includes('不在其允许列表中'), text);
		// Nothing of the key reached the page: no name, no PIN entry.
		assert.equal(await page.getByTestId('cert-name').innerText(), '');
		assert.equal(await page.locator('#cert-info').isVisible(), false);
		assert.equal(await page.getByTestId('pin-input').isDisabled(), true);
		assert.equal(await page.getByTestId('sign').isDisabled(), true);
		assert.equal(await page.getByTestId('order').innerText(), '—');

		// The SDK was asked for, and refused to the page by CORS: no WebSocket at all.
		await sleep(300); // let any late request or socket show
		assert.ok(s.requests.some((r) => r.url === `${agent.origin}/sdk/ukey.js`));
		assert.deepEqual(s.sockets, [], 'no WebSocket was opened');
		const seen = await page.evaluate(() => window.__ukeySockets);
		assert.deepEqual(seen, []);
		assert.ok(!agent.stderr.includes(serial), 'nothing about the key in the log');
		// Chromium says why: the SDK has no Access-Control-Allow-Origin for this origin.
		const consoleErrors = s.errors().join('\n');
		assert.match(consoleErrors, /sdk\/ukey\.js.*blocked by CORS policy: No 'Access-Control-Allow-Origin' header/);
	});

	// The agent still serves the allowed origin (the page on the allowed origin connects and reads the key).
	await withBrowser('foreign-origin-allowed', { env: sb.env() }, async (s) => {
		await s.page.goto(`${allowed.origin}/?agent=${agent.port}`);
		await s.page.getByTestId('agent-status').and(s.page.locator('[data-kind="ok"]')).waitFor({ timeout: UI_MS });
		assert.equal(await s.page.getByTestId('key-name').innerText(), `foreign key · ${serial}`);
	});
});
