// Directory entries poked one byte at a time in images made by formatFat: deleted and end
// markers, NT case flags, the 0x05 escape, broken long-name runs, and directory cycles.

import { describe, expect, it } from 'vitest';
import { FatFormatError } from '../../src/errors.js';
import { formatFat, listFatFiles, listFatTree, openFat } from '../../src/fat/index.js';
import { shortNameChecksum } from '../../src/fat/directory.js';

const enc = new TextEncoder();

function image() {
  return formatFat({
    type: 16,
    files: [
      { path: '/README', data: enc.encode('r') },
      { path: '/a/b/deep.cfg', data: enc.encode('d') },
      { path: '/a/Long Name Here.conf', data: enc.encode('l') },
      { path: '/a/ZZZ', data: enc.encode('z') },
    ],
  });
}

function entryOf(img: Uint8Array, path: string) {
  return listFatTree(openFat(img)).find((e) => e.path === path)!;
}

describe('FAT directory entries', () => {
  it('skips a deleted entry together with its long name', () => {
    const img = image();
    img[entryOf(img, '/a/Long Name Here.conf').dirEntryOffset] = 0xe5;
    expect(
      listFatFiles(openFat(img))
        .map((f) => f.path)
        .sort(),
    ).toEqual(['/README', '/a/ZZZ', '/a/b/deep.cfg']);
  });

  it('stops at an end-of-directory marker', () => {
    const img = image();
    const zzz = entryOf(img, '/a/ZZZ').dirEntryOffset;
    img[zzz] = 0x00;
    img[zzz + 32] = 0x41; // anything after the end marker is not read
    expect(listFatFiles(openFat(img)).map((f) => f.path)).not.toContain('/a/ZZZ');
  });

  it('applies the NT lower-case flags to 8.3 names', () => {
    const img = image();
    const at = entryOf(img, '/README').dirEntryOffset;
    img[at + 12] = 0x08;
    expect(entryOf(img, '/readme')).toMatchObject({ shortPath: '/README' });
  });

  it('reads a leading 0x05 as the character 0xE5', () => {
    const img = image();
    const at = entryOf(img, '/README').dirEntryOffset;
    img[at] = 0x05;
    expect(listFatFiles(openFat(img)).find((f) => f.dirEntryOffset === at)!.path).toBe('/\u00e5EADME');
  });

  it('uses the 8.3 name when the long-name run is out of order', () => {
    const img = image();
    const e = entryOf(img, '/a/Long Name Here.conf');
    // "Long Name Here.conf" takes two long entries: 0x42 then 0x01. Make the second claim 3.
    expect(img[e.dirEntryOffset - 32]).toBe(0x01);
    img[e.dirEntryOffset - 32] = 0x03;
    expect(listFatFiles(openFat(img)).find((f) => f.dirEntryOffset === e.dirEntryOffset)!.path).toBe(`/a/${e.shortPath.split('/').pop()}`);
  });

  it('computes the long-name checksum over the 11-byte 8.3 name', () => {
    const img = image();
    const e = entryOf(img, '/a/Long Name Here.conf');
    expect(shortNameChecksum(img.subarray(e.dirEntryOffset, e.dirEntryOffset + 11))).toBe(img[e.dirEntryOffset - 32 + 13]);
  });

  it('refuses a subdirectory that points back at an ancestor', () => {
    const img = image();
    const a = entryOf(img, '/a');
    const b = entryOf(img, '/a/b');
    img[b.dirEntryOffset + 26] = a.firstCluster & 0xff;
    img[b.dirEntryOffset + 27] = a.firstCluster >>> 8;
    let caught: unknown;
    try {
      listFatTree(openFat(img));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(FatFormatError);
    expect(caught).toMatchObject({ structure: 'directory entry', offset: b.dirEntryOffset });
  });
});
