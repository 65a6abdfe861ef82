// What the remaster engine needs to know about a base image, gathered once per base version:
// the boot-config candidates of the ISO tree with their bytes and every directory record that
// describes them, the checksum files, the El Torito / ESP FAT images with their configs, the
// volume descriptors whose sizes grow when a tail is appended, where that tail starts, and the
// initrds the kernel lines load (where a node's files are appended; see initrd.ts).
//
// prepareBase() reads through a ByteSource (async, main thread); the result is plain data whose
// byte arrays share one SharedArrayBuffer, so sending it to a piscina worker copies no payload.

import type { ByteSource } from '../byte-source.js';
import { findInitrdReferences, initrdResolver, isBootConfigCandidate, type InitrdReference } from '../bootconfig/index.js';
import { readFileBytes } from '../iso9660/index.js';
import { SECTOR_SIZE, type DirectoryRecordRef, type Extent, type IndexedFile, type IsoIndex } from '../iso9660/types.js';
import { latin1 } from '../binary.js';
import { asciiLowered, listedPaths } from './checksums.js';
import {
  checkTotal,
  MAX_CANDIDATES,
  MAX_CHECKSUM_BYTES,
  MAX_CHECKSUM_TOTAL_BYTES,
  MAX_CONFIG_BYTES,
  MAX_CONFIG_TOTAL_BYTES,
} from './context-limits.js';
import { findFatImages } from './fat-images.js';
import { extentKey } from './hard-links.js';

export {
  MAX_CANDIDATES,
  MAX_CHECKSUM_BYTES,
  MAX_CHECKSUM_TOTAL_BYTES,
  MAX_CONFIG_BYTES,
  MAX_CONFIG_TOTAL_BYTES,
  MAX_FAT_BYTES,
} from './context-limits.js';

/** Root-level checksum files (Debian/Ubuntu style), by lower-case name, with their algorithm. */
export const CHECKSUM_FILES: Readonly<Record<string, ChecksumAlgorithm>> = {
  'md5sum.txt': 'md5',
  'sha1sum.txt': 'sha1',
  'sha256sum.txt': 'sha256',
  'sha512sum.txt': 'sha512',
  md5sums: 'md5',
  sha256sums: 'sha256',
};

export type ChecksumAlgorithm = 'md5' | 'sha1' | 'sha256' | 'sha512';

export interface ContextFile {
  /** Best path (Rock Ridge, else Joliet, else ISO 9660). */
  readonly path: string;
  readonly size: number;
  readonly extents: readonly Extent[];
  readonly records: readonly DirectoryRecordRef[];
  readonly bytes: Uint8Array;
}

export interface ContextChecksumFile extends ContextFile {
  readonly algorithm: ChecksumAlgorithm;
  /** The bytes with A-Z lowered when all are ASCII: each node searches its changed names here (checksums.ts). */
  readonly lowered?: Uint8Array;
}

export interface ContextFatConfig {
  readonly path: string;
  readonly bytes: Uint8Array;
}

export interface ContextFat {
  /** Human name: the ISO path holding it, or where El Torito / a partition table found it. */
  readonly label: string;
  /** Byte offset of the FAT image in the base. */
  readonly offset: number;
  readonly image: Uint8Array;
  /** Candidate boot configs inside the FAT image. */
  readonly configs: readonly ContextFatConfig[];
  /** The ISO-tree file whose extent is exactly this image (e.g. /boot/grub/efi.img), if any. */
  readonly isoPath?: string;
  /** Paths of every file in the image (to tell an initrd that lives only here). */
  readonly files: readonly string[];
}

/** An initrd of the ISO tree that some kernel line loads. */
export interface ContextInitrd {
  readonly path: string;
  readonly size: number;
  readonly extents: readonly Extent[];
  readonly records: readonly DirectoryRecordRef[];
  /** Who loads it: `<where>:<config> line <n>`, sorted. */
  readonly loadedBy: readonly string[];
  /** Checksum files (in checksumFiles order) that list it: their digest of it goes stale when it grows. */
  readonly listedIn: readonly string[];
}

/** An initrd reference that does not resolve to a file of the ISO tree. */
export interface ContextInitrdProblem {
  /** 'iso' or the FAT image's label: where the config naming it lives. */
  readonly where: string;
  readonly ref: InitrdReference;
  /** 'in-fat': the file exists only inside that FAT image; 'not-found': nowhere. */
  readonly problem: 'in-fat' | 'not-found';
  readonly fatLabel?: string;
}

export interface BaseContext {
  /** Size of the base as served (appended partitions included). */
  readonly imageSize: number;
  /** First byte of the appended tail: 2048-aligned, after the volume space, every partition and the image's end. */
  readonly tailStart: number;
  /** Byte offsets of the primary, supplementary and enhanced descriptors (volume space size at +80). */
  readonly volumeDescriptorOffsets: readonly number[];
  readonly configs: readonly ContextFile[];
  readonly checksumFiles: readonly ContextChecksumFile[];
  readonly fats: readonly ContextFat[];
  /** Initrds of the ISO tree loaded by some kernel line, by path. */
  readonly initrds: readonly ContextInitrd[];
  readonly initrdProblems: readonly ContextInitrdProblem[];
  /** The primary descriptor's application-use field when it holds an implantisomd5 checksum. */
  readonly implantedMd5?: { readonly offset: number; readonly length: number };
  readonly warnings: readonly string[];
}

