// The fixture builder: the kernel, the initramfs and five layouts whose boot configs carry the
// baseline parameters where the layouts put them, checked with the reference tools (xorriso,
// mtools, cpio) rather than with our own parsers.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { hasTool, run } from '../helpers/tools.js';
import { kernelLines, readBootConfigs } from './boot-configs.js';
import { LAYOUT_NAMES, ensureBootFixtures, missingFixtureTools, type BootFixtures } from './fixtures.js';
import { padToSector } from './layouts.js';

const missing = missingFixtureTools();

describe('padToSector', () => {
  it('pads any length to a whole number of sectors with comment lines only', () => {
    for (let n = 0; n < 4200; n += 7) {
      const base = 'x'.repeat(n) + '\n';
      const padded = padToSector(base);
      expect(Buffer.byteLength(padded) % 2048).toBe(0);
      expect(padded.startsWith(base)).toBe(true);
      expect(
        padded
          .slice(base.length)
          .split('\n')
          .filter((l) => l !== '')
          .every((l) => l.startsWith('#')),
      ).toBe(true);
    }
  });
});

describe.skipIf(missing.length > 0)('boot fixtures', () => {
  if (missing.length > 0) console.warn(`boot fixtures skipped: missing ${missing.join(', ')}`);
  let fixtures: BootFixtures;
  beforeAll(async () => {
    fixtures = await ensureBootFixtures();
  });

  it('builds every layout once and serves later calls from the cache', async () => {
    expect(Object.keys(fixtures.layouts).sort()).toEqual([...LAYOUT_NAMES].sort());
    expect(await ensureBootFixtures()).toBe(fixtures);
    const kernel = await readFile(fixtures.kernelPath);
    // bzImage: "HdrS" at 0x202 (Linux x86 boot protocol).
    expect(kernel.subarray(0x202, 0x206).toString('latin1')).toBe('HdrS');
    expect(fixtures.kernelPackage).toMatch(/^linux-image-\d.*-amd64=/);
  });

  it.skipIf(!hasTool('cpio'))('packs an initramfs that cpio lists with /init and busybox', async () => {
    const { stdout } = await run('sh', ['-c', 'gzip -dc "$1" | cpio -it --quiet', 'sh', fixtures.initrdPath]);
    expect(stdout.split('\n').filter(Boolean)).toEqual([
      'bin',
      'bin/busybox',
      'dev',
      'dev/console',
      'dev/ttyS0',
      'etc',
      'etc/isoproxy',
      'etc/isoproxy/replace-me.txt',
      'init',
      'proc',
    ]);
  });

  it('puts the baseline parameters on every kernel line of every copy of every boot config', async () => {
    for (const name of LAYOUT_NAMES) {
      const layout = fixtures.layouts[name];
      const configs = await readBootConfigs(layout.isoPath, layout.bootConfigs);
      for (const [path, text] of Object.entries(configs)) {
        const lines = kernelLines(text);
        expect(lines.length, `${name} ${path}`).toBeGreaterThan(0);
        for (const line of lines) expect(line.split(/\s+/), `${name} ${path}: ${line}`).toEqual(expect.arrayContaining([...layout.parameters]));
      }
    }
  });

  it('keeps the FAT copy of a grub.cfg byte-identical to the tree copy', async () => {
    for (const name of ['rhel', 'appended-esp'] as const) {
      const layout = fixtures.layouts[name];
      const configs = Object.values(
        await readBootConfigs(
          layout.isoPath,
          layout.bootConfigs.filter((p) => p.endsWith('EFI/BOOT/grub.cfg')),
        ),
      );
      expect(configs.length, name).toBe(2);
      expect(configs[0], name).toBe(configs[1]);
    }
  });

  it('ends the zero-slack configs exactly on a sector boundary', async () => {
    const layout = fixtures.layouts['zero-slack'];
    const configs = await readBootConfigs(layout.isoPath, layout.bootConfigs);
    for (const [path, text] of Object.entries(configs)) expect(Buffer.byteLength(text) % 2048, path).toBe(0);
  });

  it('lists the Debian-like grub.cfg in md5sum.txt with its digest', async () => {
    const layout = fixtures.layouts.debian;
    const configs = await readBootConfigs(layout.isoPath, ['md5sum.txt', 'boot/grub/grub.cfg', 'isolinux/txt.cfg']);
    for (const path of ['boot/grub/grub.cfg', 'isolinux/txt.cfg']) {
      const md5 = createHash('md5').update(configs[path]!).digest('hex');
      expect(configs['md5sum.txt']).toContain(`${md5}  ./${path}\n`);
    }
  });
});
