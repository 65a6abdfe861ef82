// buildIndex: reads an ISO image's metadata (volume descriptors, every directory tree with its
// SUSP/Rock Ridge data, the El Torito catalog with the first 512 bytes of each boot image, the
// MBR/GPT) through a byte source and returns the IsoIndex of ./types.ts. File data is never read.
// Files are merged across trees by (first extent LBA, size): one IndexedFile carries the
// directory records of every tree that describes it, which is what the remaster step patches.
// Also: readFileBytes (a file's data, capped) and findFile (lookup by any tree's path).

import type { ByteSource } from '../byte-source.js';
import { BinaryView } from '../binary.js';
import { FatFormatError, IsoFormatError, LimitExceededError } from '../errors.js';
import { bootSectorVolumeBytes } from '../fat/boot-sector.js';
import { walkTree, stripIsoName, type WalkBudget, type WalkedFile, type WalkedTree } from './directory-tree.js';
import { readBootCatalog, type RawBootEntry } from './el-torito.js';
import { DirectoryPrefetch } from './directory-prefetch.js';
import { MetadataReader, resolveLimits, type IndexOptions } from './limits.js';
import { readPartitionTables } from './partition-table.js';
import {
  SECTOR_SIZE,
  type BootEntry,
  type DirectoryRecordRef,
  type ElToritoCatalog,
  type Extent,
  type IndexedDirectory,
  type IndexedFile,
  type IsoIndex,
  type TreeInfo,
  type TreeKind,
} from './types.js';
import { FIRST_DESCRIPTOR_LBA, readDescriptorSet } from './volume-descriptor.js';

export type { IndexOptions } from './limits.js';
export { DEFAULT_LIMITS } from './limits.js';

interface MutableFile {
  path: string;
  paths: { tree: TreeKind; path: string }[];
  isoPath?: string;
  size: number;
  extents: Extent[];
  records: DirectoryRecordRef[];
  hidden: boolean;
  mode?: number;
  /** Rank of the tree that gave `path` (lower is better). */
  rank: number;
}

/** Path preference: Rock Ridge names, then Joliet, then ISO 9660:1999, then plain ISO 9660. */
function treeRank(tree: WalkedTree): number {
  if (tree.rockRidge) return 0;
  if (tree.kind === 'joliet') return 1;
  if (tree.kind === 'iso9660-1999') return 2;
  return 3;
}

function fileSize(f: WalkedFile): number {
  let n = 0;
  for (const e of f.extents) n += e.lengthBytes;
  return n;
}

const norm = (p: string) => p.toLowerCase();

/**
 * The files of one key (first extent LBA and size), in the order they came, and for a key shared
 * by several files (empty files share an LBA on xorriso images) the same by case-folded path:
 * names are the only way to pair those up across trees.
 */
class KeyFiles {
  readonly files: MutableFile[] = [];
  /** Made when a second file takes the key: a file alone in its key needs no name to pair. */
  byName: Map<string, MutableFile[]> | undefined;

  add(m: MutableFile): void {
    this.files.push(m);
    if (this.files.length === 2) {
      this.byName = new Map();
      for (const f of this.files) for (const p of f.paths) this.name(f, norm(p.path));
    } else if (this.byName) this.name(m, norm(m.path));
  }

  /** Lists `m` under `folded`, once. */
  name(m: MutableFile, folded: string): void {
    const list = this.byName?.get(folded);
    if (!list) this.byName?.set(folded, [m]);
    else if (list.at(-1) !== m) list.push(m);
  }
}

/**
 * The files each tree has not claimed yet: a cursor per list skips the claimed ones once, so a
 * key shared by many files costs linear time, not quadratic (20,000 empty files took 8.7 s to
 * index when each lookup filtered the key's whole list).
 */
class Unclaimed {
  private readonly cursors = new Map<MutableFile[], number>();
  readonly claimed = new Set<MutableFile>();

  /** The first file of `list` this tree has not claimed. */
  first(list: MutableFile[] | undefined): MutableFile | undefined {
    if (!list) return undefined;
    let i = this.cursors.get(list) ?? 0;
    while (i < list.length && this.claimed.has(list[i]!)) i++;
    this.cursors.set(list, i);
    return list[i];
  }
}

