// buildIndex: reads an ISO image's metadata (volume descriptors, every directory tree with its
// SUSP/Rock Ridge data, the El Torito catalog with the first 512 bytes of each boot image, the
// MBR/GPT) through a byte source and returns the IsoIndex of ./types.ts. File data is never read.
// Files are merged across trees (merge-trees.ts): one IndexedFile carries the directory records
// of every tree that describes it, which is what the remaster step patches.
// Also: readFileBytes (a file's data, capped) and findFile (lookup by any tree's path).

import type { ByteSource } from '../byte-source.js';
import { BinaryView } from '../binary.js';
import { FatFormatError, IsoFormatError, LimitExceededError } from '../errors.js';
import { bootSectorVolumeBytes } from '../fat/boot-sector.js';
import { walkTree, stripIsoName, type WalkBudget, type WalkedTree } from './directory-tree.js';
import { readBootCatalog, type RawBootEntry } from './el-torito.js';
import { DirectoryPrefetch } from './directory-prefetch.js';
import { MetadataReader, resolveLimits, type IndexOptions } from './limits.js';
import { cmp, mergeDirectories, mergeFiles, treeDisagreements, type MutableFile } from './merge-trees.js';
import { readPartitionTables } from './partition-table.js';
import {
  SECTOR_SIZE,
  type BootEntry,
  type ElToritoCatalog,
  type Extent,
  type IndexedFile,
  type IsoIndex,
  type TreeInfo,
  type TreeKind,
} from './types.js';
import { FIRST_DESCRIPTOR_LBA, readDescriptorSet } from './volume-descriptor.js';

export type { IndexOptions } from './limits.js';
export { DEFAULT_LIMITS } from './limits.js';

/** The FAT volume size an EFI boot image's first sector declares, or undefined when it is not FAT. */
function fatImageBytes(head: Uint8Array): number | undefined {
  try {
    return bootSectorVolumeBytes(head);
  } catch (err) {
    if (err instanceof FatFormatError) return undefined;
    throw err;
  }
}

/** The largest file starting at each LBA (the first listed among equals). */
function largestAt(files: readonly MutableFile[]): Map<number, MutableFile> {
  const out = new Map<number, MutableFile>();
  for (const f of files) {
    const lba = f.extents[0]?.lba;
    if (lba === undefined) continue;
    const seen = out.get(lba);
    if (!seen || f.size > seen.size) out.set(lba, f);
  }
  return out;
}

async function bootEntries(reader: MetadataReader, raw: RawBootEntry[], files: readonly MutableFile[], imageSize: number): Promise<BootEntry[]> {
  const out: BootEntry[] = [];
  const atLba = raw.length > 0 ? largestAt(files) : new Map<number, MutableFile>();
  for (const e of raw) {
    const start = e.loadRba * SECTOR_SIZE;
    let head: Uint8Array | undefined;
    if (start + 512 <= imageSize) head = await reader.read(start, 512);
    const bootInfoTable =
      head !== undefined &&
      head.length >= 16 &&
      new BinaryView(head).u32le(8) === FIRST_DESCRIPTOR_LBA &&
      new BinaryView(head).u32le(12) === e.loadRba;
    // Empty files may share an LBA with a boot image; prefer the one with data.
    const atRba = atLba.get(e.loadRba);
    const fat = head ? fatImageBytes(head) : undefined;
    let sizeBytes: number;
    let sizeFrom: BootEntry['sizeFrom'];
    if (atRba && atRba.size > 0) {
      sizeBytes = atRba.size;
      sizeFrom = 'directory-record';
    } else if (fat !== undefined) {
      sizeBytes = fat;
      sizeFrom = 'fat-boot-sector';
    } else {
      sizeBytes = e.sectorCount * 512;
      sizeFrom = 'catalog';
    }
    out.push({
      platform: e.platform,
      platformId: e.platformId,
      bootable: e.bootable,
      mediaType: e.mediaType,
      loadRba: e.loadRba,
      sectorCount: e.sectorCount,
      sizeBytes,
      sizeFrom,
      ...(atRba && atRba.size > 0 ? { path: atRba.path } : {}),
      entryOffset: e.entryOffset,
      bootInfoTable,
    });
  }
  return out;
}

