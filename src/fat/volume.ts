// A FAT volume opened over the bytes of a whole FAT image (an El Torito EFI image): listing its
// tree with long and 8.3 paths, finding a file case-insensitively by either, reading a file.
// The image is only read, never copied: it may be a view into a SharedArrayBuffer.

import { BinaryView } from '../binary.js';
import { FatFormatError, LimitExceededError } from '../errors.js';
import { clusterOffset, parseBootSector, type FatGeometry } from './boot-sector.js';
import type { FatBytes } from './cow-image.js';
import { readDirectory, type DirectoryLocation, type EntryBudget } from './directory.js';
import { followChain } from './table.js';

/** Directory nesting deeper than this is refused (EFI images nest 2-4 levels). */
export const MAX_DEPTH = 32;
/** Directory slots read in one walk of the whole tree. */
export const MAX_TOTAL_ENTRIES = 262_144;
/**
 * Characters of all the paths listed (long and short), summed. Every path holds its directory's,
 * so a chain of directories with 255-character names above a quarter million short entries would
 * list gigabytes of paths from an image of a few megabytes.
 */
export const MAX_TOTAL_PATH_CHARS = 16 * 1024 * 1024;

export interface FatVolume {
  readonly image: Uint8Array;
  readonly bytes: FatBytes;
  readonly geometry: FatGeometry;
}

export interface FatFile {
  /** Absolute path with long names, e.g. '/EFI/BOOT/grub.cfg'. */
  readonly path: string;
  /** Absolute path with the stored 8.3 names, e.g. '/EFI/BOOT/GRUB.CFG'. */
  readonly shortPath: string;
  readonly size: number;
  /** 0 for an empty file. */
  readonly firstCluster: number;
  /** Byte offset of the file's 32-byte 8.3 directory entry in the image. */
  readonly dirEntryOffset: number;
}

export interface FatTreeEntry extends FatFile {
  readonly isDirectory: boolean;
}

export function openFat(image: Uint8Array): FatVolume {
  const geometry = parseBootSector(image);
  return { image, bytes: new BinaryView(image), geometry };
}

function rootLocation(geo: FatGeometry): DirectoryLocation {
  return geo.fatType === 32 ? { kind: 'chain', firstCluster: geo.rootCluster } : { kind: 'fixed-root' };
}

/**
 * Every file and directory, depth first in on-disk order (a directory's entries, each followed by
 * the contents of the subdirectory it names). `bytes` defaults to the volume's image.
 */
export function listFatTree(vol: FatVolume, bytes: FatBytes = vol.bytes): FatTreeEntry[] {
  const geo = vol.geometry;
  const out: FatTreeEntry[] = [];
  const budget: EntryBudget = { remaining: MAX_TOTAL_ENTRIES };
  // Directory clusters already entered: a subdirectory that points at an ancestor (or at any
  // directory already read) would make the walk loop or explode.
  const entered = new Set<number>();
  if (geo.fatType === 32) entered.add(geo.rootCluster);
  let pathChars = 0;
  const walk = (location: DirectoryLocation, path: string, shortPath: string, depth: number): void => {
    for (const e of readDirectory(bytes, geo, location, budget)) {
      const entry: FatTreeEntry = {
        path: `${path}/${e.name}`,
        shortPath: `${shortPath}/${e.shortName}`,
        size: e.isDirectory ? 0 : e.size,
        firstCluster: e.firstCluster,
        dirEntryOffset: e.entryOffset,
        isDirectory: e.isDirectory,
      };
      pathChars += entry.path.length + entry.shortPath.length;
      if (pathChars > MAX_TOTAL_PATH_CHARS) {
        throw new LimitExceededError('FAT path characters', e.entryOffset, `the paths listed pass ${MAX_TOTAL_PATH_CHARS} characters in all`);
      }
      out.push(entry);
      if (!e.isDirectory) continue;
      if (e.firstCluster < 2 || e.firstCluster > geo.clusterCount + 1) {
        throw new FatFormatError(
          'directory entry',
          e.entryOffset,
          `directory ${entry.path} starts at cluster ${e.firstCluster}, outside 2..${geo.clusterCount + 1}`,
        );
      }
      if (entered.has(e.firstCluster))
        throw new FatFormatError('directory entry', e.entryOffset, `directory ${entry.path} points back at cluster ${e.firstCluster}, already read`);
      entered.add(e.firstCluster);
      if (depth + 1 > MAX_DEPTH)
        throw new LimitExceededError('FAT directory depth', e.entryOffset, `${entry.path} is nested deeper than ${MAX_DEPTH}`);
      walk({ kind: 'chain', firstCluster: e.firstCluster }, entry.path, entry.shortPath, depth + 1);
    }
  };
  walk(rootLocation(geo), '', '', 0);
  return out;
}

