// The El Torito boot catalog (El Torito 1.0, sections 2.1-2.4): validation entry with its
// checksum, the initial/default entry, then section headers (0x90 more follow, 0x91 final) each
// followed by its section entries and their extensions (0x44). Entries are 32 bytes; the
// catalog is read sector by sector as needed, capped by maxBootEntries.

import { BinaryView } from '../binary.js';
import { IsoFormatError, LimitExceededError } from '../errors.js';
import type { MetadataReader } from './limits.js';
import { SECTOR_SIZE, type BootPlatform } from './types.js';

const ENTRY_SIZE = 32;
// Validation entry (2.1).
const VE_HEADER_ID = 0; // must be 1
const VE_PLATFORM = 1;
const VE_KEY_55 = 30;
const VE_KEY_AA = 31;
// Initial/default and section entries (2.2, 2.4).
const E_BOOT_INDICATOR = 0; // 0x88 bootable, 0x00 not
const E_MEDIA = 1; // low nibble: emulation type; bit 5 (sections): extension follows
const E_SECTOR_COUNT = 6; // 512-byte virtual sectors, LE 16
const E_LOAD_RBA = 8; // LE 32
// Section header (2.3).
const SH_INDICATOR = 0; // 0x90 more headers follow, 0x91 final
const SH_PLATFORM = 1;
const SH_ENTRY_COUNT = 2; // LE 16
const EXTENSION_INDICATOR = 0x44;

export interface RawBootEntry {
  readonly platformId: number;
  readonly platform: BootPlatform;
  readonly bootable: boolean;
  readonly mediaType: number;
  readonly loadRba: number;
  readonly sectorCount: number;
  readonly entryOffset: number;
}

export function platformName(id: number): BootPlatform {
  switch (id) {
    case 0:
      return 'bios';
    case 0xef:
      return 'efi';
    case 1:
      return 'ppc';
    case 2:
      return 'mac';
    default:
      return 'other';
  }
}

/** El Torito 2.1: the 16 little-endian words of the validation entry sum to 0. */
export function validationChecksumOk(entry: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < ENTRY_SIZE; i += 2) sum = (sum + (entry[i]! | (entry[i + 1]! << 8))) & 0xffff;
  return sum === 0;
}

function parseEntry(v: BinaryView, platformId: number): RawBootEntry {
  const indicator = v.u8(E_BOOT_INDICATOR);
  if (indicator !== 0x88 && indicator !== 0x00) {
    throw new IsoFormatError('El Torito boot entry', v.base, `boot indicator 0x${indicator.toString(16)}, expected 0x88 or 0x00`);
  }
  return {
    platformId,
    platform: platformName(platformId),
    bootable: indicator === 0x88,
    mediaType: v.u8(E_MEDIA) & 0x0f,
    sectorCount: v.u16le(E_SECTOR_COUNT),
    loadRba: v.u32le(E_LOAD_RBA),
    entryOffset: v.base,
  };
}

/** Reads and parses the catalog at `catalogLba`; `pointerOffset` is where the boot record names it. */
export async function readBootCatalog(reader: MetadataReader, catalogLba: number, pointerOffset: number): Promise<RawBootEntry[]> {
  const start = catalogLba * SECTOR_SIZE;
  const sectors: Uint8Array[] = [];
  const entryAt = async (index: number): Promise<BinaryView> => {
    const sector = Math.floor((index * ENTRY_SIZE) / SECTOR_SIZE);
    while (sectors.length <= sector) {
      const off = start + sectors.length * SECTOR_SIZE;
      sectors.push(await reader.readPointed(off, SECTOR_SIZE, 'El Torito boot catalog', sectors.length === 0 ? pointerOffset : off - ENTRY_SIZE));
    }
    const within = (index * ENTRY_SIZE) % SECTOR_SIZE;
    return new BinaryView(sectors[sector]!.subarray(within, within + ENTRY_SIZE), start + index * ENTRY_SIZE);
  };

  const ve = await entryAt(0);
  if (ve.u8(VE_HEADER_ID) !== 1 || ve.u8(VE_KEY_55) !== 0x55 || ve.u8(VE_KEY_AA) !== 0xaa) {
    throw new IsoFormatError('El Torito validation entry', start, 'expected header id 1 and key bytes 55 AA');
  }
  if (!validationChecksumOk(ve.bytes)) {
    throw new IsoFormatError('El Torito validation entry', start, 'checksum of the 16 words is not 0');
  }
  const entries: RawBootEntry[] = [parseEntry(await entryAt(1), ve.u8(VE_PLATFORM))];

  let index = 2;
  const limit = reader.limits.maxBootEntries;
  for (;;) {
    if (index >= limit) throw new LimitExceededError('El Torito catalog entries', start + index * ENTRY_SIZE, `more than ${limit} entries`);
    if (start + (index + 1) * ENTRY_SIZE > reader.size) break;
    const header = await entryAt(index);
    const indicator = header.u8(SH_INDICATOR);
    // Anything but a section header ends the catalog (most images leave zeros after the default entry).
    if (indicator !== 0x90 && indicator !== 0x91) break;
    const platformId = header.u8(SH_PLATFORM);
    const count = header.u16le(SH_ENTRY_COUNT);
    index++;
    for (let n = 0; n < count; n++) {
      if (index >= limit) throw new LimitExceededError('El Torito catalog entries', start + index * ENTRY_SIZE, `more than ${limit} entries`);
      const entry = await entryAt(index);
      entries.push(parseEntry(entry, platformId));
      index++;
      // Section entry extensions (2.5) carry more selection criteria; skip them.
      let more = (entry.u8(E_MEDIA) & 0x20) !== 0;
      while (more) {
        if (index >= limit) throw new LimitExceededError('El Torito catalog entries', start + index * ENTRY_SIZE, `more than ${limit} entries`);
        const ext = await entryAt(index);
        if (ext.u8(0) !== EXTENSION_INDICATOR) throw new IsoFormatError('El Torito section entry extension', ext.base, 'expected indicator 0x44');
        more = (ext.u8(1) & 0x20) !== 0;
        index++;
      }
    }
    if (indicator === 0x91) break;
  }
  return entries;
}
