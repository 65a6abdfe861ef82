// Merging the walked trees (ISO 9660, Joliet, ISO 9660:1999, each with or without Rock Ridge)
// into one list of files and one of directories. Files are paired across trees by their first
// extent's LBA and their size, and by case-folded path where several files share those (empty
// files on xorriso images); a file's path comes from the best tree that lists it. Each step is
// linear in the records: pairing by search was quadratic when files shared an LBA.

import type { WalkedFile, WalkedTree } from './directory-tree.js';
import type { DirectoryRecordRef, Extent, IndexedDirectory, TreeKind } from './types.js';

/** A file of the index while trees are merged: the best path so far, every tree's records. */
export interface MutableFile {
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

  /** Lists `m` under `folded` (not twice in a row: a file is named again by each tree that lists it). */
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

export function mergeFiles(trees: readonly WalkedTree[]): { files: MutableFile[]; owner: Map<WalkedFile, MutableFile> } {
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
export function mergeDirectories(trees: readonly WalkedTree[], owner: Map<WalkedFile, MutableFile>): IndexedDirectory[] {
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

/** Code-unit order, the order the index lists paths in. */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A file missing from a tree that lists others is worth a warning (e.g. Joliet dropped it). */
export function treeDisagreements(walked: readonly WalkedTree[], merged: readonly MutableFile[], warnings: string[]): void {
  const S_IFMT = 0o170000;
  const S_IFLNK = 0o120000;
  for (const t of walked) {
    // Joliet and ISO 9660:1999 have no symbolic links; do not count those.
    const missing = merged.filter((m) => !m.paths.some((p) => p.tree === t.kind) && (m.mode === undefined || (m.mode & S_IFMT) !== S_IFLNK));
    if (missing.length > 0) warnings.push(`${t.kind} tree does not list ${missing.length} file(s) other trees list, e.g. ${missing[0]!.path}`);
  }
}
