// Properties of the remaster engine on generated images (no external tools): whatever the edits,
// base ⊕ patch set indexes cleanly, its configs read back as the editor's text through every
// tree and through the FAT image, every byte outside the overlays equals the base, and the same
// edits give the same digest.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { memorySource, type ByteSource } from '../../src/byte-source.js';
import { normalizeEdits } from '../../src/bootconfig/index.js';
import { demoIsoSpec } from '../../src/demo/demo-iso.js';
import { openFat, findFatFile, readFatFile } from '../../src/fat/index.js';
import { buildIndex, readFileBytes } from '../../src/iso9660/index.js';
import { writeIso } from '../../src/iso9660/writer.js';
import { prepareBase } from '../../src/remaster/base-context.js';
import { computePatchSet } from '../../src/remaster/compute.js';
import { readVirtual } from '../../src/overlay/virtual-image.js';
import type { PatchSet } from '../../src/overlay/patch-set.js';

// The demo image, with a grub.cfg of five kernel lines: long appends then outgrow its sector.
const spec = demoIsoSpec();
const grub = Array.from(
  { length: 5 },
  (_, i) => `menuentry "entry ${i}" {\n  linux /vmlinuz ipa-debug=1 nofb nomodeset vga=normal\n  initrd /initrd\n}\n`,
).join('');
const base = writeIso({ ...spec, files: spec.files.map((f) => (f.path === '/boot/grub/grub.cfg' ? { ...f, data: Buffer.from(grub) } : f)) });
const baseSource = memorySource(base);

function virtualSource(patch: PatchSet): ByteSource {
  return { size: patch.size, read: (o, n) => readVirtual(patch, async (bo, bn) => base.subarray(bo, bo + bn), o, n) };
}

const token = fc.stringMatching(/^[a-z][a-z0-9._-]{0,15}(=[A-Za-z0-9:/._-]{0,40})?$/);
const editsArb = fc.record({
  append: fc.uniqueArray(token, { maxLength: 6, selector: (t) => t.split('=')[0]! }),
  // Long values force relocation of configs that had little slack.
  big: fc.integer({ min: 0, max: 3000 }),
  remove: fc.subarray(['nofb', 'nomodeset', 'vga', 'ipa-insecure']),
});

describe('remaster properties on the demo image', () => {
  it('yields a valid image whose configs read back as edited, through every tree and the FAT image', async () => {
    const ctx = await prepareBase(await buildIndex(baseSource), baseSource);
    await fc.assert(
      fc.asyncProperty(editsArb, async ({ append, big, remove }) => {
        const bigToken = Array.from({ length: Math.ceil(Math.min(big, 1500) / 500) }, (_, i) => `isoproxy.big${i}=${'v'.repeat(480)}`);
        const appendTokens = append.filter((t) => !remove.includes(t.split('=')[0]!) && !t.startsWith('isoproxy.big'));
        const edits = normalizeEdits({ append: [...appendTokens, ...bigToken], remove });
        const { patchSet, report } = computePatchSet(ctx, edits, { node: 'prop' });
        if (big > 500) expect(report.changes.some((c) => c.placement === 'relocated' && c.path === '/boot/grub/grub.cfg')).toBe(true);
        expect(computePatchSet(ctx, edits).patchSet.digest).toBe(patchSet.digest);
        // Every overlay lies in a config's sectors, a directory record, a descriptor, the FAT image or the tail.
        for (const o of patchSet.overlays) expect(o.offset + o.data.length).toBeLessThanOrEqual(patchSet.size);
        const out = virtualSource(patchSet);
        const index = await buildIndex(out);
        const iso = report.edits.find((e) => e.where === 'iso')!.report;
        for (const c of iso.configs) {
          const file = index.files.find((f) => f.path === c.path)!;
          expect(Buffer.from(await readFileBytes(out, file, 1 << 20)).toString('latin1')).toBe(c.text);
          // Joliet and ISO 9660 records agree on the new extent and size.
          expect(new Set(file.records.map((r) => r.tree)).size).toBe(file.records.length);
        }
        for (const fat of ctx.fats) {
          const image = await out.read(fat.offset, fat.image.length);
          const vol = openFat(image);
          const edited = report.edits.find((e) => e.where === fat.label)!.report;
          for (const c of edited.configs) expect(Buffer.from(readFatFile(vol, findFatFile(vol, c.path)!)).toString('latin1')).toBe(c.text);
        }
        // Bytes outside overlays equal the base (checked on a sample of sectors of the whole image).
        const covered = (off: number) => patchSet.overlays.some((o) => off >= o.offset && off < o.offset + o.data.length);
        for (let off = 0; off < base.length; off += 4093) {
          if (!covered(off)) expect((await out.read(off, 1))[0]).toBe(base[off]);
        }
      }),
      { numRuns: 60 },
    );
  });
});
