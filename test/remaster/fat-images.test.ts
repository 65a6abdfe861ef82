// The FAT images prepareBase reads whole: an image may point El Torito EFI entries at as many
// regions as it likes, and each one read is held for as long as the base is. Past MAX_FAT_IMAGES
// (or MAX_FAT_TOTAL_BYTES in all) the rest are left alone with a warning, and the base still
// prepares. Images are made by mkfs.fat/mtools and xorriso.

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFileSource } from '../../src/byte-source.js';
import { buildIndex } from '../../src/iso9660/index.js';
import { prepareBase } from '../../src/remaster/base-context.js';
import { MAX_FAT_IMAGES } from '../../src/remaster/context-limits.js';
import { missingTools, run, scratchDir } from '../helpers/tools.js';
import { grubCfg, makeFat, payload, writeTree } from './fixtures.js';

const missing = missingTools('xorriso', 'mkfs.fat', 'mcopy', 'mmd');

describe.skipIf(missing.length > 0)(`FAT images of a base${missing.length ? ` (missing: ${missing.join(', ')})` : ''}`, () => {
  let dir = '';
  let cleanup = async () => {};
  beforeAll(async () => {
    ({ dir, cleanup } = await scratchDir('isoproxy-fat-images-'));
  });
  afterAll(async () => cleanup());

  it(`reads at most ${MAX_FAT_IMAGES} El Torito EFI images and leaves the rest alone, with a warning each`, async () => {
    const root = join(dir, 'tree');
    await writeTree(root, { vmlinuz: payload('kernel', 1000), 'boot/grub/grub.cfg': grubCfg() });
    const count = MAX_FAT_IMAGES + 2;
    const entries: string[] = [];
    for (let i = 0; i < count; i++) {
      await makeFat(join(root, `efi${i}.img`), { 'EFI/BOOT/grub.cfg': grubCfg('linuxefi') }, 256, dir);
      entries.push(...(i === 0 ? [] : ['-eltorito-alt-boot']), '-e', `efi${i}.img`, '-no-emul-boot');
    }
    const iso = join(dir, 'many-efi.iso');
    await run('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-J', '-o', iso, ...entries, root]);
    const source = await openFileSource(iso);
    try {
      const ctx = await prepareBase(await buildIndex(source), source);
      expect(ctx.fats).toHaveLength(MAX_FAT_IMAGES);
      expect(ctx.fats.every((f) => f.configs.length === 1)).toBe(true);
      const left = ctx.warnings.filter((w) => w.includes(`past ${MAX_FAT_IMAGES} FAT images`));
      expect(left).toHaveLength(count - MAX_FAT_IMAGES);
      expect(ctx.configs.map((c) => c.path)).toContain('/boot/grub/grub.cfg');
    } finally {
      await source.close();
    }
  });
});