/** Every regular file (directories are walked, not listed). */
export function listFatFiles(vol: FatVolume): FatFile[] {
  return listFatTree(vol)
    .filter((e) => !e.isDirectory)
    .map(({ path, shortPath, size, firstCluster, dirEntryOffset }) => ({ path, shortPath, size, firstCluster, dirEntryOffset }));
}

function normalize(path: string): string {
  // Both separators are seen in boot configs; FAT names compare case-insensitively.
  return `/${path
    .replace(/\\/g, '/')
    .split('/')
    .filter((p) => p.length > 0)
    .join('/')}`.toUpperCase();
}

/**
 * The regular file at `path` (case-insensitive; each component may be the long or the 8.3
 * name), or undefined.
 */
export function findFatFile(vol: FatVolume, path: string): FatFile | undefined {
  return new FatTreeLookup(listFatTree(vol)).find(path);
}

/**
 * Look-ups by path in one listing, indexed once: per directory, its entries by upper-case long
 * and short name. Several writes to one image look up their files here; indexing the listing
 * for each of them cost writes x entries (seconds for 1,000 writes to an image of 64k entries).
 */
export class FatTreeLookup {
  /** Parent path, NUL, upper-case name -> the entries answering to it, in listing order. */
  private readonly byName = new Map<string, FatTreeEntry[]>();

  constructor(tree: readonly FatTreeEntry[]) {
    for (const e of tree) {
      const parent = e.path.slice(0, e.path.lastIndexOf('/'));
      const long = leaf(e.path).toUpperCase();
      const short = leaf(e.shortPath).toUpperCase();
      this.add(`${parent}\0${long}`, e);
      if (short !== long) this.add(`${parent}\0${short}`, e);
    }
  }

  private add(key: string, e: FatTreeEntry): void {
    const list = this.byName.get(key);
    if (list) list.push(e);
    else this.byName.set(key, [e]);
  }

  /**
   * The regular file at `path`, matched component by component so mixed long/short paths
   * ('/EFI/BOOT/GRUB.CFG' or '/efi/boot/grub.cfg') both work.
   */
  find(path: string): FatFile | undefined {
    const want = normalize(path).split('/').slice(1);
    if (want.length === 0) return undefined;
    let parent = '';
    let found: FatTreeEntry | undefined;
    for (let i = 0; i < want.length; i++) {
      const last = i === want.length - 1;
      found = this.byName.get(`${parent}\0${want[i]!}`)?.find((e) => e.isDirectory !== last);
      if (!found) return undefined;
      parent = found.path;
    }
    if (!found) return undefined;
    const { path: p, shortPath, size, firstCluster, dirEntryOffset } = found;
    return { path: p, shortPath, size, firstCluster, dirEntryOffset };
  }
}

function leaf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** The clusters holding a file of `size` bytes from `firstCluster`, checked to be enough. */
export function fileClusters(vol: FatVolume, bytes: FatBytes, file: Pick<FatFile, 'path' | 'size' | 'firstCluster' | 'dirEntryOffset'>): number[] {
  const geo = vol.geometry;
  if (file.size === 0) return [];
  const needed = Math.ceil(file.size / geo.clusterSizeBytes);
  if (needed > geo.clusterCount)
    throw new FatFormatError('directory entry', file.dirEntryOffset, `${file.path} claims ${file.size} bytes, more than the volume holds`);
  if (file.firstCluster === 0)
    throw new FatFormatError('directory entry', file.dirEntryOffset, `${file.path} has ${file.size} bytes but no first cluster`);
  const chain = followChain(bytes, geo, file.firstCluster, needed);
  if (chain.length < needed)
    throw new FatFormatError('cluster chain', file.dirEntryOffset, `${file.path} needs ${needed} clusters, its chain has ${chain.length}`);
  return chain;
}

/** The contents of `file`. */
export function readFatFile(vol: FatVolume, file: FatFile): Uint8Array {
  const geo = vol.geometry;
  const clusters = fileClusters(vol, vol.bytes, file);
  const out = new Uint8Array(file.size);
  let done = 0;
  for (const c of clusters) {
    const n = Math.min(geo.clusterSizeBytes, file.size - done);
    out.set(vol.bytes.slice(clusterOffset(geo, c), n), done);
    done += n;
  }
  return out;
}
