// How the ISO reader sizes an El Torito EFI image that no directory record describes: from the
// FAT boot sector's own fields, with src/fat's checks (bootSectorVolumeBytes), because catalogs
// often give 1 or 4 sectors for a multi-megabyte image. A boundary table over one 512-byte sector.

import { describe, expect, it } from 'vitest';
import { FatFormatError } from '../../src/errors.js';
import { bootSectorVolumeBytes } from '../../src/fat/boot-sector.js';

/** A FAT12 1.44 MB boot sector, as mkfs.fat -C img 1440 writes it, with fields overridden. */
function sector(edit: (v: DataView, b: Uint8Array) => void = () => {}): Uint8Array {
  const b = new Uint8Array(512);
  const v = new DataView(b.buffer);
  b.set([0xeb, 0x3c, 0x90], 0); // jump
  v.setUint16(11, 512, true); // bytes per sector
  b[13] = 1; // sectors per cluster
  v.setUint16(14, 1, true); // reserved sectors
  b[16] = 2; // FATs
  v.setUint16(17, 224, true); // root entries
  v.setUint16(19, 2880, true); // total sectors (16-bit)
  b[21] = 0xf0;
  v.setUint16(22, 9, true); // sectors per FAT
  v.setUint16(510, 0xaa55, true);
  edit(v, b);
  return b;
}

const refused = (s: Uint8Array) => {
  try {
    bootSectorVolumeBytes(s);
  } catch (err) {
    return err instanceof FatFormatError ? err.offset : 'other error';
  }
  return 'accepted';
};

describe('bootSectorVolumeBytes', () => {
  it('is total sectors times bytes per sector', () => {
    expect(bootSectorVolumeBytes(sector())).toBe(1_474_560);
  });

  it('reads the 32-bit total when the 16-bit one is 0, and 4096-byte sectors', () => {
    expect(
      bootSectorVolumeBytes(
        sector((v) => {
          v.setUint16(19, 0, true);
          v.setUint32(32, 40_000, true);
        }),
      ),
    ).toBe(20_480_000);
    expect(bootSectorVolumeBytes(sector((v) => v.setUint16(11, 4096, true)))).toBe(2880 * 4096);
  });

  it('accepts a sector with a jump but no 0x55AA, or 0x55AA but no jump, as parseBootSector does', () => {
    expect(refused(sector((v) => v.setUint16(510, 0, true)))).toBe('accepted');
    expect(
      refused(
        sector((_, b) => {
          b[0] = 0;
        }),
      ),
    ).toBe('accepted');
  });

  it('refuses what is not a FAT boot sector, with the offset of the field at fault', () => {
    const cases: Array<[string, Uint8Array, number]> = [
      [
        'no jump and no signature',
        sector((v, b) => {
          b[0] = 0;
          v.setUint16(510, 0, true);
        }),
        0,
      ],
      ['256-byte sectors', sector((v) => v.setUint16(11, 256, true)), 11],
      [
        '3 sectors per cluster',
        sector((_, b) => {
          b[13] = 3;
        }),
        13,
      ],
      ['no reserved sector', sector((v) => v.setUint16(14, 0, true)), 14],
      [
        'five FATs',
        sector((_, b) => {
          b[16] = 5;
        }),
        16,
      ],
      [
        'no sectors at all',
        sector((v) => {
          v.setUint16(19, 0, true);
          v.setUint32(32, 0, true);
        }),
        19,
      ],
      ['all zeros', new Uint8Array(512), 0],
      ['shorter than a sector', new Uint8Array(100), 0],
    ];
    for (const [name, s, offset] of cases) expect(refused(s), name).toBe(offset);
  });
});
