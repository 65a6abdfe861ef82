// FAT directory entries (fatgen103 section 6) and VFAT long names (section 7): one directory read
// from the fixed root region (FAT12/16) or from a cluster chain (subdirectories, FAT32 root).
// Long-name entries are accepted only as a complete, in-order run whose checksum matches the 8.3
// entry that follows (a stale run left by a DOS-era tool is ignored and the 8.3 name is used, as
// Windows does). Deleted (0xE5) entries, the volume label and the "." / ".." entries are skipped;
// a 0x00 first byte ends the directory.

import { LimitExceededError } from '../errors.js';
import { latin1 } from '../binary.js';
import type { FatGeometry } from './boot-sector.js';
import { clusterOffset } from './boot-sector.js';
import type { FatBytes } from './cow-image.js';
import { followChain } from './table.js';

export const DIR_ENTRY_SIZE = 32;
// Short entry fields (fatgen103 section 6).
const DIR_NAME = 0; // 11 bytes: 8 name + 3 extension, space padded
const DIR_ATTR = 11;
const DIR_NTRES = 12; // Windows NT: 0x08 base name lower case, 0x10 extension lower case
const DIR_FST_CLUS_HI = 20;
const DIR_FST_CLUS_LO = 26;
const DIR_FILE_SIZE = 28;
// Long entry fields (section 7).
const LDIR_ORD = 0;
const LDIR_CHKSUM = 13;
const LFN_CHAR_OFFSETS = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30] as const;

export const ATTR_READ_ONLY = 0x01;
export const ATTR_HIDDEN = 0x02;
export const ATTR_SYSTEM = 0x04;
export const ATTR_VOLUME_ID = 0x08;
export const ATTR_DIRECTORY = 0x10;
export const ATTR_ARCHIVE = 0x20;
export const ATTR_LONG_NAME = 0x0f;

const NT_LOWER_BASE = 0x08;
const NT_LOWER_EXT = 0x10;
/** A VFAT name is at most 255 characters: 20 entries of 13. */
const MAX_LFN_ENTRIES = 20;
/** fatgen103 section 6: a directory holds at most 65536 entries (2 MiB). */
export const MAX_DIR_ENTRIES = 65536;

export interface FatDirEntry {
  /** The long name when a valid VFAT run precedes the entry, else the 8.3 name with NT case flags. */
  readonly name: string;
  /** The 8.3 name as stored, e.g. 'GRUB.CFG'. */
  readonly shortName: string;
  readonly attributes: number;
  readonly isDirectory: boolean;
  readonly firstCluster: number;
  readonly size: number;
  /** Byte offset of the 32-byte 8.3 entry in the image. */
  readonly entryOffset: number;
}

/** Where a directory's entries are: the fixed FAT12/16 root, or a chain of clusters. */
export type DirectoryLocation = { readonly kind: 'fixed-root' } | { readonly kind: 'chain'; readonly firstCluster: number };

/** Shared across one walk so that a hostile image cannot make it read unbounded entries. */
export interface EntryBudget {
  remaining: number;
}

/** The checksum of an 11-byte 8.3 name that every long-name entry of it carries (section 7.2). */
export function shortNameChecksum(name11: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < 11; i++) sum = (((sum & 1) << 7) + (sum >>> 1) + name11[i]!) & 0xff;
  return sum;
}

function decodeShortName(raw: Uint8Array, ntFlags: number): { shortName: string; displayName: string } {
  const bytes = raw.slice(0, 11);
  // 0x05 in the first byte stands for a real 0xE5 (a KANJI lead byte), section 6.1.
  if (bytes[0] === 0x05) bytes[0] = 0xe5;
  // The OEM code page is unknown here; latin1 keeps ASCII right and every byte distinct.
  const base = latin1(bytes.subarray(0, 8)).replace(/ +$/, '');
  const ext = latin1(bytes.subarray(8, 11)).replace(/ +$/, '');
  const shortName = ext ? `${base}.${ext}` : base;
  const b = ntFlags & NT_LOWER_BASE ? base.toLowerCase() : base;
  const e = ntFlags & NT_LOWER_EXT ? ext.toLowerCase() : ext;
  return { shortName, displayName: e ? `${b}.${e}` : b };
}

function lfnChars(entry: Uint8Array): number[] {
  const out: number[] = [];
  for (const at of LFN_CHAR_OFFSETS) out.push(entry[at]! | (entry[at + 1]! << 8));
  return out;
}