/** ECMA-119 8.4.32: application use, 512 bytes at offset 883 of the primary descriptor. */
const APPLICATION_USE_OFFSET = 883;
const APPLICATION_USE_LENGTH = 512;

export async function prepareBase(index: IsoIndex, source: ByteSource): Promise<BaseContext> {
  const warnings: string[] = [];
  const candidates = index.files.filter((f) => !f.hidden && f.size > 0 && isBootConfigCandidate(f.path));
  if (candidates.length > MAX_CANDIDATES)
    warnings.push(`${candidates.length} boot-config candidates; only the first ${MAX_CANDIDATES} are considered`);
  const read = extentReader(source);
  const configFiles = candidates.slice(0, MAX_CANDIDATES).filter((f) => {
    if (f.size <= MAX_CONFIG_BYTES) return true;
    warnings.push(`${f.path}: ${f.size} bytes is too large for a boot config; left alone`);
    return false;
  });
  checkTotal(configFiles, MAX_CONFIG_TOTAL_BYTES, 'boot-config bytes of the ISO tree');
  const configs: ContextFile[] = [];
  for (const f of configFiles) configs.push(await contextFile(read, f));

  const checksumFiles: ContextChecksumFile[] = [];
  const checksumAlgorithms = new Map<IndexedFile, ChecksumAlgorithm>();
  for (const f of index.files) {
    const name = f.path.slice(1).toLowerCase();
    const algorithm = f.path.lastIndexOf('/') === 0 ? CHECKSUM_FILES[name] : undefined;
    if (!algorithm || f.size === 0) continue;
    if (f.size > MAX_CHECKSUM_BYTES) {
      warnings.push(`${f.path}: checksum file of ${f.size} bytes is too large; left alone`);
      continue;
    }
    checksumAlgorithms.set(f, algorithm);
  }
  checkTotal([...checksumAlgorithms.keys()], MAX_CHECKSUM_TOTAL_BYTES, 'checksum-file bytes');
  for (const [f, algorithm] of checksumAlgorithms) {
    const file = await contextFile(read, f);
    const lowered = asciiLowered(file.bytes);
    checksumFiles.push(lowered ? { ...file, algorithm, lowered } : { ...file, algorithm });
  }

  const fats = await findFatImages(index, source, warnings);
  const found = findInitrds(index, configs, fats);
  const initrds = withChecksumListings(found.initrds, checksumFiles);
  const { initrdProblems } = found;

  const volumeDescriptorOffsets = index.descriptors
    .filter((d) => d.kind === 'primary' || d.kind === 'supplementary' || d.kind === 'enhanced')
    .map((d) => d.offset);

  let implantedMd5: BaseContext['implantedMd5'];
  const primary = index.descriptors.find((d) => d.kind === 'primary');
  if (primary) {
    const offset = primary.offset + APPLICATION_USE_OFFSET;
    const field = await source.read(offset, APPLICATION_USE_LENGTH);
    if (latin1(field).includes('ISO MD5SUM = ')) implantedMd5 = { offset, length: APPLICATION_USE_LENGTH };
  }

  let end = Math.max(index.imageSize, index.volumeSpaceSize * SECTOR_SIZE);
  for (const p of index.partitions) end = Math.max(end, p.startByte + p.sizeBytes);
  const tailStart = Math.ceil(end / SECTOR_SIZE) * SECTOR_SIZE;

  return shareBytes({
    imageSize: index.imageSize,
    tailStart,
    volumeDescriptorOffsets,
    configs,
    checksumFiles,
    fats,
    initrds,
    initrdProblems,
    ...(implantedMd5 ? { implantedMd5 } : {}),
    warnings: [...index.warnings, ...warnings],
  });
}

/**
 * Reads files by their extents, each distinct run of extents once: the names of a hard-linked
 * file share its bytes (and, through shareBytes, its place in the shared buffer).
 */
function extentReader(source: ByteSource): (f: IndexedFile) => Promise<Uint8Array> {
  const read = new Map<string, Promise<Uint8Array>>();
  return (f) => {
    const key = extentKey(f);
    let bytes = read.get(key);
    if (!bytes) {
      bytes = readFileBytes(source, f, MAX_CHECKSUM_BYTES);
      read.set(key, bytes);
    }
    return bytes;
  };
}

async function contextFile(read: (f: IndexedFile) => Promise<Uint8Array>, f: IndexedFile): Promise<ContextFile> {
  return { path: f.path, size: f.size, extents: f.extents, records: f.records, bytes: await read(f) };
}

