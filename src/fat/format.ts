// A small deterministic mkfs for FAT12/16/32 (fatgen103): builds a whole image holding the given
// files, for the demo image and for tests. Nothing depends on the clock: the volume id and every
// timestamp are fixed, directories list their entries sorted by name, and clusters are handed
// out depth first in that order, each file contiguous. Names that are not upper-case 8.3 get VFAT
// long-name entries and a generated 8.3 alias ("LONGFI~1.TXT"); the tree and its names are built in
// format-tree.ts, and this module lays them out and writes the image.

import { writeU16le, writeU32le } from '../binary.js';
import { FatNoSpaceError } from '../errors.js';
import { FAT12_MAX_CLUSTERS, FAT16_MAX_CLUSTERS, type FatType } from './boot-sector.js';
import { ATTR_ARCHIVE, ATTR_DIRECTORY, ATTR_LONG_NAME, ATTR_VOLUME_ID, DIR_ENTRY_SIZE, shortNameChecksum } from './directory.js';
import { buildTree, type DirNode, entriesOf, FatSpecError, lfnEntryCount, type Node, type Placed, pad11, shortNameFor } from './format-tree.js';

export { FatSpecError } from './format-tree.js';

export interface FatFormatSpec {
  /** Volume label (up to 11 characters, upper-cased). */
  readonly label?: string;
  /** Image size; default: enough for the files with some room to spare. */
  readonly sizeBytes?: number;
  readonly files: readonly { readonly path: string; readonly data: Uint8Array }[];
  /** Default: FAT12 up to 16 MiB, FAT16 up to 512 MiB, else FAT32. */
  readonly type?: FatType;
  /** Default 0x49534F50 ("ISOP"): fixed so that the same spec gives the same bytes. */
  readonly volumeId?: number;
}

const BYTES_PER_SECTOR = 512;
const FAT_COUNT = 2;
const MEDIA = 0xf8;
/** 2000-01-01 00:00:00 in DOS date/time format (fatgen103 section 6.2). */
const FIXED_DATE = ((2000 - 1980) << 9) | (1 << 5) | 1;
const FIXED_TIME = 0;
const MAX_IMAGE_BYTES = 2 ** 32 - 512;

interface Layout {
  readonly type: FatType;
  readonly totalSectors: number;
  readonly sectorsPerCluster: number;
  readonly reservedSectors: number;
  readonly rootEntryCount: number;
  readonly fatSizeSectors: number;
  readonly clusterCount: number;
  readonly dataSector: number;
}

function layoutFor(type: FatType, totalSectors: number, sectorsPerCluster: number, rootEntryCount: number): Layout | undefined {
  const reservedSectors = type === 32 ? 32 : 1;
  const rootSectors = type === 32 ? 0 : Math.ceil((rootEntryCount * 32) / BYTES_PER_SECTOR);
  let fatSizeSectors = 1;
  let clusterCount = 0;
  for (let i = 0; i < 64; i++) {
    const dataSectors = totalSectors - reservedSectors - FAT_COUNT * fatSizeSectors - rootSectors;
    if (dataSectors < sectorsPerCluster) return undefined;
    clusterCount = Math.floor(dataSectors / sectorsPerCluster);
    const need = Math.ceil(((clusterCount + 2) * type) / 8 / BYTES_PER_SECTOR);
    if (need <= fatSizeSectors) break;
    fatSizeSectors = need;
  }
  const inRange =
    type === 12
      ? clusterCount <= FAT12_MAX_CLUSTERS
      : type === 16
        ? clusterCount > FAT12_MAX_CLUSTERS && clusterCount <= FAT16_MAX_CLUSTERS
        : clusterCount > FAT16_MAX_CLUSTERS;
  if (!inRange) return undefined;
  return {
    type,
    totalSectors,
    sectorsPerCluster,
    reservedSectors,
    rootEntryCount,
    fatSizeSectors,
    clusterCount,
    dataSector: reservedSectors + FAT_COUNT * fatSizeSectors + rootSectors,
  };
}

/** Clusters the tree needs with clusters of `cs` bytes (the FAT32 root included). */
function clustersNeeded(root: DirNode, type: FatType, cs: number, withLabel: boolean, placed: Map<Node, Placed>): number {
  let n = 0;
  const walk = (d: DirNode, isRoot: boolean): void => {
    if (!isRoot || type === 32) n += Math.max(1, Math.ceil((entriesOf(d, isRoot, withLabel, placed) * DIR_ENTRY_SIZE) / cs));
    for (const c of d.children) {
      if (c.kind === 'dir') walk(c, false);
      else n += Math.ceil(c.data.length / cs);
    }
  };
  walk(root, true);
  return n;
}