function decodeLongName(parts: number[][]): string {
  let s = '';
  for (const part of parts) {
    for (const unit of part) {
      if (unit === 0x0000) return s;
      s += String.fromCharCode(unit);
    }
  }
  return s;
}

/** The byte offsets of every 32-byte slot of a directory, in order. */
function slotRuns(bytes: FatBytes, geo: FatGeometry, location: DirectoryLocation): { offset: number; length: number }[] {
  if (location.kind === 'fixed-root') return [{ offset: geo.rootDirOffset, length: geo.rootDirBytes }];
  const maxClusters = Math.ceil((MAX_DIR_ENTRIES * DIR_ENTRY_SIZE) / geo.clusterSizeBytes);
  return followChain(bytes, geo, location.firstCluster, maxClusters).map((c) => ({ offset: clusterOffset(geo, c), length: geo.clusterSizeBytes }));
}

/** Reads the live entries of one directory, in on-disk order. */
export function readDirectory(bytes: FatBytes, geo: FatGeometry, location: DirectoryLocation, budget: EntryBudget): FatDirEntry[] {
  const entries: FatDirEntry[] = [];
  // The long-name run being collected: parts[i] holds the characters of sequence number i + 1.
  let lfn: { parts: number[][]; checksum: number; expect: number } | undefined;
  for (const run of slotRuns(bytes, geo, location)) {
    for (let at = run.offset; at + DIR_ENTRY_SIZE <= run.offset + run.length; at += DIR_ENTRY_SIZE) {
      if (--budget.remaining < 0) throw new LimitExceededError('FAT directory entries', at, 'too many directory entries in the FAT image');
      const raw = bytes.slice(at, DIR_ENTRY_SIZE);
      const first = raw[DIR_NAME]!;
      if (first === 0x00) return entries; // end of directory: nothing after it is in use
      if (first === 0xe5) {
        lfn = undefined;
        continue;
      }
      const attr = raw[DIR_ATTR]!;
      if ((attr & 0x3f) === ATTR_LONG_NAME) {
        const ord = raw[LDIR_ORD]!;
        const seq = ord & 0x1f;
        const checksum = raw[LDIR_CHKSUM]!;
        if (ord & 0x40) {
          // The last long entry comes first on disk and says how many there are.
          lfn = seq >= 1 && seq <= MAX_LFN_ENTRIES ? { parts: new Array<number[]>(seq), checksum, expect: seq - 1 } : undefined;
          if (lfn) lfn.parts[seq - 1] = lfnChars(raw);
        } else if (lfn && seq === lfn.expect && seq >= 1 && checksum === lfn.checksum) {
          lfn.parts[seq - 1] = lfnChars(raw);
          lfn.expect--;
        } else {
          lfn = undefined;
        }
        continue;
      }
      const pending = lfn;
      lfn = undefined;
      if (attr & ATTR_VOLUME_ID) continue; // the volume label, not a file
      if (first === 0x2e) continue; // "." and ".."
      const { shortName, displayName } = decodeShortName(raw, raw[DIR_NTRES]!);
      let name = displayName;
      if (pending && pending.expect === 0 && pending.checksum === shortNameChecksum(raw.subarray(0, 11))) {
        const long = decodeLongName(pending.parts);
        if (long.length > 0) name = long;
      }
      const lo = raw[DIR_FST_CLUS_LO]! | (raw[DIR_FST_CLUS_LO + 1]! << 8);
      // The high word is only meaningful on FAT32 (FAT16 OS/2 used it for extended attributes).
      const hi = geo.fatType === 32 ? raw[DIR_FST_CLUS_HI]! | (raw[DIR_FST_CLUS_HI + 1]! << 8) : 0;
      const size = (raw[DIR_FILE_SIZE]! | (raw[DIR_FILE_SIZE + 1]! << 8) | (raw[DIR_FILE_SIZE + 2]! << 16) | (raw[DIR_FILE_SIZE + 3]! << 24)) >>> 0;
      entries.push({
        name,
        shortName,
        attributes: attr,
        isDirectory: (attr & ATTR_DIRECTORY) !== 0,
        firstCluster: (hi * 0x10000 + lo) & 0x0fffffff,
        size,
        entryOffset: at,
      });
    }
  }
  return entries;
}

/** Field offsets inside a short entry that the patcher writes. */
export const DIR_FIELDS = { firstClusterHi: DIR_FST_CLUS_HI, firstClusterLo: DIR_FST_CLUS_LO, fileSize: DIR_FILE_SIZE } as const;
