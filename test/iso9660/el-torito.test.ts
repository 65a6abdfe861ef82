// The El Torito catalog parser on hand-made catalogs (El Torito 1.0 sections 2.1-2.5).

import { describe, expect, it } from 'vitest';
import { memorySource } from '../../src/byte-source.js';
import { IsoFormatError, LimitExceededError } from '../../src/errors.js';
import { readBootCatalog, validationChecksumOk } from '../../src/iso9660/el-torito.js';
import { DEFAULT_LIMITS, MetadataReader } from '../../src/iso9660/limits.js';

const CATALOG_LBA = 2;

function catalog(entries: number[][]): Uint8Array {
  const image = new Uint8Array(4 * 2048);
  entries.forEach((e, i) => {
    image.set(e, CATALOG_LBA * 2048 + i * 32);
  });
  return image;
}
function validation(platform: number): number[] {
  const e = new Array<number>(32).fill(0);
  e[0] = 1;
  e[1] = platform;
  e[30] = 0x55;
  e[31] = 0xaa;
  let sum = 0;
  for (let i = 0; i < 32; i += 2) sum = (sum + e[i]! + (e[i + 1]! << 8)) & 0xffff;
  const check = (0x10000 - sum) & 0xffff;
  e[28] = check & 0xff;
  e[29] = check >> 8;
  return e;
}
function bootEntry(indicator: number, media: number, sectors: number, rba: number): number[] {
  const e = new Array<number>(32).fill(0);
  e[0] = indicator;
  e[1] = media;
  e[6] = sectors & 0xff;
  e[7] = sectors >> 8;
  e[8] = rba & 0xff;
  e[9] = (rba >> 8) & 0xff;
  e[10] = (rba >> 16) & 0xff;
  e[11] = rba >>> 24;
  return e;
}
function header(indicator: number, platform: number, count: number): number[] {
  const e = new Array<number>(32).fill(0);
  e[0] = indicator;
  e[1] = platform;
  e[2] = count;
  return e;
}
const read = (image: Uint8Array, limits = DEFAULT_LIMITS) => readBootCatalog(new MetadataReader(memorySource(image), limits), CATALOG_LBA, 34_887);

describe('readBootCatalog', () => {
  it('reads the default entry and section entries, skipping entry extensions', async () => {
    const image = catalog([
      validation(0),
      bootEntry(0x88, 0, 4, 100),
      header(0x90, 0x00, 1),
      bootEntry(0x00, 0x20 | 2, 2880, 200), // extension follows
      [0x44, ...new Array<number>(31).fill(0)],
      header(0x91, 0xef, 1),
      bootEntry(0x88, 0, 1, 300),
    ]);
    expect(validationChecksumOk(image.subarray(CATALOG_LBA * 2048, CATALOG_LBA * 2048 + 32))).toBe(true);
    const entries = await read(image);
    expect(entries.map((e) => [e.platform, e.bootable, e.mediaType, e.sectorCount, e.loadRba])).toEqual([
      ['bios', true, 0, 4, 100],
      ['bios', false, 2, 2880, 200],
      ['efi', true, 0, 1, 300],
    ]);
    expect(entries[2]!.entryOffset).toBe(CATALOG_LBA * 2048 + 6 * 32);
  });

  it('rejects a bad checksum and a bad boot indicator at the entry', async () => {
    const bad = catalog([validation(0), bootEntry(0x88, 0, 4, 100)]);
    bad[CATALOG_LBA * 2048 + 5] = 1;
    await expect(read(bad)).rejects.toMatchObject({ structure: 'El Torito validation entry', offset: CATALOG_LBA * 2048 });
    const indicator = catalog([validation(0), bootEntry(0x42, 0, 4, 100)]);
    await expect(read(indicator)).rejects.toMatchObject({ structure: 'El Torito boot entry', offset: CATALOG_LBA * 2048 + 32 });
    await expect(read(indicator)).rejects.toBeInstanceOf(IsoFormatError);
  });

  it('caps the number of entries a catalog may claim', async () => {
    const image = catalog([validation(0), bootEntry(0x88, 0, 4, 100), header(0x91, 0xef, 60000)]);
    await expect(read(image, { ...DEFAULT_LIMITS, maxBootEntries: 16 })).rejects.toBeInstanceOf(LimitExceededError);
  });
});