function payloadBytes(root: DirNode): number {
  let n = 0;
  const walk = (d: DirNode): void => {
    n += 4096;
    for (const c of d.children) {
      if (c.kind === 'dir') walk(c);
      else n += c.data.length + 4096;
    }
  };
  walk(root);
  return n;
}

/** Builds a FAT image holding `spec.files`. Throws FatSpecError or FatNoSpaceError. */
export function formatFat(spec: FatFormatSpec): Uint8Array {
  const root = buildTree(spec.files);
  const label = spec.label === undefined ? undefined : spec.label.toUpperCase();
  if (label !== undefined && (label.length === 0 || label.length > 11 || !/^[A-Z0-9 $%'`\-_@~!(){}^#&]+$/.test(label)))
    throw new FatSpecError(`invalid volume label ${JSON.stringify(spec.label)}`);

  // 8.3 names per directory, in the sorted order (so aliases are deterministic).
  const placed = new Map<Node, Placed>();
  const name83 = (d: DirNode): void => {
    const taken = new Set<string>();
    for (const c of d.children) {
      const { short11, needsLfn } = shortNameFor(c.name, taken);
      placed.set(c, { node: c, short11, needsLfn, firstCluster: 0, clusters: 0 });
      if (c.kind === 'dir') name83(c);
    }
  };
  name83(root);
  const rootEntries = entriesOf(root, true, label !== undefined, placed);

  const chooseLayout = (type: FatType, sizeBytes: number): Layout | undefined => {
    const totalSectors = Math.floor(sizeBytes / BYTES_PER_SECTOR);
    const rootEntryCount = Math.max(512, Math.ceil(rootEntries / 16) * 16);
    if (type !== 32 && rootEntryCount > 0xffff - 15) return undefined;
    for (let spc = 1; spc <= 128; spc *= 2) {
      const l = layoutFor(type, totalSectors, spc, rootEntryCount);
      if (l) return l;
    }
    return undefined;
  };
  const typeFor = (size: number): FatType => spec.type ?? (size <= 16 * 2 ** 20 ? 12 : size <= 512 * 2 ** 20 ? 16 : 32);

  let layout: Layout | undefined;
  if (spec.sizeBytes !== undefined) {
    if (!Number.isSafeInteger(spec.sizeBytes) || spec.sizeBytes < 64 * 1024 || spec.sizeBytes > MAX_IMAGE_BYTES)
      throw new FatSpecError(`image size ${spec.sizeBytes} is not in 64 KiB..4 GiB`);
    const type = typeFor(spec.sizeBytes);
    layout = chooseLayout(type, spec.sizeBytes);
    if (!layout) throw new FatSpecError(`no FAT${type} layout fits ${spec.sizeBytes} bytes`);
  } else {
    // Grow from an estimate until the files fit (bounded: the size at least doubles every 4 tries).
    const minimum = spec.type === 32 ? 34 * 2 ** 20 : spec.type === 16 ? 4 * 2 ** 20 : 1 * 2 ** 20;
    let size = Math.max(minimum, Math.ceil((payloadBytes(root) * 1.25 + 256 * 1024) / 65536) * 65536);
    for (let i = 0; i < 40 && !layout; i++) {
      const l = chooseLayout(typeFor(size), size);
      const cs = l ? l.sectorsPerCluster * BYTES_PER_SECTOR : 0;
      if (l && clustersNeeded(root, l.type, cs, label !== undefined, placed) <= l.clusterCount) layout = l;
      else size = Math.ceil((size * 1.25) / 65536) * 65536;
      if (size > MAX_IMAGE_BYTES) break;
    }
    if (!layout) throw new FatSpecError('the files do not fit any FAT image up to 4 GiB');
  }
  return writeImage(root, layout, label, spec.volumeId ?? 0x49534f50, placed);
}

function writeImage(root: DirNode, l: Layout, label: string | undefined, volumeId: number, placed: Map<Node, Placed>): Uint8Array {
  const cs = l.sectorsPerCluster * BYTES_PER_SECTOR;
  const image = new Uint8Array(l.totalSectors * BYTES_PER_SECTOR);
  const fatOffset = l.reservedSectors * BYTES_PER_SECTOR;
  const fatBytes = l.fatSizeSectors * BYTES_PER_SECTOR;
  const dataOffset = l.dataSector * BYTES_PER_SECTOR;
  const rootDirOffset = fatOffset + FAT_COUNT * fatBytes;
  const withLabel = label !== undefined;

  const eoc = l.type === 12 ? 0xfff : l.type === 16 ? 0xffff : 0x0fffffff;
  const setFat = (cluster: number, value: number): void => {
    for (let copy = 0; copy < FAT_COUNT; copy++) {
      const base = fatOffset + copy * fatBytes;
      if (l.type === 12) {
        const at = base + cluster + (cluster >>> 1);
        const pair = image[at]! | (image[at + 1]! << 8);
        writeU16le(image, at, cluster & 1 ? (pair & 0x000f) | (value << 4) : (pair & 0xf000) | value);
      } else if (l.type === 16) writeU16le(image, base + cluster * 2, value);
      else writeU32le(image, base + cluster * 4, value);
    }
  };

  // Clusters, depth first in sorted order: a directory's own clusters, then its children.
  let next = 2;
  const take = (count: number, owner: string): number => {
    if (count === 0) return 0;
    if (next + count - 1 > l.clusterCount + 1) {
      throw new FatNoSpaceError(owner, count * cs, Math.max(0, l.clusterCount + 2 - next) * cs);
    }
    const first = next;
    for (let c = first; c < first + count; c++) setFat(c, c === first + count - 1 ? eoc : c + 1);
    next += count;
    return first;
  };
  const dirClusters = new Map<DirNode, number>();
  const assign = (d: DirNode, isRoot: boolean, path: string): void => {
    if (!isRoot || l.type === 32) {
      const n = Math.max(1, Math.ceil((entriesOf(d, isRoot, withLabel, placed) * DIR_ENTRY_SIZE) / cs));
      dirClusters.set(d, take(n, path || '/'));
    }
    for (const c of d.children) {
      const p = placed.get(c)!;
      if (c.kind === 'dir') {
        assign(c, false, `${path}/${c.name}`);
        p.firstCluster = dirClusters.get(c)!;
      } else {
        p.clusters = Math.ceil(c.data.length / cs);
        p.firstCluster = take(p.clusters, `${path}/${c.name}`);
        if (p.firstCluster) image.set(c.data, dataOffset + (p.firstCluster - 2) * cs);
      }
    }
  };
  // Reserved FAT entries 0 and 1: the media byte in the low bits, then end-of-chain.
  setFat(0, (eoc & ~0xff) | MEDIA);
  setFat(1, eoc);
  assign(root, true, '');

  const entry = (at: number, short11: Uint8Array, attr: number, cluster: number, size: number): void => {
    image.set(short11, at);
    image[at + 11] = attr;
    writeU16le(image, at + 14, FIXED_TIME); // creation time
    writeU16le(image, at + 16, FIXED_DATE); // creation date
    writeU16le(image, at + 18, FIXED_DATE); // last access date
    writeU16le(image, at + 20, l.type === 32 ? cluster >>> 16 : 0);
    writeU16le(image, at + 22, FIXED_TIME); // write time
    writeU16le(image, at + 24, FIXED_DATE); // write date
    writeU16le(image, at + 26, cluster & 0xffff);
    writeU32le(image, at + 28, size);
  };
  const lfnEntries = (at: number, name: string, checksum: number): number => {
    const count = lfnEntryCount(name);
    const units: number[] = [];
    for (let i = 0; i < count * 13; i++) units.push(i < name.length ? name.charCodeAt(i) : i === name.length ? 0 : 0xffff);
    // On disk the last piece comes first, flagged 0x40 (fatgen103 7.1).
    for (let seq = count; seq >= 1; seq--) {
      image[at] = seq | (seq === count ? 0x40 : 0);
      image[at + 11] = ATTR_LONG_NAME;
      image[at + 13] = checksum;
      const piece = units.slice((seq - 1) * 13, seq * 13);
      [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30].forEach((o, k) => {
        writeU16le(image, at + o, piece[k]!);
      });
      at += DIR_ENTRY_SIZE;
    }
    return at;
  };
  const writeDir = (d: DirNode, isRoot: boolean, parentCluster: number): void => {
    const own = dirClusters.get(d) ?? 0;
    let at = isRoot && l.type !== 32 ? rootDirOffset : dataOffset + (own - 2) * cs;
    if (isRoot && withLabel) {
      entry(at, new TextEncoder().encode(label!.padEnd(11)), ATTR_VOLUME_ID, 0, 0);
      at += DIR_ENTRY_SIZE;
    }
    if (!isRoot) {
      entry(at, pad11('.', ''), ATTR_DIRECTORY, own, 0);
      // ".." of a first-level directory is 0, even on FAT32 (fatgen103 6.5).
      entry(at + DIR_ENTRY_SIZE, pad11('..', ''), ATTR_DIRECTORY, parentCluster, 0);
      at += 2 * DIR_ENTRY_SIZE;
    }
    for (const c of d.children) {
      const p = placed.get(c)!;
      if (p.needsLfn) at = lfnEntries(at, c.name, shortNameChecksum(p.short11));
      entry(at, p.short11, c.kind === 'dir' ? ATTR_DIRECTORY : ATTR_ARCHIVE, p.firstCluster, c.kind === 'dir' ? 0 : c.data.length);
      at += DIR_ENTRY_SIZE;
    }
    for (const c of d.children) if (c.kind === 'dir') writeDir(c, false, isRoot ? 0 : own);
  };
  writeDir(root, true, 0);

  writeBootSector(image, l, label, volumeId);
  if (l.type === 32) {
    const free = l.clusterCount + 2 - next;
    const fsInfo = BYTES_PER_SECTOR;
    writeU32le(image, fsInfo, 0x41615252);
    writeU32le(image, fsInfo + 484, 0x61417272);
    writeU32le(image, fsInfo + 488, free);
    writeU32le(image, fsInfo + 492, free > 0 ? next : 0xffffffff);
    writeU32le(image, fsInfo + 508, 0xaa550000);
    // Backup boot sector and FSInfo at sectors 6 and 7 (BPB_BkBootSec).
    image.copyWithin(6 * BYTES_PER_SECTOR, 0, 2 * BYTES_PER_SECTOR);
  }
  return image;
}

function writeBootSector(image: Uint8Array, l: Layout, label: string | undefined, volumeId: number): void {
  const fat32 = l.type === 32;
  // Jump over the BPB to a "hlt; jmp $-1" loop: the image is not meant to boot from BIOS.
  image.set([0xeb, fat32 ? 0x58 : 0x3c, 0x90], 0);
  image.set(new TextEncoder().encode('MSWIN4.1'), 3);
  writeU16le(image, 11, BYTES_PER_SECTOR);
  image[13] = l.sectorsPerCluster;
  writeU16le(image, 14, l.reservedSectors);
  image[16] = FAT_COUNT;
  writeU16le(image, 17, fat32 ? 0 : l.rootEntryCount);
  writeU16le(image, 19, !fat32 && l.totalSectors < 0x10000 ? l.totalSectors : 0);
  image[21] = MEDIA;
  writeU16le(image, 22, fat32 ? 0 : l.fatSizeSectors);
  writeU16le(image, 24, 32); // sectors per track (geometry for BIOS INT 13h only)
  writeU16le(image, 26, 64); // heads
  writeU32le(image, 28, 0); // hidden sectors
  writeU32le(image, 32, !fat32 && l.totalSectors < 0x10000 ? 0 : l.totalSectors);
  let ext = 36;
  if (fat32) {
    writeU32le(image, 36, l.fatSizeSectors);
    writeU16le(image, 40, 0); // ext flags: FATs mirrored
    writeU16le(image, 42, 0); // version 0.0
    writeU32le(image, 44, 2); // root cluster
    writeU16le(image, 48, 1); // FSInfo sector
    writeU16le(image, 50, 6); // backup boot sector
    ext = 64;
  }
  image[ext] = 0x80; // drive number
  image[ext + 2] = 0x29; // extended boot signature: the next three fields are present
  writeU32le(image, ext + 3, volumeId >>> 0);
  image.set(new TextEncoder().encode((label ?? 'NO NAME').padEnd(11)), ext + 7);
  image.set(new TextEncoder().encode(`FAT${l.type}   `), ext + 18);
  image.set([0xf4, 0xeb, 0xfd], ext + 26);
  image[510] = 0x55;
  image[511] = 0xaa;
}
