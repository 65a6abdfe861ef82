// Single-byte corruptions of a valid xorriso image: each must give the typed error at the byte
// offset of the structure that is wrong, never a hang or a crash; caps set low must trip.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { memorySource } from '../../src/byte-source.js';
import { IsoFormatError, LimitExceededError } from '../../src/errors.js';
import { buildIndex, readFileBytes } from '../../src/iso9660/index.js';
import type { IsoIndex } from '../../src/iso9660/types.js';
import { missingTools, run, scratchDir } from '../helpers/tools.js';
import { ISOLINUX_BIN, makeSourceTree } from './fixtures.js';
import { existsSync } from 'node:fs';

const needed = missingTools('xorriso');
if (!existsSync(ISOLINUX_BIN)) needed.push(ISOLINUX_BIN);
if (needed.length > 0) console.warn(`skipping ISO corruption tests: missing ${needed.join(', ')}`);

let image = new Uint8Array();
let idx: IsoIndex;
let cleanup = async () => {};

beforeAll(async () => {
  if (needed.length > 0) return;
  const s = await scratchDir('isoproxy-iso-corrupt-');
  cleanup = s.cleanup;
  const tree = join(s.dir, 'tree');
  await makeSourceTree(tree);
  await run('cp', [ISOLINUX_BIN, join(tree, 'isolinux/isolinux.bin')]);
  // 40 entries so the directory crosses a sector and a record sits near a sector's end.
  await mkdir(join(tree, 'many'));
  for (let i = 0; i < 40; i++) await writeFile(join(tree, 'many', `file-number-${String(i).padStart(2, '0')}.txt`), `${i}\n`);
  const iso = join(s.dir, 'c.iso');
  await run('xorriso', [
    '-as',
    'mkisofs',
    '-R',
    '-J',
    '-o',
    iso,
    '-b',
    'isolinux/isolinux.bin',
    '-c',
    'isolinux/boot.cat',
    '-no-emul-boot',
    '-boot-info-table',
    tree,
  ]);
  image = new Uint8Array(await readFile(iso));
  idx = await buildIndex(memorySource(image));
});
afterAll(() => cleanup());

function poked(edit: (b: Uint8Array, v: DataView) => void): Uint8Array {
  const copy = image.slice();
  edit(copy, new DataView(copy.buffer));
  return copy;
}
function both32(v: DataView, at: number, value: number): void {
  v.setUint32(at, value, true);
  v.setUint32(at + 4, value, false);
}
async function indexError(bytes: Uint8Array, options = {}): Promise<unknown> {
  return buildIndex(memorySource(bytes), options).then(
    () => undefined,
    (e: unknown) => e,
  );
}
function recordOf(path: string, tree = 'iso9660') {
  const f = idx.files.find((x) => x.path === path) ?? idx.directories.find((d) => d.path === path);
  return f!.records.find((r) => r.tree === tree)!;
}