/**
 * The initrds the kernel lines of every boot config load (configs of the tree and of each FAT
 * image), resolved in the ISO tree: a grub.cfg inside an EFI image names files of the ISO after
 * `search` set its root. One that is not in the tree but is in a FAT image (systemd-boot entries
 * on an ESP, say) or nowhere is a problem, reported when a node has files to add.
 */
function findInitrds(
  index: IsoIndex,
  configs: readonly ContextFile[],
  fats: readonly ContextFat[],
): { initrds: Omit<ContextInitrd, 'listedIn'>[]; initrdProblems: ContextInitrdProblem[] } {
  const visible = index.files.filter((f) => !f.hidden);
  const byPath = new Map(visible.map((f) => [f.path, f]));
  const inIso = initrdResolver(visible.map((f) => f.path));
  const loaders = new Map<string, Set<string>>();
  const initrdProblems: ContextInitrdProblem[] = [];
  const sources: { where: string; files: Map<string, string>; own?: ContextFat }[] = [
    { where: 'iso', files: new Map(configs.map((c) => [c.path, latin1(c.bytes)])) },
    ...fats.map((fat) => ({ where: fat.label, files: new Map(fat.configs.map((c) => [c.path, latin1(c.bytes)])), own: fat })),
  ];
  // One path lookup per FAT image, made at its first use: a config may name many initrds.
  const fatResolvers = new Map<ContextFat, (ref: InitrdReference) => string | undefined>();
  const inFat = (fat: ContextFat, ref: InitrdReference): boolean => {
    let resolve = fatResolvers.get(fat);
    if (!resolve) {
      resolve = initrdResolver(fat.files);
      fatResolvers.set(fat, resolve);
    }
    return resolve(ref) !== undefined;
  };
  for (const src of sources) {
    // Look in the FAT image the config is in first, then in the others.
    const candidates = src.own ? [src.own, ...fats.filter((f) => f !== src.own)] : fats;
    for (const ref of findInitrdReferences(src.files)) {
      const hit = inIso(ref);
      if (hit) {
        const set = loaders.get(hit) ?? new Set<string>();
        set.add(`${src.where}:${ref.config} line ${ref.line}`);
        loaders.set(hit, set);
        continue;
      }
      const fat = candidates.find((f) => inFat(f, ref));
      initrdProblems.push({ where: src.where, ref, problem: fat ? 'in-fat' : 'not-found', ...(fat ? { fatLabel: fat.label } : {}) });
    }
  }
  const initrds = [...loaders.keys()].sort().map((path) => {
    const f = byPath.get(path)!;
    return { path, size: f.size, extents: f.extents, records: f.records, loadedBy: [...loaders.get(path)!].sort() };
  });
  return { initrds, initrdProblems };
}

/**
 * Which checksum files list each initrd. It depends on the base only, so it is found here, once,
 * and not for every node (a checksum file may be 16 MiB, and an image may load many initrds).
 */
function withChecksumListings(initrds: readonly Omit<ContextInitrd, 'listedIn'>[], checksumFiles: readonly ContextChecksumFile[]): ContextInitrd[] {
  const listed = initrds.length === 0 ? [] : checksumFiles.map((cf) => ({ path: cf.path, paths: listedPaths(latin1(cf.bytes)) }));
  return initrds.map((initrd) => {
    const key = initrd.path.toLowerCase();
    return { ...initrd, listedIn: listed.filter((l) => l.paths.has(key)).map((l) => l.path) };
  });
}

/**
 * Copies every byte array of the context into one SharedArrayBuffer (zero-copy to workers); an
 * array that several files share (hard links) is copied once and stays shared.
 */
function shareBytes(ctx: BaseContext): BaseContext {
  const arrays: Uint8Array[] = [];
  for (const f of ctx.configs) arrays.push(f.bytes);
  for (const f of ctx.checksumFiles) arrays.push(f.bytes, ...(f.lowered ? [f.lowered] : []));
  for (const fat of ctx.fats) {
    arrays.push(fat.image);
    for (const c of fat.configs) arrays.push(c.bytes);
  }
  const distinct = [...new Set(arrays)];
  let total = 0;
  for (const a of distinct) total += a.length;
  const sab = new SharedArrayBuffer(total);
  let at = 0;
  const views = new Map<Uint8Array, Uint8Array>();
  for (const a of distinct) {
    const view = new Uint8Array(sab, at, a.length);
    view.set(a);
    at += a.length;
    views.set(a, view);
  }
  const share = (a: Uint8Array): Uint8Array => views.get(a)!;
  return {
    ...ctx,
    configs: ctx.configs.map((f) => ({ ...f, bytes: share(f.bytes) })),
    checksumFiles: ctx.checksumFiles.map((f) => ({ ...f, bytes: share(f.bytes), ...(f.lowered ? { lowered: share(f.lowered) } : {}) })),
    fats: ctx.fats.map((fat) => ({ ...fat, image: share(fat.image), configs: fat.configs.map((c) => ({ ...c, bytes: share(c.bytes) })) })),
  };
}
