// Redfish end to end: simulated BMCs attached by the controller to isoproxy's
// node URLs download their images from the whole service (HEAD, then 256 KiB ranges with the last
// one running past the end, OpenBMC's nbdkit pattern; or one whole GET, the emulator's) and verify
// size, a boot config and the node's parameters — with isoproxy in front of a real upstream, not a
// stand-in. Then the same through isoproxy's admin API `POST /api/v1/nodes/:name/vmedia`.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Edits } from '../../src/bootconfig/types.js';
import { attach } from '../../src/redfish/controller.js';
import { createBmcSimulator } from '../../src/redfish/bmc-simulator.js';
import { missingTools, scratchDir } from '../helpers/tools.js';
import { debianLike } from '../remaster/fixtures.js';
import { expectedImage, startProxy, TOKEN, type ProxyUnderTest } from './harness.js';
import { startUpstream, type TestUpstream } from './upstream.js';

const missing = missingTools('xorriso', 'mkfs.fat', 'mcopy');
const noSleep = async (): Promise<void> => {};
const NODES = ['node-1', 'node-2', 'node-3'];
const editsFor = (node: string): Edits => ({ append: [`isoproxy.node=${node}`], set: { 'isoproxy.keep': node } });
/** The tokens a system's image must hold: those of the node its URL names. */
const tokensOf = (_systemId: string, url: string): string[] => {
  const node = /\/iso\/([^/]+)\.iso$/.exec(url)?.[1] ?? '?';
  return [`isoproxy.node=${node}`, `isoproxy.keep=${node}`];
};

const skipped = missing.length > 0 ? ` (skipped: missing ${missing.join(', ')})` : '';

describe.skipIf(missing.length > 0)(`Redfish virtual media against the whole service${skipped}`, () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  let upstream: TestUpstream;
  let proxy: ProxyUnderTest;
  const sizes = new Map<string, number>();

  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-service-redfish-');
    const iso = (await debianLike(scratch.dir)).iso;
    for (const node of NODES) sizes.set(node, (await expectedImage(iso, editsFor(node), join(scratch.dir, `${node}.iso`))).length);
    upstream = await startUpstream({ '/debian.iso': await readFile(iso) });
    proxy = await startProxy({ dir: scratch.dir, allow: [`${upstream.origin}/`] });
    for (const node of NODES) expect((await proxy.putNode(node, { bootIso: upstream.url('/debian.iso'), edits: editsFor(node) })).status).toBe(201);
  });

  afterAll(async () => {
    await proxy?.close();
    await upstream?.close();
    await scratch?.cleanup();
  });

  it("has three systems attached by the controller download their nodes' images by ranges and verify them", async () => {
    const sim = createBmcSimulator({ systems: 3, fetch: 'ranges', expect: tokensOf });
    const bmc = await sim.listen(0, '127.0.0.1');
    try {
      for (const [i, node] of NODES.entries()) {
        const result = await attach({
          bmc: bmc.url,
          username: 'admin',
          password: 'password',
          systemId: String(i + 1),
          imageUrl: proxy.imageUrl(node),
          reset: true,
          sleep: noSleep,
        });
        expect(result.image).toBe(proxy.imageUrl(node));
      }
      for (const [i, node] of NODES.entries()) {
        const id = String(i + 1);
        const progress = await sim.whenFetched(id);
        expect(progress, node).toMatchObject({ state: 'done', verified: true, error: null, totalBytes: sizes.get(node), bytesRead: sizes.get(node) });
        expect(progress.checks?.expectFound).toEqual(Object.fromEntries(tokensOf(id, proxy.imageUrl(node)).map((t) => [t, true])));
        expect(sim.system(id).resets[0]).toMatchObject({ bootTarget: 'Cd', image: proxy.imageUrl(node) });
      }
      // isoproxy's side: node-1 was read as 206 ranges up to its last byte (this image is a
      // multiple of 256 KiB, so the simulator's last range ends exactly there).
      const transfers = proxy.logs.filter((l) => l.msg === 'transfer' && l.node === 'node-1');
      expect(transfers.length).toBe(Math.ceil(sizes.get('node-1')! / (256 * 1024)));
      expect(transfers.every((t) => t.status === 206 && t.outcome === 'complete')).toBe(true);
      const ends = transfers.map((t) => Number(/-(\d+)$/.exec(String(t.range))?.[1]));
      expect(Math.max(...ends)).toBeGreaterThanOrEqual(sizes.get('node-1')! - 1);
    } finally {
      await bmc.close();
    }
  });

  for (const [profile, fetchMode] of [
    ['lenovo', 'ranges'],
    ['supermicro', 'whole'],
  ] as const) {
    it(`verifies the image through a ${profile}-style BMC reading it by ${fetchMode === 'whole' ? 'one whole GET' : 'ranges'}`, async () => {
      const sim = createBmcSimulator({ profile, fetch: fetchMode, expect: tokensOf });
      const bmc = await sim.listen(0, '127.0.0.1');
      try {
        await attach({ bmc: bmc.url, username: 'admin', password: 'password', imageUrl: proxy.imageUrl('node-2'), sleep: noSleep });
        expect(await sim.whenFetched('1')).toMatchObject({ state: 'done', verified: true, error: null, totalBytes: sizes.get('node-2') });
      } finally {
        await bmc.close();
      }
    });
  }

  it('attaches and detaches through the admin API POST/DELETE /api/v1/nodes/:name/vmedia, token required, credentials never logged', async () => {
    const sim = createBmcSimulator({ fetch: 'ranges', expect: tokensOf });
    const bmc = await sim.listen(0, '127.0.0.1');
    const call = (method: string, node: string, token = TOKEN) =>
      fetch(`${proxy.url}/api/v1/nodes/${node}/vmedia`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ bmc: bmc.url, username: 'admin', password: 'sekrit-bmc-password' }),
      });
    try {
      const denied = await call('POST', 'node-3', 'not-the-token-0123456789');
      expect(denied.status).toBe(401);
      expect(sim.state.requests.length).toBe(0);
      const unknown = await call('POST', 'node-9');
      expect(unknown.status).toBe(404);

      // The simulator's password is 'password': a wrong one is the BMC's refusal, 502 naming the step.
      const wrongPassword = await call('POST', 'node-3');
      expect(wrongPassword.status).toBe(502);
      expect(await wrongPassword.json()).toMatchObject({ error: { bmc: expect.any(String), step: expect.any(String) } });

      const res = await fetch(`${proxy.url}/api/v1/nodes/node-3/vmedia`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ bmc: bmc.url, username: 'admin', password: 'password', reset: true }),
      });
      const body = (await res.json()) as Record<string, unknown>;
      expect(res.status, JSON.stringify(body)).toBe(200);
      expect(body).toMatchObject({ node: 'node-3', image: proxy.imageUrl('node-3') });
      expect(await sim.whenFetched('1')).toMatchObject({ state: 'done', verified: true, error: null, totalBytes: sizes.get('node-3') });
      expect(sim.system('1').resets[0]).toMatchObject({ bootTarget: 'Cd', image: proxy.imageUrl('node-3') });

      const detached = await fetch(`${proxy.url}/api/v1/nodes/node-3/vmedia`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ bmc: bmc.url, username: 'admin', password: 'password' }),
      });
      expect(detached.status).toBe(200);
      expect(sim.system('1').vmedia.every((m) => !m.inserted)).toBe(true);
      expect(proxy.logs.some((l) => /sekrit-bmc-password|"password"/.test(JSON.stringify(l)))).toBe(false);
    } finally {
      await bmc.close();
    }
  });
});
