// SPDX-License-Identifier: LGPL-2.1-or-later
// device.changed (PROTOCOL.md): ukeyd pushes key, reader and card events from the device layer to every page.
//
// Real PC/SC: a private pcscd with the vpcd reader and the virtual card of
// tests/fixtures/pcsc (root only: the private pcscd needs a mount namespace;
// CI runs as root). ukeyd reaches it through PCSCLITE_CSOCK_NAME like any
// PC/SC client.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { Sandbox, run, sleep, until } from '../lib/agent.mjs';

const T = { timeout: 60000 };
const FIX = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/pcsc');
const R0 = 'Virtual PCD 00 00';
const EPASS_ATR = '3b9f958131fe9f006646530510043171df00003900001f'; // vcard's default (Feitian ePass2003)

// A private pcscd and one virtual card, stopped with the test.
async function pcsc(t, sb) {
	if (process.getuid() !== 0)
		throw new Error('SETUP ERROR: the device tests must run as root (a private pcscd needs a mount namespace)');
	if (!process.env.UKEY_VPCD_LIB)
		throw new Error('SETUP ERROR: UKEY_VPCD_LIB is not set (run through ctest)');
	// Outside the sandbox: the sandbox's own cleanup (registered first, run first) removes its root, and
	// pcscd-private stop needs the pid file in this directory.
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ukey-js-pcsc.'));
	const env = { ...process.env };
	let port, started;
	for (let attempt = 0; attempt < 5 && !started; attempt++) {
		port = (await run(path.join(FIX, 'pcscd-private'), ['free-port'], { env })).stdout.trim();
		started = await run(path.join(FIX, 'pcscd-private'), ['start', dir, port], { env });
		if (started.code === 75)
			started = null; // the port was taken meanwhile: another one
		else if (started.code !== 0)
			throw new Error(`SETUP ERROR: pcscd-private start failed: ${started.stderr}`);
	}
	const sock = path.join(dir, 'run', 'pcscd.comm');
	let card;
	t.after(async () => {
		if (card && card.exitCode === null) {
			card.kill('SIGTERM');
			await new Promise((r) => card.on('exit', r));
		}
		await run(path.join(FIX, 'pcscd-private'), ['stop', dir], { env });
		fs.rmSync(dir, { recursive: true, force: true });
	});
	return {
		env: { PCSCLITE_CSOCK_NAME: sock },
		async insert(args = []) {
			const pidfile = path.join(dir, 'card.pid');
			card = spawn('/usr/bin/python3', [path.join(FIX, 'vcard'), '--port', port, '--pidfile', pidfile,
				'--log', path.join(dir, 'card.log'), ...args], { stdio: 'ignore' });
			await until(() => fs.existsSync(pidfile) && fs.statSync(pidfile).size > 0, 'vcard pid file', 5000);
		},
		remove() {
			card.kill('SIGUSR1');
		},
	};
}

test('a card inserted and pulled reaches the page as device.changed with reader, ATR and model', T, async (t) => {
	const sb = await Sandbox.create(t);
	const p = await pcsc(t, sb);
	const agent = await sb.startAgent({ env: p.env });
	const page = await agent.page();
	await page.request('agent.info');
	await sleep(300); // the watch has read the reader list before the card comes
	await p.insert();
	const { params: ins } = await page.notification('device.changed', (e) => e.event === 'card-inserted', 5000);
	assert.equal(ins.reader, R0);
	assert.equal(ins.atr, EPASS_ATR);
	assert.equal(ins.model.id, 'feitian-epass2003');
	assert.equal(ins.model.pin_retries, 10); // R-P1 default from the model database
	assert.match(ins.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
	p.remove();
	const { params: rem } = await page.notification('device.changed', (e) => e.event === 'card-removed', 5000);
	assert.equal(rem.reader, R0);
});

test('a card that does not answer is pushed as card-mute', T, async (t) => {
	const sb = await Sandbox.create(t);
	const p = await pcsc(t, sb);
	const agent = await sb.startAgent({ env: p.env });
	const page = await agent.page();
	await page.request('agent.info');
	await sleep(300);
	await p.insert(['--mute']);
	await page.notification('device.changed', (e) => e.event === 'card-inserted', 5000);
	const { params: mute } = await page.notification('device.changed', (e) => e.event === 'card-mute', 6000);
	assert.equal(mute.reader, R0);
	p.remove(); // ends the agent's stuck SELECT, so it stops cleanly
	await page.notification('device.changed', (e) => e.event === 'card-removed', 5000);
});
