// MBR and GPT parsing on hand-made tables (UEFI 2.x chapter 5), including a stale CRC (warning).

import { describe, expect, it } from 'vitest';
import { memorySource } from '../../src/byte-source.js';
import { IsoFormatError } from '../../src/errors.js';
import { DEFAULT_LIMITS, MetadataReader } from '../../src/iso9660/limits.js';
import { crc32, EFI_SYSTEM_GUID, readPartitionTables } from '../../src/iso9660/partition-table.js';

const ESP_TYPE = [0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b];

function image(): Uint8Array {
  const img = new Uint8Array(64 * 1024);
  const v = new DataView(img.buffer);
  // Protective MBR entry covering the disk.
  img[446 + 4] = 0xee;
  v.setUint32(446 + 8, 1, true);
  v.setUint32(446 + 12, 127, true);
  img[510] = 0x55;
  img[511] = 0xaa;
  // GPT header at LBA 1, entries at LBA 2.
  img.set(Buffer.from('EFI PART'), 512);
  v.setUint32(512 + 8, 0x00010000, true);
  v.setUint32(512 + 12, 92, true);
  v.setBigUint64(512 + 24, 1n, true);
  v.setBigUint64(512 + 72, 2n, true);
  v.setUint32(512 + 80, 4, true);
  v.setUint32(512 + 84, 128, true);
  const e = 1024;
  img.set(ESP_TYPE, e);
  v.setBigUint64(e + 32, 64n, true);
  v.setBigUint64(e + 40, 127n, true);
  [...'ESP'].forEach((c, i) => {
    v.setUint16(e + 56 + 2 * i, c.charCodeAt(0), true);
  });
  v.setUint32(512 + 88, crc32(img.subarray(1024, 1024 + 4 * 128)), true);
  v.setUint32(512 + 16, crc32(img.subarray(512, 512 + 92)), true);
  return img;
}
const read = (img: Uint8Array) => readPartitionTables(new MetadataReader(memorySource(img), DEFAULT_LIMITS));

describe('readPartitionTables', () => {
  it('reads a protective MBR and the GPT entries behind it', async () => {
    const { partitions, warnings } = await read(image());
    expect(warnings).toEqual([]);
    expect(partitions).toEqual([
      { scheme: 'mbr', number: 1, type: '0xee', startByte: 512, sizeBytes: 127 * 512, bootable: false, efiSystem: false },
      { scheme: 'gpt', number: 1, type: EFI_SYSTEM_GUID, startByte: 64 * 512, sizeBytes: 64 * 512, name: 'ESP', efiSystem: true },
    ]);
  });

  it('reports stale header and entry CRCs as warnings, not errors', async () => {
    const img = image();
    img[1024 + 60] = 0x41; // change the name: entries CRC no longer matches
    img[512 + 40] = 9; // change first usable LBA: header CRC no longer matches
    const { partitions, warnings } = await read(img);
    expect(partitions).toHaveLength(2);
    expect(warnings).toHaveLength(2);
    expect(warnings.join('\n')).toMatch(/GPT header at byte 512: CRC32/);
  });

  it('rejects an entry array outside the image, at the pointer', async () => {
    const img = image();
    new DataView(img.buffer).setBigUint64(512 + 72, 1n << 40n, true);
    await expect(read(img)).rejects.toMatchObject({ structure: 'GPT partition entry array', offset: 512 + 72 });
    await expect(read(img)).rejects.toBeInstanceOf(IsoFormatError);
  });

  it('finds nothing on an image without the 55 AA signature', async () => {
    expect((await read(new Uint8Array(4096))).partitions).toEqual([]);
  });

  it('computes the IEEE CRC-32 GPT uses', () => {
    expect(crc32(Buffer.from('123456789')).toString(16)).toBe('cbf43926');
  });
});
