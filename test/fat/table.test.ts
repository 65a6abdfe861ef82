// FAT entries of every width, chains with loop detection, and the copy-on-write image's
// overlays.

import { describe, expect, it } from 'vitest';
import { FatFormatError } from '../../src/errors.js';
import { CowImage } from '../../src/fat/cow-image.js';
import { formatFat, openFat } from '../../src/fat/index.js';
import { endOfChain, followChain, getFatEntry, setFatEntry } from '../../src/fat/table.js';

function volume(type: 12 | 16 | 32) {
  const image = formatFat({ type, files: [{ path: '/a', data: new Uint8Array(3000).fill(1) }] });
  const vol = openFat(image);
  return { image, vol, cow: new CowImage(image, vol.geometry.bytesPerSector) };
}

describe('FAT table', () => {
  it('packs FAT12 entries without disturbing the neighbouring cluster', () => {
    const { vol, cow } = volume(12);
    const g = vol.geometry;
    setFatEntry(cow, g, 100, 0xabc);
    setFatEntry(cow, g, 101, 0x123);
    setFatEntry(cow, g, 102, 0xfed);
    expect([getFatEntry(cow, g, 100), getFatEntry(cow, g, 101), getFatEntry(cow, g, 102)]).toEqual([0xabc, 0x123, 0xfed]);
    setFatEntry(cow, g, 101, 0);
    expect([getFatEntry(cow, g, 100), getFatEntry(cow, g, 101), getFatEntry(cow, g, 102)]).toEqual([0xabc, 0, 0xfed]);
  });

  it('writes every FAT copy', () => {
    for (const type of [12, 16, 32] as const) {
      const { vol, cow } = volume(type);
      setFatEntry(cow, vol.geometry, 50, 51);
      for (let copy = 0; copy < vol.geometry.fatCount; copy++) expect(getFatEntry(cow, vol.geometry, 50, copy)).toBe(51);
    }
  });

  it('keeps the top 4 bits of a FAT32 entry', () => {
    const { vol, cow } = volume(32);
    const g = vol.geometry;
    const at = g.fatOffset + 60 * 4;
    cow.setU32le(at, 0xa0000000);
    setFatEntry(cow, g, 60, 0x0ffffff8);
    expect(cow.u32le(at) >>> 0).toBe(0xaffffff8);
    expect(getFatEntry(cow, g, 60)).toBe(0x0ffffff8);
  });

  it('follows a chain to its end and refuses loops and free links', () => {
    for (const type of [12, 16, 32] as const) {
      const { vol, cow } = volume(type);
      const g = vol.geometry;
      const first = vol.geometry.fatType === 32 ? 3 : 2; // FAT32 root takes cluster 2
      expect(followChain(cow, g, first)).toHaveLength(6); // 3000 bytes in 512-byte clusters
      setFatEntry(cow, g, first + 5, first + 1);
      expect(() => followChain(cow, g, first)).toThrow(FatFormatError);
      setFatEntry(cow, g, first + 5, 0);
      expect(() => followChain(cow, g, first)).toThrow(/free/);
      setFatEntry(cow, g, first + 5, endOfChain(g));
      expect(followChain(cow, g, first, 2)).toEqual([first, first + 1]);
    }
  });
});

describe('CowImage', () => {
  it('reads its own writes and leaves the base untouched', () => {
    const base = new Uint8Array(2048).fill(7);
    const cow = new CowImage(base, 512);
    cow.write(500, new Uint8Array(30).fill(1));
    expect(cow.slice(495, 40)).toEqual(Uint8Array.from([...Array(5).fill(7), ...Array(30).fill(1), ...Array(5).fill(7)]));
    expect(base.every((b) => b === 7)).toBe(true);
  });

  it('returns only the bytes that differ, sorted, with nearby runs joined', () => {
    const base = new Uint8Array(4096);
    const cow = new CowImage(base, 512);
    cow.write(3000, Uint8Array.of(1, 2));
    cow.write(100, Uint8Array.of(0, 0, 5)); // the zeros equal the base
    cow.setU8(110, 9); // 7 unchanged bytes from the previous run: joined
    cow.setU8(1000, 0); // no change at all
    cow.zero(2000, 500); // already zero: no page copied
    expect(cow.overlays()).toEqual([
      { offset: 102, data: Uint8Array.of(5, 0, 0, 0, 0, 0, 0, 0, 9) },
      { offset: 3000, data: Uint8Array.of(1, 2) },
    ]);
  });
});
