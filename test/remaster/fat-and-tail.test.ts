// The remaster engine on the harder layouts: an ESP that lives only in an appended partition,
// a FAT config that must grow into new clusters, a FAT image with no room, relocation past an
// appended partition, an implanted media checksum, and edits that find nothing to edit.

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFileSource } from '../../src/byte-source.js';
import { normalizeEdits } from '../../src/bootconfig/index.js';
import { buildIndex } from '../../src/iso9660/index.js';
import { prepareBase } from '../../src/remaster/base-context.js';
import { computePatchSet } from '../../src/remaster/compute.js';
import { writeVirtualImage } from '../../src/commands/materialize.js';
import { missingTools, run, scratchDir } from '../helpers/tools.js';
import { appendedEsp, tightFat, writeTree, grubCfg, isolinuxCfg, payload, type Layout } from './fixtures.js';

const missing = missingTools('xorriso', 'mkfs.fat', 'mcopy', 'mtype', 'mdir', 'fsck.fat');
const EDITS = normalizeEdits({
  append: ['ipa.node=node-9', `ipa.long=${'x'.repeat(300)}`],
  set: { 'isoproxy.keep': 'no' },
  remove: ['isoproxy.drop'],
});

describe.skipIf(missing.length > 0)(
  `remaster: FAT images, tails and media checksums${missing.length ? ` (missing: ${missing.join(', ')})` : ''}`,
  () => {
    let scratch: { dir: string; cleanup: () => Promise<void> };
    beforeAll(async () => {
      scratch = await scratchDir('isoproxy-remaster2-');
    });
    afterAll(async () => {
      await scratch?.cleanup();
    });

    async function remaster(layout: Layout, edits = EDITS) {
      const source = await openFileSource(layout.iso);
      try {
        const index = await buildIndex(source);
        const ctx = await prepareBase(index, source);
        const result = computePatchSet(ctx, edits, { node: 'node-9' });
        const out = `${layout.iso}.out.iso`;
        await writeVirtualImage(result.patchSet, source, out);
        return { ...result, index, ctx, out };
      } finally {
        await source.close();
      }
    }

    /** Copies bytes [offset, offset+length) of a file to its own file (a partition or an El Torito image). */
    async function cut(path: string, offset: number, length: number, out: string) {
      await writeFile(out, (await readFile(path)).subarray(offset, offset + length));
      return out;
    }

    async function checkFat(img: string) {
      const text = (await run('mtype', ['-i', img, '::/EFI/BOOT/grub.cfg'])).stdout;
      expect(text).toContain('ipa.node=node-9');
      expect(text).toContain('isoproxy.keep=no');
      expect(text).not.toContain('isoproxy.drop');
      await run('fsck.fat', ['-n', img]);
      return text;
    }

    it('edits grub.cfg inside an ESP that exists only as an appended partition', async () => {
      const layout = await appendedEsp(scratch.dir);
      const r = await remaster(layout);
      const esp = r.index.partitions.find((p) => p.efiSystem)!;
      expect(r.ctx.fats.map((f) => f.offset)).toContain(esp.startByte);
      expect(r.report.changes.some((c) => c.placement === 'fat' && c.path === '/EFI/BOOT/grub.cfg')).toBe(true);
      // Every overlay of the FAT falls inside the partition; the partition table is unchanged.
      await checkFat(await cut(r.out, esp.startByte, esp.sizeBytes, join(scratch.dir, 'esp-out.img')));
      expect((await readFile(r.out)).subarray(0, 2048 * 16)).toEqual((await readFile(layout.iso)).subarray(0, 2048 * 16));
    });

    it('relocates past the appended partition, never into it', async () => {
      const layout = await appendedEsp(scratch.dir, { zeroSlack: true });
      const r = await remaster(layout);
      const esp = r.index.partitions.find((p) => p.efiSystem)!;
      const moved = r.report.changes.find((c) => c.placement === 'relocated')!;
      expect(moved.path).toBe('/boot/grub/grub.cfg');
      expect(moved.lba! * 2048).toBeGreaterThanOrEqual(esp.startByte + esp.sizeBytes);
      const extracted = join(scratch.dir, 'esp-zero-grub.cfg');
      await run('xorriso', ['-osirrox', 'on', '-indev', r.out, '-extract', '/boot/grub/grub.cfg', extracted]);
      expect(await readFile(extracted, 'latin1')).toContain('ipa.node=node-9');
      await checkFat(await cut(r.out, esp.startByte, esp.sizeBytes, join(scratch.dir, 'esp-zero-out.img')));
    });

    it('grows a FAT config into a newly allocated cluster, in every FAT copy', async () => {
      const layout = await tightFat(scratch.dir, false);
      const r = await remaster(layout);
      const fat = r.ctx.fats[0]!;
      const before = fat.configs.find((c) => c.path.toLowerCase() === '/efi/boot/grub.cfg')!.bytes.length;
      expect(before % 2048).toBe(0);
      const img = await cut(r.out, fat.offset, fat.image.length, join(scratch.dir, 'tight-out.img'));
      const text = await checkFat(img);
      expect(text.length).toBeGreaterThan(before);
    });

    it('refuses edits that do not fit a full FAT image, naming the node and the file', async () => {
      const layout = await tightFat(scratch.dir, true);
      await expect(remaster(layout)).rejects.toMatchObject({ code: 'FAT_NO_SPACE', message: expect.stringMatching(/node node-9.*grub\.cfg/i) });
    });

    it('blanks an implanted media checksum so checkisomd5 skips instead of failing', async () => {
      if (missingTools('implantisomd5', 'checkisomd5').length) return;
      const root = join(scratch.dir, 'md5-tree');
      // checkisomd5 needs an image of a few MiB (it skips the last sectors and checks fragments).
      await writeTree(root, {
        'isolinux/isolinux.cfg': isolinuxCfg(),
        'EFI/BOOT/grub.cfg': grubCfg('linuxefi'),
        'images/install.img': payload('install', 3_000_000),
      });
      const iso = join(scratch.dir, 'md5.iso');
      await run('xorriso', ['-as', 'mkisofs', '-quiet', '-o', iso, '-R', '-J', root]);
      await run('implantisomd5', [iso]);
      await run('checkisomd5', [iso]);
      const r = await remaster({ name: 'md5', iso });
      expect(r.report.implantedMd5Removed).toBe(true);
      const field = (await readFile(r.out)).subarray(16 * 2048 + 883, 16 * 2048 + 883 + 512);
      expect(field.every((b) => b === 0x20)).toBe(true);
      const check = await run('sh', ['-c', `checkisomd5 "${r.out}"; echo "exit=$?"`]);
      expect(check.stdout + check.stderr).toMatch(/No checksum information available/i);
    });

    it('reports edits that find no kernel line instead of serving an unedited image', async () => {
      const root = join(scratch.dir, 'nokernel-tree');
      await writeTree(root, { 'boot/grub/grub.cfg': 'set timeout=5\nmenuentry "Firmware" { fwsetup }\n' });
      const iso = join(scratch.dir, 'nokernel.iso');
      await run('xorriso', ['-as', 'mkisofs', '-quiet', '-o', iso, '-R', root]);
      await expect(remaster({ name: 'nokernel', iso })).rejects.toMatchObject({ code: 'NO_KERNEL_LINES' });
    });
  },
);