function mergeFiles(trees: readonly WalkedTree[]): { files: MutableFile[]; owner: Map<WalkedFile, MutableFile> } {
  // First extent LBA -> size -> files: numbers as keys, no string built per file.
  const byKey = new Map<number, Map<number, KeyFiles>>();
  const files: MutableFile[] = [];
  const owner = new Map<WalkedFile, MutableFile>();
  // Best tree first, so a file's `path` comes from the best tree that lists it.
  const ordered = [...trees].sort((a, b) => treeRank(a) - treeRank(b));
  for (const tree of ordered) {
    const rank = treeRank(tree);
    const unclaimed = new Unclaimed();
    for (const wf of tree.files) {
      const size = fileSize(wf);
      const lba = wf.extents[0]!.lba;
      let sizes = byKey.get(lba);
      if (!sizes) {
        sizes = new Map();
        byKey.set(lba, sizes);
      }
      let key = sizes.get(size);
      if (!key) {
        key = new KeyFiles();
        sizes.set(size, key);
      }
      // Within a key, prefer the candidate whose existing path equals this one case-insensitively.
      const folded = key.byName ? norm(wf.path) : '';
      const match = (key.byName && unclaimed.first(key.byName.get(folded))) || unclaimed.first(key.files);
      if (match) {
        unclaimed.claimed.add(match);
        match.paths.push({ tree: wf.tree, path: wf.path });
        if (key.byName) key.name(match, folded);
        match.records.push(...wf.records);
        if (wf.isoPath !== undefined) match.isoPath ??= wf.isoPath;
        // Hidden in any tree (genisoimage -hidden sets the bit in the ISO 9660 tree only).
        match.hidden ||= wf.hidden || wf.associated;
        if (match.mode === undefined && wf.mode !== undefined) match.mode = wf.mode;
        owner.set(wf, match);
        continue;
      }
      const m: MutableFile = {
        path: wf.path,
        paths: [{ tree: wf.tree, path: wf.path }],
        ...(wf.isoPath !== undefined ? { isoPath: wf.isoPath } : {}),
        size,
        extents: wf.extents,
        records: [...wf.records],
        hidden: wf.hidden || wf.associated,
        ...(wf.mode !== undefined ? { mode: wf.mode } : {}),
        rank,
      };
      unclaimed.claimed.add(m);
      files.push(m);
      owner.set(wf, m);
      key.add(m);
    }
  }
  return { files, owner };
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/**
 * Directories merged across trees under their best path. A directory of a lesser tree takes its
 * best path from the files it holds (their merged best paths), else from its parent's mapping.
 */
function mergeDirectories(trees: readonly WalkedTree[], owner: Map<WalkedFile, MutableFile>): IndexedDirectory[] {
  const ordered = [...trees].sort((a, b) => treeRank(a) - treeRank(b));
  const byPath = new Map<string, { path: string; extent: Extent; records: DirectoryRecordRef[] }>();
  // Case-folded best path -> best path, to pair e.g. a Joliet "Boot" with a Rock Ridge "boot".
  const byFolded = new Map<string, string>();
  for (const tree of ordered) {
    const mapped = new Map<string, string>([['/', '/']]);
    const hint = new Map<string, string>();
    for (const wf of tree.files) {
      const m = owner.get(wf);
      if (m && !hint.has(wf.dirPath)) hint.set(wf.dirPath, parentOf(m.path));
    }
    // Parents come before children in walk order.
    for (const d of tree.directories) {
      let best = hint.get(d.path);
      if (best === undefined) {
        const parent = mapped.get(parentOf(d.path)) ?? parentOf(d.path);
        const base = d.path.slice(d.path.lastIndexOf('/') + 1);
        best = d.path === '/' ? '/' : (byFolded.get(norm(joinDir(parent, base))) ?? joinDir(parent, base));
      }
      mapped.set(d.path, best);
      const existing = byPath.get(best);
      if (existing) existing.records.push(...d.records);
      else {
        byPath.set(best, { path: best, extent: d.extent, records: [...d.records] });
        if (!byFolded.has(norm(best))) byFolded.set(norm(best), best);
      }
    }
  }
  return [...byPath.values()].sort((a, b) => cmp(a.path, b.path));
}

function joinDir(parent: string, base: string): string {
  return parent === '/' ? `/${base}` : `${parent}/${base}`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

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

/** A file missing from a tree that lists others is worth a warning (e.g. Joliet dropped it). */
function treeDisagreements(walked: readonly WalkedTree[], merged: readonly MutableFile[], warnings: string[]): void {
  const S_IFMT = 0o170000;
  const S_IFLNK = 0o120000;
  for (const t of walked) {
    // Joliet and ISO 9660:1999 have no symbolic links; do not count those.
    const missing = merged.filter((m) => !m.paths.some((p) => p.tree === t.kind) && (m.mode === undefined || (m.mode & S_IFMT) !== S_IFLNK));
    if (missing.length > 0) warnings.push(`${t.kind} tree does not list ${missing.length} file(s) other trees list, e.g. ${missing[0]!.path}`);
  }
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
