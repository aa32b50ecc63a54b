// SPDX-License-Identifier: LGPL-2.1-or-later
// renew.check and renew.start (PROTOCOL.md): online renewal from a page, against the reference CA over real HTTPS,
// with renew.progress notifications, the PIN counted like everywhere (R-P1) and the CLI's rules (R-R2, R-R3).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { PIN, WRONG, Sandbox, run, startRefCa } from '../lib/agent.mjs';

const T = { timeout: 60000 };
const DAY = 86400;
const REFCA = process.env.UKEY_REFCA_BIN;

async function setup(t, daysLeft) {
	const sb = await Sandbox.create(t);
	const ca = await startRefCa(t, sb);
	const serial = await sb.mktoken('--refca', ca.dir, '--not-before', `-${(365 - daysLeft) * DAY}`,
		'--not-after', `+${daysLeft * DAY}`);
	const agent = await sb.startAgent({ args: ['--ca-url', ca.url, '--ca-trust', ca.trust] });
	return { sb, ca, serial, agent };
}

test('R-R2/R-R3: renew.check reads the key: 60 days left is open, the new end one year after the old', T, async (t) => {
	const { sb, ca, agent } = await setup(t, 60);
	const page = await agent.page();
	const plan = await page.request('renew.check');
	assert.equal(plan.renewal.open, true);
	assert.equal(plan.renewal.rule, 'R-R3');
	assert.equal(plan.certificate.days_left, 60);
	const cli = await sb.ukey(['--json', '--ca-url', ca.url, '--ca-trust', ca.trust, 'renew', '--check']);
	assert.equal(cli.code, 0);
	assert.deepEqual(cli.json.renewal, plan.renewal);
});

test('renew.start: progress step by step, the new certificate on the key, the PIN still the same (R-P4)', T, async (t) => {
	const { agent, serial } = await setup(t, 30);
	const page = await agent.page();
	const before = (await page.request('cert.list')).certificates;
	assert.equal(before.length, 1);
	const result = await page.request('renew.start', { pin: PIN }, { timeoutMs: 45000 });
	assert.equal(result.result, 'renewed');
	const steps = page.messages.filter((m) => m.method === 'renew.progress').map((m) => m.params.step);
	assert.deepEqual(steps, ['login', 'keygen', 'request', 'verify', 'write', 'remove-old', 'done']);
	const after = (await page.request('cert.list')).certificates;
	assert.equal(after.length, 1);
	assert.notEqual(after[0].serial, before[0].serial);
	assert.equal(after[0].not_after.slice(0, 10), result.new_not_after);
	assert.equal(after[0].key_match, 'match');
	assert.equal((await page.request('pin.verify', { pin: PIN, token: serial })).result, 'verified');
});

test('R-P1: a wrong PIN in renew.start counts and changes nothing', T, async (t) => {
	const { agent } = await setup(t, 30);
	const page = await agent.page();
	const e = await page.error('renew.start', { pin: WRONG });
	assert.equal(e.code, -32010);
	assert.equal(e.data.tries_left, 9);
	assert.equal(e.data.rule, 'R-P1');
	const certs = (await page.request('cert.list')).certificates;
	assert.equal(certs.length, 1);
});

test('R-R2: outside the window renew.start is refused before any PIN is tried', T, async (t) => {
	const { agent } = await setup(t, 200);
	const page = await agent.page();
	const e = await page.error('renew.start', { pin: PIN });
	assert.equal(e.data.id, 'renew-not-open');
	assert.equal(e.data.rule, 'R-R2');
	assert.equal((await page.request('pin.status')).tries_left, 10);
	assert.equal((await page.error('renew.start', {})).code, -32602);
});

test('an agent without a CA says so; renew.check still works offline', T, async (t) => {
	const sb = await Sandbox.create(t);
	const ca = await startRefCa(t, sb);
	await sb.mktoken('--refca', ca.dir, '--not-after', `+${30 * DAY}`);
	const agent = await sb.startAgent();
	const page = await agent.page();
	assert.equal((await page.request('renew.check')).renewal.open, true);
	const e = await page.error('renew.start', { pin: PIN });
	assert.equal(e.data.id, 'ca-not-configured');
	assert.match(e.message, /--ca-url/);
});

test('R-R6: an order waiting at the CA is renew-pending; a new page hears renew.pending; paid, renew.start finishes', T, async (t) => {
	const sb = await Sandbox.create(t);
	const ca = await startRefCa(t, sb, ['--retry-after', '5']); // no --autopay: the order waits for payment
	const serial = await sb.mktoken('--refca', ca.dir, '--not-before', `-${335 * DAY}`, '--not-after', `+${30 * DAY}`);
	const agent = await sb.startAgent({ args: ['--ca-url', ca.url, '--ca-trust', ca.trust] });
	const page = await agent.page();
	const e = await page.error('renew.start', { pin: PIN }, { timeoutMs: 45000 });
	assert.equal(e.data.id, 'renew-pending');
	assert.equal(e.data.rule, 'R-R6');
	const later = await agent.page();
	const { params: pending } = await later.notification('renew.pending', (p) => p.serial === serial, 5000);
	assert.equal(pending.state, 'pending');
	assert.ok(pending.order, 'the CA order id is kept');
	assert.match(pending.retry_after, /^\d{4}-\d\d-\d\dT/);
	const paid = await run(REFCA, ['admin', ca.dir, 'pay', pending.order]);
	assert.equal(paid.code, 0, paid.stderr);
	const done = await later.request('renew.start', { pin: PIN }, { timeoutMs: 45000 });
	assert.equal(done.result, 'renewed');
	const certs = (await later.request('cert.list')).certificates;
	assert.equal(certs.length, 1);
	assert.ok(certs[0].days_left > 365);
});
