// Property: mutating the metadata of a valid image (descriptors, directories, SUSP areas, boot
// catalog, MBR/GPT) yields either a typed IsoproxyError or an index that is well formed — never
// another exception, a hang, or a read outside the image. Seeded, bounded in count and time.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { memorySource, type ByteSource } from '../../src/byte-source.js';
import { IsoproxyError } from '../../src/errors.js';
import { buildIndex } from '../../src/iso9660/index.js';
import type { IsoIndex } from '../../src/iso9660/types.js';
import { missingTools, run, scratchDir } from '../helpers/tools.js';
import { ISOHDPFX, ISOLINUX_BIN, makeEfiImage, makeSourceTree } from './fixtures.js';

const needed = missingTools('xorriso', 'mkfs.fat', 'mcopy', 'mmd');
if (!existsSync(ISOLINUX_BIN)) needed.push(ISOLINUX_BIN);
if (needed.length > 0) console.warn(`skipping ISO reader fuzz test: missing ${needed.join(', ')}`);

let image = new Uint8Array();
let metadataEnd = 0;
/** Offsets of structures (records, descriptors, catalog entries, MBR table) to aim mutations at. */
let targets: number[] = [];
let cleanup = async () => {};

beforeAll(async () => {
  if (needed.length > 0) return;
  const s = await scratchDir('isoproxy-iso-fuzz-');
  cleanup = s.cleanup;
  const tree = join(s.dir, 'tree');
  await makeSourceTree(tree);
  await run('cp', [ISOLINUX_BIN, join(tree, 'isolinux/isolinux.bin')]);
  const efi = await makeEfiImage(s.dir);
  await run('cp', [efi, join(tree, 'boot/grub/efi.img')]);
  const iso = join(s.dir, 'f.iso');
  await run('xorriso', [
    '-as',
    'mkisofs',
    '-R',
    '-J',
    '-o',
    iso,
    '-isohybrid-mbr',
    ISOHDPFX,
    '-b',
    'isolinux/isolinux.bin',
    '-c',
    'isolinux/boot.cat',
    '-no-emul-boot',
    '-boot-info-table',
    '-eltorito-alt-boot',
    '-e',
    'boot/grub/efi.img',
    '-no-emul-boot',
    tree,
  ]);
  image = new Uint8Array(await readFile(iso));
  const idx = await buildIndex(memorySource(image));
  // xorriso writes all metadata before the first file's data.
  targets = [
    446,
    512,
    ...idx.descriptors.map((d) => d.offset),
    ...idx.files.flatMap((f) => f.records.map((r) => r.offset)),
    ...idx.directories.flatMap((d) => [...d.records.map((r) => r.offset), d.extent.lba * 2048]),
    ...(idx.elTorito ? [idx.elTorito.catalogLba * 2048, ...idx.elTorito.entries.map((e) => e.entryOffset)] : []),
  ].sort((a, b) => a - b);
  metadataEnd = Math.min(...idx.files.filter((f) => f.size > 0).map((f) => f.extents[0]!.lba)) * 2048;
});
afterAll(() => cleanup());

function wellFormed(idx: IsoIndex, size: number): void {
  expect(() => JSON.stringify(idx)).not.toThrow();
  for (let i = 1; i < idx.files.length; i++) expect(idx.files[i - 1]!.path <= idx.files[i]!.path).toBe(true);
  for (const f of idx.files) {
    expect(f.path.startsWith('/')).toBe(true);
    expect(f.records.length).toBeGreaterThan(0);
    for (const r of f.records) expect(r.offset + r.length).toBeLessThanOrEqual(size);
  }
  expect(idx.bytesRead).toBeGreaterThan(0);
}

/** The image with its first head.length bytes replaced by `head`. */
function headOverlay(head: Uint8Array): ByteSource {
  const base = memorySource(image);
  return {
    size: image.length,
    async read(offset, length) {
      if (offset + length <= head.length) return head.subarray(offset, offset + length);
      const out = (await base.read(offset, length)).slice();
      if (offset < head.length) out.set(head.subarray(offset), 0);
      return out;
    },
  };
}

const interesting = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0xffffffff, 0x7fffffff, 16, 17, 18, 2048];

describe.skipIf(needed.length > 0)('buildIndex on mutated images', () => {
  it('gives a typed error or a well-formed index for thousands of metadata mutations', async () => {
    // Half the mutations land inside a known structure (first 160 bytes of it), half anywhere.
    const position = fc.oneof(
      fc.nat(),
      fc.tuple(fc.constantFrom(...targets), fc.nat(159)).map(([t, d]) => t + d),
    );
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('byte' as const), at: position, value: fc.nat(255) }),
      fc.record({ kind: fc.constant('u32' as const), at: position, value: fc.constantFrom(...interesting) }),
    );
    let typed = 0;
    let ok = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 6 }), async (muts) => {
        // Only the metadata head is copied and mutated; file data is shared (keeps cases cheap).
        const head = image.slice(0, metadataEnd);
        const view = new DataView(head.buffer);
        for (const m of muts) {
          const at = m.at % (metadataEnd - 4);
          if (m.kind === 'byte') head[at] = m.value;
          else view.setUint32(at, m.value >>> 0, true);
        }
        try {
          wellFormed(await buildIndex(headOverlay(head)), image.length);
          ok++;
        } catch (err) {
          if (!(err instanceof IsoproxyError)) throw err;
          typed++;
        }
      }),
      { seed: Number(process.env.ISOPROXY_FUZZ_SEED ?? 20260101), numRuns: 2500, interruptAfterTimeLimit: 20_000, markInterruptAsFailure: false },
    );
    console.log(`fuzz: ${ok} indexed, ${typed} typed errors`);
    // Both outcomes must occur, or the mutations are not reaching the parser.
    expect(ok).toBeGreaterThan(0);
    expect(typed).toBeGreaterThan(0);
  });
});
