// Hybrid images: the MBR (at byte 0, signature 55 AA at 510) and a GPT (UEFI 2.x chapter 5:
// header at LBA 1, entries where the header says). ISO hybrids (isohdpfx, xorriso, grub-mkrescue)
// use 512-byte LBAs here. A GPT CRC32 mismatch is a warning, not fatal: isohybrid-style tools
// have been seen leaving stale CRCs, and firmware that ignores them still boots.

import { BinaryView } from '../binary.js';
import { IsoFormatError, LimitExceededError } from '../errors.js';
import type { MetadataReader } from './limits.js';
import type { Partition } from './types.js';

const LBA = 512;
const MBR_TABLE = 446; // four 16-byte entries
const MBR_SIGNATURE = 510;
const GPT_HEADER_SIGNATURE = 'EFI PART';
export const EFI_SYSTEM_GUID = 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b';
const MBR_TYPE_EFI = 0xef;
export const MBR_TYPE_PROTECTIVE = 0xee;

let crcTable: Uint32Array | undefined;
/** CRC-32 (IEEE 802.3, reflected), as GPT uses. */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = crcTable[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** GUIDs are stored mixed-endian: the first three fields little-endian. */
export function formatGuid(b: Uint8Array): string {
  const h = (i: number) => b[i]!.toString(16).padStart(2, '0');
  const seq = (idx: number[]) => idx.map(h).join('');
  return `${seq([3, 2, 1, 0])}-${seq([5, 4])}-${seq([7, 6])}-${seq([8, 9])}-${seq([10, 11, 12, 13, 14, 15])}`;
}

export function parseMbr(sector: Uint8Array): Partition[] {
  const v = new BinaryView(sector, 0);
  if (v.u8(MBR_SIGNATURE) !== 0x55 || v.u8(MBR_SIGNATURE + 1) !== 0xaa) return [];
  const out: Partition[] = [];
  for (let i = 0; i < 4; i++) {
    const e = v.sub(MBR_TABLE + i * 16, 16);
    const status = e.u8(0);
    const type = e.u8(4);
    const start = e.u32le(8);
    const count = e.u32le(12);
    if (type === 0 || count === 0) continue;
    // A status byte other than 0x00/0x80 means these 64 bytes are not a partition table
    // (e.g. boot code of a non-hybrid image); ignore rather than invent partitions.
    if (status !== 0 && status !== 0x80) return [];
    out.push({
      scheme: 'mbr',
      number: i + 1,
      type: `0x${type.toString(16).padStart(2, '0')}`,
      startByte: start * LBA,
      sizeBytes: count * LBA,
      bootable: status === 0x80,
      efiSystem: type === MBR_TYPE_EFI,
    });
  }
  return out;
}

export interface PartitionTables {
  readonly partitions: Partition[];
  readonly warnings: string[];
}

/** Reads MBR and, if one is there, the primary GPT. Images without 55 AA at 510 have neither. */
export async function readPartitionTables(reader: MetadataReader): Promise<PartitionTables> {
  const warnings: string[] = [];
  if (reader.size < 2 * LBA) return { partitions: [], warnings };
  const head = await reader.read(0, 2 * LBA);
  const mbr = parseMbr(head.subarray(0, LBA));
  const partitions: Partition[] = [...mbr];
  const hdr = new BinaryView(head.subarray(LBA, 2 * LBA), LBA);
  if (hdr.ascii(0, 8) !== GPT_HEADER_SIGNATURE) return { partitions, warnings };

  const headerSize = hdr.u32le(12);
  if (headerSize < 92 || headerSize > LBA) throw new IsoFormatError('GPT header', LBA + 12, `header size ${headerSize}, expected 92..512`);
  const copy = hdr.slice(0, headerSize).slice();
  copy.fill(0, 16, 20);
  const headerCrc = hdr.u32le(16);
  if (crc32(copy) !== headerCrc) warnings.push(`GPT header at byte ${LBA}: CRC32 0x${headerCrc.toString(16)} does not match the header`);
  const entriesLba = hdr.u64le(72);
  const count = hdr.u32le(80);
  const entrySize = hdr.u32le(84);
  const entriesCrc = hdr.u32le(88);
  if (entrySize < 128 || entrySize > 4096 || entrySize % 8 !== 0) {
    throw new IsoFormatError('GPT header', LBA + 84, `partition entry size ${entrySize}, expected a multiple of 8 in 128..4096`);
  }
  if (count > reader.limits.maxGptEntries) {
    throw new LimitExceededError('GPT partition entries', LBA + 80, `${count} entries, cap ${reader.limits.maxGptEntries}`);
  }
  const table = await reader.readPointed(entriesLba * LBA, count * entrySize, 'GPT partition entry array', LBA + 72);
  if (crc32(table) !== entriesCrc) {
    warnings.push(`GPT partition entries at byte ${entriesLba * LBA}: CRC32 0x${entriesCrc.toString(16)} does not match the entries`);
  }
  const tv = new BinaryView(table, entriesLba * LBA);
  for (let i = 0; i < count; i++) {
    const e = tv.sub(i * entrySize, entrySize);
    const typeBytes = e.slice(0, 16);
    if (typeBytes.every((x) => x === 0)) continue;
    const type = formatGuid(typeBytes);
    const first = e.u64le(32);
    const last = e.u64le(40);
    if (last < first) throw new IsoFormatError('GPT partition entry', e.base + 40, `last LBA ${last} before first LBA ${first}`);
    let name = '';
    for (let j = 56; j + 1 < 128; j += 2) {
      const c = e.u16le(j);
      if (c === 0) break;
      name += String.fromCharCode(c);
    }
    partitions.push({
      scheme: 'gpt',
      number: i + 1,
      type,
      startByte: first * LBA,
      sizeBytes: (last - first + 1) * LBA,
      ...(name ? { name } : {}),
      efiSystem: type === EFI_SYSTEM_GUID,
    });
  }
  return { partitions, warnings };
}
