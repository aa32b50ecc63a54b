// SPDX-License-Identifier: LGPL-2.1-or-later
// Notifications ukeyd pushes (PROTOCOL.md, "Notifications"): keys pulled while it runs, certificates in the renewal window at connect.
//
// SoftHSM2 and "inserting" a key: SoftHSM2 makes its slot list once, at
// C_Initialize, and a token directory moved away and back stays invalid in that
// process. It has no C_WaitForSlotEvent either, so ukeyd re-initialises such a
// module between requests (ukey_p11_rescan) to see keys come and go.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { PIN, Sandbox, sleep } from '../lib/agent.mjs';

const T = { timeout: 40000 };
const DAY = 86400;

async function setup(t, specs) {
	const sb = await Sandbox.create(t);
	const serials = await sb.tokens(...specs);
	const agent = await sb.startAgent(); // UKEY_POLL_MS=200
	return { sb, agent, serials };
}

// Connects and waits until the greeting has run: the worker handles the greeting before the first request.
async function connectGreeted(agent) {
	const c = await agent.page();
	await c.request('agent.info');
	return c;
}

test('token.removed reaches every client within seconds when a key is pulled; the other key stays', T, async (t) => {
	const { sb, agent, serials } = await setup(t, [['--label', 'stays'], ['--label', 'pulled']]);
	const [stays, pulled] = serials;
	const page = await connectGreeted(agent);
	const local = await agent.local();
	await local.request('agent.info');
	assert.equal((await page.request('token.list')).tokens.length, 2);
	const t0 = Date.now();
	sb.pull(pulled);
	const n = await page.notification('token.removed', undefined, 5000);
	assert.deepEqual(n.params, { serial: pulled, label: 'pulled' });
	assert.ok(Date.now() - t0 < 5000);
	assert.deepEqual((await local.notification('token.removed', undefined, 5000)).params, n.params);
	const { tokens } = await page.request('token.list');
	assert.deepEqual(tokens.map((x) => x.serial), [stays]);
	// The key left behind is still usable, and now the only one: no "token" needed.
	assert.equal((await page.request('pin.verify', { pin: PIN })).serial, stays);
	await sleep(600);
	assert.equal(page.notifications('token.removed').length, 1, 'announced once');
	assert.equal(page.notifications('token.inserted').length, 0, 'nothing was inserted');
});

test('token.inserted reaches clients when a new key appears while ukeyd runs', T, async (t) => {
	const { sb, agent } = await setup(t, [['--label', 'first']]);
	const page = await connectGreeted(agent);
	const serial = await sb.mktoken('--label', 'plugged-in');
	const n = await page.notification('token.inserted', undefined, 5000);
	assert.equal(n.params.serial, serial);
	assert.equal(n.params.label, 'plugged-in');
	assert.equal(n.params.pin.tries_left, 10);
	// mktoken initialises the token before it writes the objects, so the count in the event may be early.
	const { certificates } = await page.request('cert.list', { token: serial });
	assert.equal(certificates.length, 1);
	assert.equal((await page.request('pin.verify', { token: serial, pin: PIN })).result, 'verified');
});

test('a key pulled and plugged in again is announced both ways and works again', T, async (t) => {
	const { sb, agent, serials } = await setup(t, [[]]);
	const page = await connectGreeted(agent);
	sb.pull(serials[0]);
	await page.notification('token.removed', undefined, 5000);
	sb.plugIn(serials[0]);
	const n = await page.notification('token.inserted', undefined, 5000);
	assert.equal(n.params.serial, serials[0]);
	assert.equal((await page.request('pin.verify', { pin: PIN })).result, 'verified');
});

test('token.removed for the only key; then PIN methods are no-token', T, async (t) => {
	const { sb, agent, serials } = await setup(t, [[]]);
	const page = await connectGreeted(agent);
	sb.pull(serials[0]);
	const n = await page.notification('token.removed', undefined, 5000);
	assert.equal(n.params.serial, serials[0]);
	const e = await page.error('pin.verify', { pin: PIN });
	assert.equal(e.data.id, 'no-token');
});

test('a client connected after the key was pulled hears nothing about it', T, async (t) => {
	const { sb, agent, serials } = await setup(t, [[]]);
	const first = await connectGreeted(agent);
	sb.pull(serials[0]);
	await first.notification('token.removed', undefined, 5000);
	const late = await connectGreeted(agent);
	await sleep(600);
	assert.deepEqual(late.notifications(), []);
});

test('R-R2: cert.expiring is pushed at connect for a certificate with fewer than 90 days left', T, async (t) => {
	const { agent, serials } = await setup(t, [['--not-after', `+${30 * DAY}`, '--cn', 'Expiring Unit']]);
	const page = await connectGreeted(agent);
	const n = await page.notification('cert.expiring', undefined, 1);
	const c = n.params;
	assert.equal(c.token_serial, serials[0]);
	assert.equal(c.subject_cn, 'Expiring Unit');
	assert.equal(c.renewal_open, true);
	assert.equal(c.status, 'expiring');
	assert.ok(c.days_left >= 29 && c.days_left <= 30, `days_left ${c.days_left}`);
	assert.equal(page.notifications('cert.expiring').length, 1, 'once per certificate');
	// The same certificate in cert.list.
	const listed = (await page.request('cert.list')).certificates[0];
	for (const k of ['token_serial', 'id', 'serial', 'not_after', 'days_left', 'status', 'renewal_open'])
		assert.deepEqual(c[k], listed[k], k);
	// Every new connection hears it, a local program too.
	const local = await agent.local();
	await local.request('agent.info');
	assert.equal(local.notifications('cert.expiring').length, 1);
});

test('R-R2: no cert.expiring for a certificate with 200 days left', T, async (t) => {
	const { agent } = await setup(t, [['--not-after', `+${200 * DAY}`]]);
	const page = await connectGreeted(agent);
	await sleep(300);
	assert.deepEqual(page.notifications('cert.expiring'), []);
	const [c] = (await page.request('cert.list')).certificates;
	assert.equal(c.renewal_open, false);
	assert.ok(c.days_left >= 199 && c.days_left <= 200);
});

test('R-R2: cert.expiring for a certificate expired 10 days ago, none for one expired 400 days ago', T, async (t) => {
	const { agent, serials } = await setup(t, [
		['--not-before', `-${100 * DAY}`, '--not-after', `-${10 * DAY}`, '--label', 'recent'],
		['--not-before', `-${500 * DAY}`, '--not-after', `-${400 * DAY}`, '--label', 'old'],
	]);
	const page = await connectGreeted(agent);
	const all = page.notifications('cert.expiring');
	assert.deepEqual(all.map((n) => n.params.token_serial), [serials[0]], 'only the recently expired one (R-R2: expired ≤ 365 days)');
	assert.equal(all[0].params.status, 'expired');
	assert.equal(all[0].params.renewal_open, true);
	const old = (await page.request('cert.list', { token: serials[1] })).certificates[0];
	assert.equal(old.status, 'expired');
	assert.equal(old.renewal_open, false, 'R-R5: expired more than a year: no online renewal');
});

test('cert.expiring for each certificate in the window, on each key', T, async (t) => {
	const { agent, serials } = await setup(t, [
		['--not-after', `+${10 * DAY}`, '--extra-cert', '--label', 'a'],
		['--not-after', `+${300 * DAY}`, '--label', 'b'],
	]);
	const page = await connectGreeted(agent);
	const got = page.notifications('cert.expiring').map((n) => `${n.params.token_serial}/${n.params.id}`).sort();
	assert.deepEqual(got, [`${serials[0]}/01`, `${serials[0]}/02`]);
});