/**
 * Walks every tree the descriptors name, once per root, in descriptor order. Directory extents of
 * all trees are read ahead meanwhile (directory-prefetch.ts) unless `prefetch` is false.
 */
async function walkTrees(
  reader: MetadataReader,
  parsed: Awaited<ReturnType<typeof readDescriptorSet>>,
  warnings: string[],
  prefetch: boolean,
): Promise<{ walked: WalkedTree[]; trees: TreeInfo[] }> {
  const budget: WalkBudget = { entries: 0, pathChars: 0 };
  const walked: WalkedTree[] = [];
  const trees: TreeInfo[] = [];
  // The first tree of each kind is walked (and its root read ahead); a second one is ignored.
  const firstOfKind = new Map<TreeKind, number>();
  parsed.forEach((d, i) => {
    if (d.root && d.info.tree && !firstOfKind.has(d.info.tree)) firstOfKind.set(d.info.tree, i);
  });
  reader.prefetch = prefetch ? new DirectoryPrefetch(reader.source, reader.signal) : undefined;
  for (const i of firstOfKind.values()) reader.prefetch?.root(parsed[i]!.root!.lba * SECTOR_SIZE, parsed[i]!.root!.dataLength);
  try {
    for (let i = 0; i < parsed.length; i++) {
      const d = parsed[i]!;
      if (!d.root || !d.info.tree) continue;
      if (firstOfKind.get(d.info.tree) !== i) {
        warnings.push(`volume descriptor at byte ${d.info.offset}: a second ${d.info.tree} tree is ignored`);
        continue;
      }
      // genisoimage -iso-level 4 points the primary and the enhanced descriptor at one root:
      // walk it once, so each record is listed once.
      const shared = trees.find((t) => t.rootLba === d.root!.lba);
      if (shared) {
        trees.push({ ...shared, kind: d.info.tree, descriptorIndex: i });
        warnings.push(
          `${d.info.tree} tree shares its root (LBA ${d.root.lba}) with the ${shared.kind} tree; its records are listed under ${shared.kind}`,
        );
        continue;
      }
      const t = await walkTree(reader, d.info.tree, d.root, budget);
      walked.push(t);
      warnings.push(...t.warnings);
      trees.push({
        kind: t.kind,
        descriptorIndex: i,
        rootLba: d.root.lba,
        rootLengthBytes: d.root.dataLength,
        rockRidge: t.rockRidge,
        suspSkip: t.suspSkip,
      });
    }
  } finally {
    reader.prefetch?.stop();
    reader.prefetch = undefined;
  }
  return { walked, trees };
}

