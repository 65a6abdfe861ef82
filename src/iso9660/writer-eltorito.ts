// El Torito 1.0 structures for the deterministic ISO writer: the boot record volume descriptor
// (El Torito 2.0), the boot catalog (validation entry 2.1, initial/default entry 2.2, section
// header 2.3 and section entry 2.4 for the EFI image, platform 0xEF as UEFI 2.x defines it), and
// the isolinux boot info table that `mkisofs -boot-info-table` patches into bytes 8..63 of the
// boot file.

import { latin1Bytes, writeU16le, writeU32le } from '../binary.js';
import { SECTOR_SIZE } from './types.js';

export const PLATFORM_X86 = 0;
export const PLATFORM_EFI = 0xef;

/** Boot record volume descriptor (type 0) pointing at the catalog. */
export function bootRecordDescriptor(catalogLba: number): Uint8Array {
  const d = new Uint8Array(SECTOR_SIZE);
  d[0] = 0; // type: boot record
  d.set([0x43, 0x44, 0x30, 0x30, 0x31], 1); // "CD001"
  d[6] = 1;
  const system = 'EL TORITO SPECIFICATION';
  d.set(latin1Bytes(system), 7); // zero padded to 32
  writeU32le(d, 71, catalogLba);
  return d;
}

export interface CatalogEntry {
  readonly platformId: number;
  readonly loadRba: number;
  /** Count of 512-byte virtual sectors to load. */
  readonly sectorCount: number;
}

function bootEntry(out: Uint8Array, at: number, e: CatalogEntry): void {
  out[at] = 0x88; // bootable
  out[at + 1] = 0; // no emulation
  writeU16le(out, at + 2, 0); // load segment 0 = traditional 0x7C0
  out[at + 4] = 0; // system type (partition type; unused without emulation)
  writeU16le(out, at + 6, e.sectorCount);
  writeU32le(out, at + 8, e.loadRba);
}

/**
 * The boot catalog sector: the first entry is the default entry (its platform is the validation
 * entry's); each further entry gets its own section, the last section header marked final (0x91).
 */
export function bootCatalog(entries: readonly CatalogEntry[]): Uint8Array {
  const out = new Uint8Array(SECTOR_SIZE);
  const first = entries[0]!;
  // Validation entry: header 1, platform, 24-byte id (left empty), checksum, 55 AA.
  out[0] = 1;
  out[1] = first.platformId;
  out[30] = 0x55;
  out[31] = 0xaa;
  let sum = 0;
  for (let i = 0; i < 32; i += 2) sum = (sum + out[i]! + (out[i + 1]! << 8)) & 0xffff;
  writeU16le(out, 28, (0x10000 - sum) & 0xffff); // all 16-bit words sum to 0
  bootEntry(out, 32, first);
  let at = 64;
  entries.slice(1).forEach((e, i, rest) => {
    out[at] = i === rest.length - 1 ? 0x91 : 0x90;
    out[at + 1] = e.platformId;
    writeU16le(out, at + 2, 1); // one entry in this section
    bootEntry(out, at + 32, e);
    at += 64;
  });
  return out;
}

/**
 * Patches the isolinux boot info table into `file` (the boot file's bytes as written in the
 * image): bytes 8..23 are the PVD LBA, the file's LBA, its length and a 32-bit sum of the
 * little-endian words from byte 64 to the end; bytes 24..63 are zeroed.
 */
export function patchBootInfoTable(file: Uint8Array, pvdLba: number, fileLba: number): void {
  let sum = 0;
  for (let i = 64; i < file.length; i += 4) {
    const word = file[i]! | ((file[i + 1] ?? 0) << 8) | ((file[i + 2] ?? 0) << 16) | ((file[i + 3] ?? 0) << 24);
    sum = (sum + (word >>> 0)) >>> 0;
  }
  file.fill(0, 8, 64);
  writeU32le(file, 8, pvdLba);
  writeU32le(file, 12, fileLba);
  writeU32le(file, 16, file.length);
  writeU32le(file, 20, sum);
}
