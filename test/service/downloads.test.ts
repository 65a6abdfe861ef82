// Whole-service downloads: isoproxy in-process over a real HTTP upstream serving
// ISOs built at test time (Debian-like, RHEL-like, zero-slack configs that must relocate), nodes
// registered through the admin API, and images downloaded by real clients — curl, sequential
// 1 MiB ranges, seeded random ranges, nbdkit's curl plugin read by nbdcopy (OpenBMC's client) —
// each compared by sha256 with the image `isoproxy materialize` writes for the same edits, then
// opened by xorriso to see the node's parameters in its boot configs.

import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Edits } from '../../src/bootconfig/types.js';
import { missingTools, run, scratchDir } from '../helpers/tools.js';
import { debianLike, rhelLike, zeroSlack, type Layout } from '../remaster/fixtures.js';
import { startFixtureServer, type FixtureServer } from '../upstream/fixture-server.js';
import { startNginx, type Nginx } from '../helpers/nginx.js';
import { downloadByRanges, expectedImage, getRange, MiB, seeded, sha256, startProxy, type ProxyUnderTest } from './harness.js';

const missing = missingTools('xorriso', 'mkfs.fat', 'mcopy', 'mtype', 'curl');
const noNginx = missingTools('nginx').length > 0;
if (noNginx) console.warn('skipping the nginx upstream test: nginx is missing');
const noNbd = missingTools('nbdkit', 'nbdcopy').length > 0;
if (noNbd) console.warn('skipping the nbdcopy test: nbdkit or nbdcopy is missing');

interface Case {
  readonly build: (dir: string) => Promise<Layout>;
  /** Boot configs in the ISO tree, and inside FAT images ([image, path in the FAT]). */
  readonly configs: readonly string[];
  readonly fatConfigs: ReadonlyArray<readonly [string, string]>;
}

const CASES: Record<string, Case> = {
  'debian-like': { build: debianLike, configs: ['isolinux/txt.cfg', 'boot/grub/grub.cfg'], fatConfigs: [['boot/grub/efi.img', 'EFI/BOOT/grub.cfg']] },
  'rhel-like': {
    build: rhelLike,
    configs: ['isolinux/isolinux.cfg', 'EFI/BOOT/grub.cfg'],
    fatConfigs: [['images/efiboot.img', 'EFI/BOOT/grub.cfg']],
  },
  'zero-slack': { build: zeroSlack, configs: ['isolinux/isolinux.cfg', 'boot/grub/grub.cfg'], fatConfigs: [] },
};

const editsFor = (node: string): Edits => ({
  append: [`isoproxy.node=${node}`, 'ip=dhcp'],
  set: { 'isoproxy.keep': 'changed' },
  remove: ['isoproxy.drop'],
});

/** Asserts the node's edits in every boot config of an image, read back by xorriso (and mtools for FAT images). */
async function checkConfigs(image: string, c: Case, node: string, dir: string): Promise<void> {
  const out = join(dir, `extract-${node}`);
  await run('xorriso', ['-osirrox', 'on', '-indev', image, '-extract', '/', out]);
  const texts: Array<[string, string]> = [];
  for (const p of c.configs) texts.push([p, await readFile(join(out, p), 'utf8')]);
  for (const [img, p] of c.fatConfigs) texts.push([`${img}:${p}`, (await run('mtype', ['-i', join(out, img), `::/${p}`])).stdout]);
  for (const [where, text] of texts) {
    const kernelLines = text.split('\n').filter((l) => /^\s*(linux|linuxefi|append)\s/.test(l));
    expect(kernelLines.length, where).toBeGreaterThan(0);
    for (const line of kernelLines) {
      expect(line, where).toContain(`isoproxy.node=${node}`);
      expect(line, where).toContain('isoproxy.keep=changed');
      expect(line, where).not.toContain('isoproxy.drop');
    }
  }
}

