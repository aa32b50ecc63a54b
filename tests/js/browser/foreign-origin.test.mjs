// SPDX-License-Identifier: LGPL-2.1-or-later
// A page on a foreign origin cannot use the agent (issue 4: "a page on a foreign origin cannot
// connect"): the example portal served from an origin that is NOT on the allowlist loads the SDK
// (static files are public) but its WebSocket is refused before the upgrade; the page shows its
// error, ukeyd logs the refusal, and not one frame passes. Allowing one origin does not allow another.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Sandbox, sleep } from '../lib/agent.mjs';
import { PORTAL_DIR, UI_MS, serveStatic, withBrowser } from './browser.mjs';

const T = { timeout: 50000 };

test('the portal on an origin that is not allowed cannot connect: its error, a refusal in the log, no WebSocket frame', T, async (t) => {
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
		assert.ok(text.includes(`The ukey agent at 127.0.0.1:${agent.port} refused the connection`), text);
		assert.ok(text.includes(`ukey origin add ${foreign.origin}`), text);
		assert.ok(text.includes('拒绝了连接'), text);
		// Nothing of the key reached the page: no name, no PIN entry.
		assert.equal(await page.getByTestId('cert-name').innerText(), '');
		assert.equal(await page.locator('#cert-info').isVisible(), false);
		assert.equal(await page.getByTestId('pin-input').isDisabled(), true);
		assert.equal(await page.getByTestId('sign').isDisabled(), true);
		assert.equal(await page.getByTestId('order').innerText(), '—');

		// ukeyd refused the handshake and said why.
		const line = await agent.logged(/refused a WebSocket handshake: origin not allowed/, 5000);
		assert.ok(line);
		assert.ok(!agent.stderr.includes(serial), 'nothing about the key in the refusal');

		// The WebSocket: attempted once, never open, not one frame either way.
		await sleep(300); // let any late frame or retry show
		assert.equal(s.sockets.length, 1, `one attempt: ${JSON.stringify(s.sockets)}`);
		const [ws] = s.sockets;
		assert.equal(ws.url, `ws://127.0.0.1:${agent.port}/api`);
		assert.deepEqual(ws.sent, [], 'no frame sent');
		assert.deepEqual(ws.received, [], 'no frame received');
		assert.ok(ws.errors.length > 0 || ws.closed, 'the socket failed');
		const seen = await page.evaluate(() => window.__ukeySockets);
		assert.equal(seen.length, 1);
		assert.ok(!seen[0].events.includes('open'), `the page saw no open: ${seen[0].events}`);
		assert.deepEqual(seen[0].events, ['error', 'close 1006']);
		// The SDK was fetched (static files are public), the refusal is the handshake's.
		assert.ok(s.requests.some((r) => r.url === `${agent.origin}/sdk/ukey.js`));
		// Chromium reports the failed handshake itself, with the agent's answer.
		const consoleErrors = s.errors();
		assert.equal(consoleErrors.length, 1, consoleErrors.join('\n'));
		assert.match(consoleErrors[0], /WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/api' failed: Error during WebSocket handshake: Unexpected response code: 403/);
	});

	// The agent still serves the allowed origin (the page on the allowed origin connects and reads the key).
	await withBrowser('foreign-origin-allowed', { env: sb.env() }, async (s) => {
		await s.page.goto(`${allowed.origin}/?agent=${agent.port}`);
		await s.page.getByTestId('agent-status').and(s.page.locator('[data-kind="ok"]')).waitFor({ timeout: UI_MS });
		assert.equal(await s.page.getByTestId('key-name').innerText(), `foreign key · ${serial}`);
	});
});