describe.skipIf(needed.length > 0)('buildIndex on corrupted images', () => {
  it('rejects a record shorter than 33 + its name length, at the record', async () => {
    const r = recordOf('/readme.txt');
    const nameLength = image[r.offset + 32]!;
    const err = await indexError(
      poked((b) => {
        b[r.offset] = 33 + nameLength - 1;
      }),
    );
    expect(err).toBeInstanceOf(IsoFormatError);
    expect(err).toMatchObject({ structure: 'directory record', offset: r.offset });
  });

  it('rejects a record length below 33, at the record', async () => {
    const r = recordOf('/readme.txt', 'joliet');
    const err = await indexError(
      poked((b) => {
        b[r.offset] = 20;
      }),
    );
    expect(err).toMatchObject({ code: 'ISO_FORMAT', structure: 'directory record', offset: r.offset });
  });

  it('rejects a record that crosses its sector', async () => {
    const inMany = idx.files.filter((f) => f.path.startsWith('/many/')).map((f) => f.records.find((x) => x.tree === 'iso9660')!);
    const r = inMany.filter((x) => 2048 - (x.offset % 2048) < 255).sort((a, b) => (b.offset % 2048) - (a.offset % 2048))[0]!;
    const left = 2048 - (r.offset % 2048);
    const err = await indexError(
      poked((b) => {
        b[r.offset] = left + 1;
      }),
    );
    expect(err).toBeInstanceOf(IsoFormatError);
    expect((err as IsoFormatError).offset).toBe(r.offset);
  });

  it('reports a directory that points back at an ancestor as a loop, not a hang', async () => {
    const sub = recordOf('/boot/grub', 'joliet');
    const root = idx.trees.find((t) => t.kind === 'joliet')!;
    const err = await indexError(poked((_b, v) => both32(v, sub.offset + 2, root.rootLba)));
    expect(err).toBeInstanceOf(IsoFormatError);
    expect(err).toMatchObject({ offset: sub.offset });
    expect((err as Error).message).toMatch(/loop/);
  });

  it('rejects a SUSP CE entry that points outside the image, at the CE entry', async () => {
    // xorriso puts the ER entry of the root's "." record in a continuation area.
    const root = idx.trees.find((t) => t.kind === 'iso9660')!;
    const dot = root.rootLba * 2048;
    const len = image[dot]!;
    let ce = -1;
    for (let i = dot + 34; i + 4 <= dot + len; i++)
      if (image[i] === 0x43 && image[i + 1] === 0x45 && image[i + 2] === 28) {
        ce = i;
        break;
      }
    expect(ce).toBeGreaterThan(0);
    const err = await indexError(poked((_b, v) => both32(v, ce + 4, 0x7fffff00)));
    expect(err).toBeInstanceOf(IsoFormatError);
    expect(err).toMatchObject({ structure: 'SUSP CE entry', offset: ce });
  });

  it('rejects a boot catalog whose validation checksum is wrong, at the catalog', async () => {
    const at = idx.elTorito!.catalogLba * 2048;
    const err = await indexError(
      poked((b) => {
        b[at + 4] = b[at + 4]! ^ 0xff;
      }),
    );
    expect(err).toBeInstanceOf(IsoFormatError);
    expect(err).toMatchObject({ structure: 'El Torito validation entry', offset: at });
  });

  it('rejects a boot record that points at a catalog outside the image', async () => {
    const br = idx.elTorito!.bootRecordOffset;
    const err = await indexError(poked((_b, v) => v.setUint32(br + 71, 0x00ffffff, true)));
    expect(err).toMatchObject({ structure: 'El Torito boot catalog', offset: br + 71 });
  });

  it('rejects a missing "CD001" and a truncated descriptor set', async () => {
    expect(
      await indexError(
        poked((b) => {
          b[16 * 2048 + 1] = 0x58;
        }),
      ),
    ).toMatchObject({ structure: 'volume descriptor', offset: 16 * 2048 + 1 });
    expect(await indexError(image.slice(0, 17 * 2048))).toBeInstanceOf(IsoFormatError);
    expect(await indexError(new Uint8Array(0))).toBeInstanceOf(IsoFormatError);
  });

  it('rejects a directory extent larger than its cap before reading it', async () => {
    const r = recordOf('/boot');
    const err = await indexError(poked((_b, v) => both32(v, r.offset + 10, 0xfffff800)));
    expect(err).toBeInstanceOf(LimitExceededError);
    expect(err).toMatchObject({ limit: 'directory extent size', offset: r.offset });
  });

  it('warns, and reads the little-endian half, when the halves of a both-endian field differ', async () => {
    const r = recordOf('/readme.txt');
    const bytes = poked((_b, v) => v.setUint32(r.offset + 14, 999_999, false)); // big-endian Data Length
    const again = await buildIndex(memorySource(bytes));
    expect(again.files.find((f) => f.path === '/readme.txt')?.size).toBe(6);
    expect(again.warnings).toEqual([expect.stringContaining(`directory record at byte ${r.offset}: little- and big-endian`)]);
    expect(idx.warnings).toEqual([]);
  });

  it('enforces the depth, entry, path and metadata-byte caps given as options', async () => {
    expect(await indexError(image, { maxDepth: 3 })).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'directory depth' });
    expect(await indexError(image, { maxEntries: 5 })).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'directory entries' });
    expect(await indexError(image, { maxPathChars: 40 })).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'path characters' });
    expect(await indexError(image, { maxMetadataBytes: 40_000 })).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'metadata bytes' });
    expect(await indexError(image, { maxContinuationHops: 0 })).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'SUSP continuation hops' });
  });

  it('refuses to read a file whose extent runs past the image', async () => {
    const f = idx.files.find((x) => x.path === '/big.bin')!;
    const short = memorySource(image.slice(0, f.extents[0]!.lba * 2048 + 10));
    await expect(readFileBytes(short, f, 1 << 20)).rejects.toBeInstanceOf(IsoFormatError);
    await expect(readFileBytes(memorySource(image), f, 10)).rejects.toBeInstanceOf(LimitExceededError);
  });
});
