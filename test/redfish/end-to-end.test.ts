// End to end with a real image server: the controller attaches simulated systems to per-node ISO
// URLs, and each simulated BMC downloads its image the way BMCs do (HEAD, then 256 KiB ranges with
// the last one running past the end, or one whole GET) and verifies size, boot config and the
// node's parameters. A plain node:http server stands in for isoproxy; the ISOs are built by
// xorriso at test time, one per node, with a padding file so the image spans several ranges.

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attach } from '../../src/redfish/controller.js';
import { createBmcSimulator } from '../../src/redfish/bmc-simulator.js';
import { missingTools, run, scratchDir } from '../helpers/tools.js';
import { startImageServer, type ImageServer } from './image-server.js';

const missing = missingTools('xorriso');
const noSleep = async (): Promise<void> => {};

/** A small bootable-looking ISO for one node: grub.cfg and isolinux.cfg carrying its parameters. */
async function buildIso(dir: string, node: string): Promise<Buffer> {
  const root = join(dir, node);
  await mkdir(join(root, 'boot/grub'), { recursive: true });
  await mkdir(join(root, 'isolinux'), { recursive: true });
  const grub = `set timeout=1\nmenuentry "Live ${node}" {\n  linux /live/vmlinuz boot=live console=ttyS0 isoproxy.node=${node}\n  initrd /live/initrd.img\n}\n`;
  await writeFile(join(root, 'boot/grub/grub.cfg'), grub);
  await writeFile(
    join(root, 'isolinux/isolinux.cfg'),
    `DEFAULT live\nLABEL live\n  KERNEL /live/vmlinuz\n  APPEND boot=live isoproxy.node=${node}\n`,
  );
  // 700 KiB of deterministic filler so the image needs several 256 KiB ranges.
  const filler = Buffer.alloc(700 * 1024);
  for (let i = 0; i < filler.length; i++) filler[i] = (i * 31 + 7) & 0xff;
  await writeFile(join(root, 'filler.bin'), filler);
  const iso = join(dir, `${node}.iso`);
  await run('xorriso', ['-as', 'mkisofs', '-quiet', '-V', 'ISOPROXY_E2E', '-J', '-R', '-o', iso, root]);
  return readFile(iso);
}

describe.skipIf(missing.length > 0)(`attach end to end${missing.length > 0 ? ` (skipped: missing ${missing.join(', ')})` : ''}`, () => {
  let server: ImageServer;
  let cleanup: () => Promise<void>;
  const images = new Map<string, Buffer>();

  beforeAll(async () => {
    const scratch = await scratchDir('isoproxy-redfish-');
    cleanup = scratch.cleanup;
    for (const node of ['node-1', 'node-2', 'node-3']) images.set(node, await buildIso(scratch.dir, node));
    server = await startImageServer(images);
  });
  afterAll(async () => {
    await server?.close();
    await cleanup?.();
  });

  it("has each system download its node's image by ranges and verify it", async () => {
    const sim = createBmcSimulator({ systems: 3, fetch: 'ranges', expect: (_sid, url) => [`isoproxy.node=${/\/iso\/([^/]+)\.iso/.exec(url)?.[1]}`] });
    const bmc = await sim.listen(0, '127.0.0.1');
    try {
      server.requests.length = 0;
      for (const id of ['1', '2', '3']) {
        const imageUrl = `${server.url}/iso/node-${id}.iso`;
        await attach({ bmc: bmc.url, username: 'admin', password: 'password', systemId: id, imageUrl, reset: true, sleep: noSleep });
      }
      for (const id of ['1', '2', '3']) {
        const progress = await sim.whenFetched(id);
        const size = images.get(`node-${id}`)!.length;
        expect(progress).toMatchObject({ state: 'done', verified: true, error: null, totalBytes: size, bytesRead: size });
        expect(progress.checks).toEqual({ sizeOk: true, bootConfig: 'menuentry', expectFound: { [`isoproxy.node=node-${id}`]: true } });
        expect(sim.system(id).resets[0]).toEqual({ type: 'On', bootTarget: 'Cd', image: `${server.url}/iso/node-${id}.iso` });
      }
      const node1 = server.requests.filter((r) => r.path === '/iso/node-1.iso');
      const size1 = images.get('node-1')!.length;
      expect(node1[0]).toMatchObject({ method: 'HEAD', range: undefined, status: 200 });
      const ranges = node1.slice(1);
      expect(ranges.length).toBe(Math.ceil(size1 / (256 * 1024)));
      expect(ranges.every((r) => r.status === 206)).toBe(true);
      const ends = ranges.map((r) => Number(/-(\d+)$/.exec(r.range ?? '')?.[1]));
      expect(Math.max(...ends)).toBeGreaterThan(size1 - 1);
      // The progress is visible to Redfish clients too.
      const authorization = `Basic ${Buffer.from('admin:password').toString('base64')}`;
      const res = await fetch(`${bmc.url}/redfish/v1/Systems/2/VirtualMedia/CD1`, { headers: { authorization } });
      const body = (await res.json()) as { Oem: { Isoproxy: { Fetch: { state: string; verified: boolean } } } };
      expect(body.Oem.Isoproxy.Fetch).toMatchObject({ state: 'done', verified: true });
    } finally {
      await bmc.close();
    }
  });

  it('reads the image in one whole GET in the emulator pattern', async () => {
    const sim = createBmcSimulator({ fetch: 'whole', expect: ['isoproxy.node=node-3'] });
    const bmc = await sim.listen(0, '127.0.0.1');
    try {
      server.requests.length = 0;
      await attach({ bmc: bmc.url, username: 'admin', password: 'password', imageUrl: `${server.url}/iso/node-3.iso`, sleep: noSleep });
      const progress = await sim.whenFetched('1');
      expect(progress).toMatchObject({ state: 'done', verified: true, requests: 2 });
      expect(server.requests.map((r) => [r.method, r.range ?? null, r.status])).toEqual([
        ['HEAD', null, 200],
        ['GET', null, 200],
      ]);
    } finally {
      await bmc.close();
    }
  });

  it("reports an image that lacks the node's parameters", async () => {
    const sim = createBmcSimulator({ fetch: { mode: 'ranges', rangeSize: 64 * 1024, concurrency: 2 }, expect: ['isoproxy.node=node-1'] });
    const bmc = await sim.listen(0, '127.0.0.1');
    try {
      await attach({ bmc: bmc.url, username: 'admin', password: 'password', imageUrl: `${server.url}/iso/node-2.iso`, sleep: noSleep });
      const progress = await sim.whenFetched('1');
      expect(progress).toMatchObject({ state: 'done', verified: false, error: 'missing in the image: isoproxy.node=node-1' });
      expect(progress.checks?.sizeOk).toBe(true);
    } finally {
      await bmc.close();
    }
  });

  it('reports an image URL the server does not know', async () => {
    const sim = createBmcSimulator({ fetch: 'ranges' });
    const bmc = await sim.listen(0, '127.0.0.1');
    try {
      await attach({ bmc: bmc.url, username: 'admin', password: 'password', imageUrl: `${server.url}/iso/node-9.iso`, sleep: noSleep });
      expect(await sim.whenFetched('1')).toMatchObject({ state: 'failed', error: 'HEAD answered 404' });
    } finally {
      await bmc.close();
    }
  });
});