export async function buildIndex(source: ByteSource, options: IndexOptions = {}): Promise<IsoIndex> {
  const reader = new MetadataReader(source, resolveLimits(options), options.signal);
  const parsed = await readDescriptorSet(reader);
  const descriptors = parsed.map((d) => d.info);
  const primary = parsed.find((d) => d.info.kind === 'primary')!;
  const warnings: string[] = [];
  const { walked, trees } = await walkTrees(reader, parsed, warnings, options.directoryPrefetch ?? true);

  const { files: merged, owner } = mergeFiles(walked);
  const directories = mergeDirectories(walked, owner);
  treeDisagreements(walked, merged, warnings);

  let elTorito: ElToritoCatalog | undefined;
  const bootRecord = descriptors.find((d) => d.kind === 'boot-record' && d.bootCatalogLba !== undefined);
  if (bootRecord) {
    const raw = await readBootCatalog(reader, bootRecord.bootCatalogLba!, bootRecord.offset + 71);
    elTorito = {
      catalogLba: bootRecord.bootCatalogLba!,
      bootRecordOffset: bootRecord.offset,
      entries: await bootEntries(reader, raw, merged, source.size),
    };
  }

  const { partitions, warnings: ptWarnings } = await readPartitionTables(reader);
  warnings.push(...ptWarnings);

  const files: IndexedFile[] = merged
    .map((m) => ({
      path: m.path,
      paths: m.paths,
      ...(m.isoPath !== undefined ? { isoPath: m.isoPath } : {}),
      size: m.size,
      extents: m.extents,
      records: m.records,
      hidden: m.hidden,
      ...(m.mode !== undefined ? { mode: m.mode } : {}),
    }))
    .sort((a, b) => cmp(a.path, b.path) || a.extents[0]!.lba - b.extents[0]!.lba);

  return {
    imageSize: source.size,
    volumeId: primary.info.volumeId,
    volumeSpaceSize: primary.info.volumeSpaceSize,
    descriptors,
    trees,
    files,
    directories,
    ...(elTorito ? { elTorito } : {}),
    partitions,
    bytesRead: reader.bytesRead,
    warnings,
  };
}

/**
 * A file whose data runs past the end of the image: its directory record is intact but the
 * bytes it points at are missing, as in a truncated download. `offset` is the directory record's.
 */
export class ExtentPastEndError extends IsoFormatError {
  readonly path: string;
  /** First byte after the extent, and the image's size: the gap is what is missing. */
  readonly extentEnd: number;
  readonly imageSize: number;
  constructor(path: string, offset: number, extent: Extent, imageSize: number) {
    const end = extent.lba * SECTOR_SIZE + extent.lengthBytes;
    super(
      'file extent',
      offset,
      `${path} extent ${extent.lba}+${extent.lengthBytes} ends at byte ${end}, past the image end ${imageSize} (truncated image?)`,
    );
    this.path = path;
    this.extentEnd = end;
    this.imageSize = imageSize;
  }
}

/** The first extent of `file` that runs past `imageSize`, as an error; undefined when all fit. */
export function extentPastEnd(file: IndexedFile, imageSize: number): ExtentPastEndError | undefined {
  for (const [i, e] of file.extents.entries()) {
    if (e.lba * SECTOR_SIZE + e.lengthBytes <= imageSize) continue;
    const record = file.records.find((r) => r.extentIndex === i) ?? file.records[0];
    return new ExtentPastEndError(file.path, record?.offset ?? e.lba * SECTOR_SIZE, e, imageSize);
  }
  return undefined;
}

/** A file's data, all extents in order. Throws LimitExceededError when the file is larger than maxBytes. */
export async function readFileBytes(source: ByteSource, file: IndexedFile, maxBytes: number): Promise<Uint8Array> {
  if (file.size > maxBytes)
    throw new LimitExceededError('file size', file.records[0]?.offset ?? 0, `${file.path} is ${file.size} bytes, cap ${maxBytes}`);
  const pastEnd = extentPastEnd(file, source.size);
  if (pastEnd) throw pastEnd;
  const out = new Uint8Array(file.size);
  let at = 0;
  for (const e of file.extents) {
    if (e.lengthBytes > 0) out.set(await source.read(e.lba * SECTOR_SIZE, e.lengthBytes), at);
    at += e.lengthBytes;
  }
  return out;
}

function normalizeLookup(path: string): string {
  const parts = path.split('/').filter((p) => p !== '');
  return '/' + parts.map((p) => stripIsoName(p).toLowerCase()).join('/');
}

/** Case-insensitive lookup on the best path or any tree's path; ISO `;n` suffixes are ignored. */
export function findFile(index: IsoIndex, path: string): IndexedFile | undefined {
  const want = normalizeLookup(path);
  let found: IndexedFile | undefined;
  for (const f of index.files) {
    if (normalizeLookup(f.path) === want) return f;
    if (!found && f.paths.some((p) => normalizeLookup(p.path) === want)) found = f;
  }
  return found;
}
