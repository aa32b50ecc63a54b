// SPDX-License-Identifier: LGPL-2.1-or-later
// PINs typed into the agent's page (issue 4: "a wrong PIN shows tries left"): what the page says
// after a wrong and a right PIN, and how it shows a key locked by ten wrong PINs (R-P1..R-P3) — with
// the count always the one `ukey pin status` reads from the same state dir.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MAX_TRIES, PIN, Sandbox, WRONG } from '../lib/agent.mjs';
import { UI_MS, withBrowser } from './browser.mjs';

const T = { timeout: 55000 };

// Types a PIN into the card's check form, submits it, and waits for the answer (not "Asking the key…").
async function checkPin(card, pin) {
	const input = card.getByTestId('pin-input');
	const msg = card.getByTestId('pin-message');
	const before = await msg.innerText();
	await input.fill(pin, { timeout: UI_MS }); // waits until the form is enabled again
	await card.getByTestId('pin-verify').click();
	// Each answer in this test differs from the one before; "Asking the key…" (kind info) is not one.
	await card.page().waitForFunction(
		([el, prev]) => el.textContent && el.textContent !== prev && el.dataset.kind && el.dataset.kind !== 'info',
		[await msg.elementHandle(), before], { timeout: UI_MS });
	return { text: await msg.innerText(), kind: await msg.getAttribute('data-kind'), value: await input.inputValue() };
}

// Waits until the card's PIN badge shows this count (null: locked); resolves its text.
async function badge(card, tries) {
	const el = card.getByTestId('tries-left');
	const sel = tries === null ? '[data-locked="true"]' : `[data-tries="${tries}"][data-locked="false"]`;
	await el.and(card.page().locator(sel)).waitFor({ timeout: UI_MS });
	return el.innerText();
}

test('a wrong PIN shows the tries left and clears the input; the right PIN succeeds; ten wrong PINs lock the key and the page says so', T, async (t) => {
	const sb = await Sandbox.create(t);
	const [serial] = await sb.tokens(['--label', 'pin key']);
	const agent = await sb.startAgent();

	await withBrowser('pin', { env: sb.env() }, async (s) => {
		const { page } = s;
		await page.goto(`${agent.origin}/`);
		const card = page.locator(`[data-testid="token"][data-serial="${serial}"]`);
		await card.getByTestId('cert').waitFor({ timeout: UI_MS });
		assert.equal(await badge(card, 10), '10 of 10 tries left');

		// A wrong PIN: 9 left, in the message and on the badge, as the CLI counts; the input is empty again.
		let r = await checkPin(card, WRONG);
		assert.equal(r.text, 'Wrong PIN: 9 tries left before the key locks.');
		assert.equal(r.kind, 'warn');
		assert.equal(r.value, '', 'the PIN input is cleared');
		assert.equal(await badge(card, 9), '9 of 10 tries left');
		assert.equal((await sb.pinStatus(serial)).tries_left, 9);
		await s.shot('wrong');

		// The right PIN: success, and the count of wrong PINs in a row starts again (R-P1).
		r = await checkPin(card, PIN);
		assert.equal(r.text, 'PIN correct: 10 of 10 tries left.');
		assert.equal(r.kind, 'ok');
		assert.equal(r.value, '');
		assert.equal(await badge(card, 10), '10 of 10 tries left');
		assert.equal((await sb.pinStatus(serial)).tries_left, 10);
		await s.shot('right');

		// R-P1: ten wrong PINs in a row lock the key; after each, the page and the CLI agree.
		for (let i = 1; i <= MAX_TRIES; i++) {
			const left = MAX_TRIES - i;
			r = await checkPin(card, WRONG);
			assert.equal(r.value, '');
			const cli = await sb.pinStatus(serial);
			assert.equal(cli.tries_left, left, `after wrong PIN ${i}: the CLI's count`);
			if (left > 1) {
				assert.equal(r.text, `Wrong PIN: ${left} tries left before the key locks.`);
				assert.equal(await badge(card, left), `${left} of 10 tries left`);
			} else if (left === 1) {
				assert.equal(r.text, 'Wrong PIN: 1 try left; one more wrong PIN locks the key (R-P1).');
				assert.equal(r.kind, 'error');
				assert.equal(await badge(card, 1), '1 of 10 tries left');
				assert.equal(cli.final_try, true);
				assert.equal(await card.locator('.final-try').innerText(), 'One try left: one more wrong PIN locks the key (R-P1).');
			} else {
				assert.equal(r.text, 'Wrong PIN: that was the last try and the key is now locked (R-P1); unlocking is free, online or at the service point (R-P3).');
				assert.equal(r.kind, 'error');
				assert.equal(cli.locked, true);
			}
		}

		// Locked (R-P2/R-P3): the badge, the notice with both ways to unlock, and no PIN entry.
		assert.equal(await badge(card, null), 'locked');
		assert.equal(await card.getAttribute('data-locked'), 'true');
		const notice = card.locator('.lock-notice');
		await notice.waitFor({ timeout: UI_MS });
		const text = await notice.innerText();
		for (const want of [
			'This USBKey is locked after 10 consecutive wrong PINs (R-P1).',
			'Even the right PIN is refused until it is unlocked (R-P2).',
			'Unlocking is free, online or at the service point (R-P3).',
			'Online: submit an unlock request',
			'At the service point:',
		])
			assert.ok(text.includes(want), `the lock notice says "${want}": ${text}`);
		assert.equal(await card.getByTestId('pin-input').isDisabled(), true);
		assert.equal(await card.getByTestId('pin-verify').isDisabled(), true);
		assert.equal(await card.locator('.locked-note').innerText(), 'PIN entry is off while the key is locked.');

		// The CLI sees the same lock, and the right PIN is refused without reaching the key (exit 4).
		const cli = await sb.pinStatus(serial);
		assert.deepEqual([cli.tries_left, cli.locked, cli.max_tries], [0, true, 10]);
		const verify = await sb.ukey(['pin', 'verify'], { input: `${PIN}\n` });
		assert.equal(verify.code, 4, verify.stderr);
		// The page learnt of the lock from the agent too.
		assert.ok(s.sockets[0].received.some((f) => JSON.parse(f).method === 'pin.locked'), 'pin.locked was pushed');
		assert.deepEqual(s.errors(), []);
	});
});
