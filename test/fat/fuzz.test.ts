// Mutated images: flipping bytes in the metadata of valid FAT12/16/32 images (boot sector, FATs,
// directories) must make openFat, listing, reading and planning writes either succeed or throw
// one of our typed errors: never hang, never a TypeError/RangeError. Bounded: a fixed seed and a
// fixed number of runs per image; each run mutates in place and restores the bytes afterwards,
// so the 34 MiB FAT32 image is never copied.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IsoproxyError } from '../../src/errors.js';
import { formatFat, listFatFiles, listFatTree, openFat, planFatWrites, readFatFile } from '../../src/fat/index.js';

const RUNS = Number(process.env.FAT_FUZZ_RUNS ?? 150);

function exercise(image: Uint8Array): void {
  const vol = openFat(image);
  listFatTree(vol);
  const files = listFatFiles(vol);
  for (const f of files.slice(0, 20)) readFatFile(vol, f);
  if (files.length > 0) {
    planFatWrites(image, [{ path: files[0]!.path, data: new Uint8Array(2000).fill(0x41) }]);
  }
}

function fixture(type: 12 | 16 | 32): Uint8Array {
  const files = [
    { path: '/EFI/BOOT/BOOTX64.EFI', data: new Uint8Array(5000).fill(0x90) },
    { path: '/EFI/BOOT/grub.cfg', data: new TextEncoder().encode('linux /vmlinuz quiet\n') },
    { path: '/loader/entries/A long entry name.conf', data: new TextEncoder().encode('options x\n') },
  ];
  for (let i = 0; i < 20; i++) files.push({ path: `/d/file number ${i}`, data: new Uint8Array(i * 100).fill(i) });
  return formatFat({ type, files });
}

describe('FAT reader and patcher on mutated images', () => {
  for (const type of [12, 16, 32] as const) {
    it(`gives a result or a typed error on mutated FAT${type} images`, () => {
      const image = fixture(type);
      const g = openFat(image).geometry;
      // Metadata and the first clusters (where the directories are).
      const hot = g.dataOffset + 64 * g.clusterSizeBytes;
      const fatEnd = g.fatOffset + 512;
      const offset = fc.oneof(
        fc.integer({ min: 0, max: 511 }),
        fc.integer({ min: g.fatOffset, max: fatEnd }),
        fc.integer({ min: g.fatOffset + g.fatSizeBytes, max: g.fatOffset + g.fatSizeBytes + 512 }),
        fc.integer({ min: g.rootDirOffset || g.dataOffset, max: hot }),
      );
      const mutation = fc.array(fc.record({ offset, value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 8 });
      const outcomes = { ok: 0, typed: 0 };
      fc.assert(
        fc.property(mutation, (muts) => {
          const saved = muts.map((m) => image[m.offset]!);
          muts.forEach((m) => {
            image[m.offset] = m.value;
          });
          try {
            exercise(image);
            outcomes.ok++;
          } catch (err) {
            if (!(err instanceof IsoproxyError)) throw err;
            outcomes.typed++;
          } finally {
            for (let i = muts.length - 1; i >= 0; i--) image[muts[i]!.offset] = saved[i]!;
          }
        }),
        { numRuns: RUNS, seed: Number(process.env.FAT_FUZZ_SEED ?? 0x5eed) + type },
      );
      // The mutations reach both outcomes (they are not all harmless, nor all fatal).
      expect(outcomes.ok).toBeGreaterThan(0);
      expect(outcomes.typed).toBeGreaterThan(0);
      expect(() => exercise(image)).not.toThrow(); // restored
    });
  }
});
