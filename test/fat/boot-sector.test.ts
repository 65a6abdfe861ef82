// Boot sector parsing: the FAT type follows Microsoft's cluster-count rule, and a corrupt BPB
// field is a FatFormatError carrying the offset of that field.

import { describe, expect, it } from 'vitest';
import { FatFormatError } from '../../src/errors.js';
import { parseBootSector } from '../../src/fat/boot-sector.js';
import { formatFat } from '../../src/fat/index.js';

/** A bare boot sector with the given BPB, in an image just large enough for its volume. */
function bpb(p: {
  bps?: number;
  spc: number;
  reserved: number;
  fats: number;
  rootEntries: number;
  totalSectors: number;
  fatSize: number;
  fat32?: boolean;
}): Uint8Array {
  const bps = p.bps ?? 512;
  const img = new Uint8Array(p.totalSectors * bps);
  const v = new DataView(img.buffer);
  img.set([0xeb, 0x3c, 0x90], 0);
  v.setUint16(11, bps, true);
  img[13] = p.spc;
  v.setUint16(14, p.reserved, true);
  img[16] = p.fats;
  v.setUint16(17, p.rootEntries, true);
  if (p.totalSectors < 0x10000) v.setUint16(19, p.totalSectors, true);
  else v.setUint32(32, p.totalSectors, true);
  img[21] = 0xf8;
  if (p.fat32) {
    v.setUint32(36, p.fatSize, true);
    v.setUint32(44, 2, true);
    v.setUint16(48, 1, true);
  } else v.setUint16(22, p.fatSize, true);
  img[510] = 0x55;
  img[511] = 0xaa;
  return img;
}

/** Total sectors giving exactly `clusters` clusters with one sector per cluster. */
function withClusters(clusters: number, fatBits: 12 | 16 | 32) {
  const fatSize = Math.ceil(((clusters + 2) * fatBits) / 8 / 512);
  const reserved = fatBits === 32 ? 32 : 1;
  const rootEntries = fatBits === 32 ? 0 : 512;
  const meta = reserved + 2 * fatSize + (rootEntries * 32) / 512;
  return bpb({ spc: 1, reserved, fats: 2, rootEntries, totalSectors: meta + clusters, fatSize, fat32: fatBits === 32 });
}

describe('parseBootSector', () => {
  it('classifies by cluster count: 4084 is FAT12, 4085 is FAT16', () => {
    expect(parseBootSector(withClusters(4084, 12))).toMatchObject({ fatType: 12, clusterCount: 4084 });
    expect(parseBootSector(withClusters(4085, 16))).toMatchObject({ fatType: 16, clusterCount: 4085 });
  });

  it('classifies by cluster count: 65524 is FAT16, 65525 is FAT32', () => {
    expect(parseBootSector(withClusters(65524, 16))).toMatchObject({ fatType: 16, clusterCount: 65524 });
    expect(parseBootSector(withClusters(65525, 32))).toMatchObject({ fatType: 32, clusterCount: 65525, rootCluster: 2, fsInfoSector: 1 });
  });

  it('derives the regions of a formatted image', () => {
    const g = parseBootSector(formatFat({ type: 16, files: [] }));
    expect(g.fatOffset).toBe(g.reservedSectors * 512);
    expect(g.rootDirOffset).toBe(g.fatOffset + 2 * g.fatSizeBytes);
    expect(g.dataOffset).toBe(g.rootDirOffset + g.rootDirBytes);
  });

  const pokes: [string, number, (img: Uint8Array) => void][] = [
    ['bytes per sector not a power of two', 11, (i) => new DataView(i.buffer).setUint16(11, 1000, true)],
    ['bytes per sector above 4096', 11, (i) => new DataView(i.buffer).setUint16(11, 8192, true)],
    ['sectors per cluster not a power of two', 13, (i) => (i[13] = 3)],
    ['sectors per cluster zero', 13, (i) => (i[13] = 0)],
    ['no reserved sector', 14, (i) => new DataView(i.buffer).setUint16(14, 0, true)],
    ['no FAT', 16, (i) => (i[16] = 0)],
    ['five FATs', 16, (i) => (i[16] = 5)],
    ['a volume larger than the image', 19, (i) => new DataView(i.buffer).setUint16(19, 60000, true)],
    ['a FAT too small for the clusters', 22, (i) => new DataView(i.buffer).setUint16(22, 1, true)],
    ['no root directory on FAT12', 17, (i) => new DataView(i.buffer).setUint16(17, 0, true)],
  ];
  for (const [what, offset, poke] of pokes) {
    it(`refuses ${what} with the offset of the field`, () => {
      const img = formatFat({ type: 12, files: [] });
      poke(img);
      let caught: unknown;
      try {
        parseBootSector(img);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(FatFormatError);
      expect(caught).toMatchObject({ structure: 'boot sector', offset });
    });
  }

  it('refuses an image that is not a FAT image or is shorter than a sector', () => {
    expect(() => parseBootSector(new Uint8Array(4096))).toThrow(FatFormatError);
    expect(() => parseBootSector(new Uint8Array(100))).toThrow(FatFormatError);
  });

  it('refuses a FAT32 root cluster outside the data clusters', () => {
    const img = formatFat({ type: 32, files: [] });
    new DataView(img.buffer).setUint32(44, 0x0ffffff0, true);
    expect(() => parseBootSector(img)).toThrow(expect.objectContaining({ offset: 44 }));
  });
});