describe.skipIf(missing.length > 0)(
  `downloads through the whole service${missing.length > 0 ? ` (skipped: missing ${missing.join(', ')})` : ''}`,
  () => {
    let scratch: { dir: string; cleanup: () => Promise<void> };
    let proxy: ProxyUnderTest;
    let nginx: Nginx | undefined;
    const upstreams = new Map<string, FixtureServer>();
    const isos = new Map<string, string>();
    const expected = new Map<string, Buffer>();

    beforeAll(async () => {
      scratch = await scratchDir('isoproxy-service-');
      const allow: string[] = [];
      for (const [name, c] of Object.entries(CASES)) {
        const layout = await c.build(scratch.dir);
        isos.set(name, layout.iso);
        const up = await startFixtureServer(await readFile(layout.iso));
        upstreams.set(name, up);
        allow.push(`${up.origin}/`);
        expected.set(name, await expectedImage(layout.iso, editsFor(name), join(scratch.dir, `${name}.expected.iso`)));
      }
      if (!noNginx) {
        // The Debian-like ISO once more, behind nginx, for a node of its own.
        const www = join(scratch.dir, 'www');
        await mkdir(www);
        await copyFile(isos.get('debian-like')!, join(www, 'debian.iso'));
        nginx = await startNginx(scratch.dir, www);
        allow.push(`${nginx.origin}/`);
        expected.set('via-nginx', await expectedImage(isos.get('debian-like')!, editsFor('via-nginx'), join(scratch.dir, 'via-nginx.expected.iso')));
      }
      proxy = await startProxy({ dir: scratch.dir, allow });
      const nodes: Array<[string, string]> = Object.keys(CASES).map((name) => [name, upstreams.get(name)!.url]);
      if (nginx) nodes.push(['via-nginx', `${nginx.origin}/debian.iso`]);
      for (const [name, bootIso] of nodes) {
        const res = await proxy.putNode(name, { bootIso, edits: editsFor(name) });
        expect(res.status, await res.clone().text()).toBe(201);
      }
    });

    afterAll(async () => {
      await proxy?.close();
      await nginx?.close();
      for (const up of upstreams.values()) await up.close();
      await scratch?.cleanup();
    });

    for (const name of Object.keys(CASES)) {
      describe(name, () => {
        it('serves a full GET by curl equal to the materialized image, which carries the edits in every boot config', async () => {
          const out = join(scratch.dir, `${name}.curl.iso`);
          const { stdout } = await run('curl', ['-sS', '-f', '-o', out, '-w', '%{http_code} %{size_download}', proxy.imageUrl(name)]);
          const want = expected.get(name)!;
          expect(stdout).toBe(`200 ${want.length}`);
          expect(sha256(await readFile(out))).toBe(sha256(want));
          if (name === 'zero-slack') expect(want.length).toBeGreaterThan((await readFile(isos.get(name)!)).length);
          await checkConfigs(out, CASES[name]!, name, scratch.dir);
        });

        it('serves sequential 1 MiB ranges that reassemble the materialized image', async () => {
          const want = expected.get(name)!;
          const got = await downloadByRanges(proxy.imageUrl(name), want.length, MiB);
          expect(sha256(got)).toBe(sha256(want));
        });

        it('serves seeded random ranges, in random order, that reassemble the materialized image', async () => {
          const want = expected.get(name)!;
          const rand = seeded(name.length * 7919);
          // Cut points anywhere (not sector-aligned), pieces from 1 byte to ~700 KiB.
          const cuts = [0];
          while (cuts[cuts.length - 1]! < want.length)
            cuts.push(Math.min(want.length, cuts[cuts.length - 1]! + 1 + Math.floor(rand() ** 2 * 700 * 1024)));
          const pieces = cuts.slice(0, -1).map((start, i) => ({ start, end: cuts[i + 1]! - 1 }));
          const order = pieces.map((_, i) => i).sort((a, b) => (Math.imul(a + 1, 2654435761) >>> 0) - (Math.imul(b + 1, 2654435761) >>> 0));
          const got = Buffer.alloc(want.length);
          for (const i of order) {
            const p = pieces[i]!;
            (await getRange(proxy.imageUrl(name), p.start, p.end)).copy(got, p.start);
          }
          expect(sha256(got)).toBe(sha256(want));
        });
      });
    }

    it.skipIf(noNbd)("is copied byte-identical by nbdkit's curl plugin and nbdcopy (the OpenBMC virtual media client)", async () => {
      const name = 'debian-like';
      const out = join(scratch.dir, 'nbdcopy.img');
      await run('nbdkit', ['-U', '-', 'curl', `url=${proxy.imageUrl(name)}`, '--run', `nbdcopy "$uri" ${out}`], { timeoutMs: 60_000 });
      expect(sha256(await readFile(out))).toBe(sha256(expected.get(name)!));
    });

    it.skipIf(noNginx)('serves a node whose base is behind nginx, by curl, ranges and nbdcopy, reading each byte from nginx once', async () => {
      const want = expected.get('via-nginx')!;
      const out = join(scratch.dir, 'via-nginx.curl.iso');
      await run('curl', ['-sS', '-f', '-o', out, proxy.imageUrl('via-nginx')]);
      expect(sha256(await readFile(out))).toBe(sha256(want));
      expect(sha256(await downloadByRanges(proxy.imageUrl('via-nginx'), want.length, MiB))).toBe(sha256(want));
      if (!noNbd) {
        const nbdOut = join(scratch.dir, 'via-nginx.nbd.img');
        await run('nbdkit', ['-U', '-', 'curl', `url=${proxy.imageUrl('via-nginx')}`, '--run', `nbdcopy "$uri" ${nbdOut}`], { timeoutMs: 60_000 });
        expect(sha256(await readFile(nbdOut))).toBe(sha256(want));
      }
      await checkConfigs(out, CASES['debian-like']!, 'via-nginx', scratch.dir);
      // Every GET nginx answered was a partial one, and no 1 MiB block was asked twice: the cache served the rest.
      const gets = (await nginx!.log()).filter((e) => e.method === 'GET');
      expect(gets.every((e) => e.status === 206)).toBe(true);
      const blockRanges = gets.map((e) => e.range).filter((r) => r !== 'bytes=0-0');
      expect(new Set(blockRanges).size).toBe(blockRanges.length);
    });

    it('agrees with the `isoproxy materialize` command on the expected image', async () => {
      const name = 'rhel-like';
      const out = join(scratch.dir, 'cli-materialized.iso');
      const e = editsFor(name);
      const args = [
        'bin/isoproxy.js',
        'materialize',
        isos.get(name)!,
        out,
        ...(e.append ?? []).flatMap((t) => ['--append', t]),
        ...Object.entries(e.set ?? {}).flatMap(([k, v]) => ['--set', `${k}=${v}`]),
        ...(e.remove ?? []).flatMap((k) => ['--remove', k]),
      ];
      await run(process.execPath, args, { cwd: process.cwd() });
      expect(sha256(await readFile(out))).toBe(sha256(expected.get(name)!));
    });
  },
);
