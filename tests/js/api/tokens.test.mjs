// SPDX-License-Identifier: LGPL-2.1-or-later
// The keys' state ukeyd keeps in memory (issue 11, "Token state from events"): token.list and cert.list answer from
// it, so it must never be seen half-updated while the watcher looks at the keys again.
//
// The watcher looks at a SoftHSM2 module (which reports no slot events) when its token directory changes
// (inotify) or, without that, every UKEY_POLL_MS (here 20 ms). To make it look again and again, a file that is no
// object (SoftHSM2 reads only *.object) comes and goes in the key's directory every 20 ms while two clients call
// token.list and cert.list back to back, so that many looks overlap a call. A key with one certificate must show one certificate in every answer.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { Sandbox, sleep } from '../lib/agent.mjs';

const T = { timeout: 60000 };
const HAMMER_MS = 4000;

test('kept-state/token-list-and-cert-list-never-show-a-key-without-its-certificate-while-the-watcher-looks', T, async (t) => {
	const sb = await Sandbox.create(t);
	const [serial] = await sb.tokens([]);
	const agent = await sb.startAgent({ env: { UKEY_POLL_MS: '20' } });
	const clients = [await agent.local(), await agent.local()];
	const torn = [];
	let calls = 0;
	const t0 = Date.now();
	const stir = (async () => {
		const file = path.join(sb.tokenDir(serial), 'not-an-object.tmp');
		while (Date.now() - t0 < HAMMER_MS) {
			fs.writeFileSync(file, 'x');
			await sleep(10);
			fs.rmSync(file, { force: true });
			await sleep(10);
		}
	})();
	// Two connections, so that calls also run side by side on the worker pool.
	await Promise.all(clients.map(async (c, k) => {
		while (Date.now() - t0 < HAMMER_MS) {
			const method = (calls + k) % 2 ? 'cert.list' : 'token.list';
			const r = await c.request(method);
			calls++;
			const n = method === 'token.list' ? r.tokens.find((x) => x.serial === serial)?.certificates
				: r.certificates.filter((x) => x.token_serial === serial).length;
			if (n !== 1)
				torn.push(`${method} at ${Date.now() - t0} ms: ${n}`);
		}
	}));
	await stir;
	assert.ok(calls > 100, `only ${calls} calls in ${HAMMER_MS} ms`);
	assert.deepEqual(torn, [], `${torn.length} of ${calls} answers showed the key without its one certificate`);
});
