// The file tree the deterministic ISO writer lays out: built from a flat list of absolute paths
// (directories implied), validated and capped, with names assigned per tree (ISO 9660, Joliet) and
// children kept in each tree's record order (ECMA-119 9.3). Nothing here depends on input order.

import { IsoproxyError } from '../errors.js';
import { assignIsoNames, assignJolietNames, compareBytes, compareIsoIdentifiers, compareNames, encodeAscii, encodeUcs2be } from './writer-names.js';

/** The spec given to writeIso is unusable (bad path, duplicate, missing boot file, cap hit). */
export class IsoSpecError extends IsoproxyError {
  /** The offending path, or '' when the problem is not about one file. */
  readonly path: string;
  constructor(path: string, message: string) {
    super('INVALID_ISO_SPEC', path ? `${path}: ${message}` : message);
    this.path = path;
  }
}

/** Caps: the writer is for fixtures and the demo image, so these are generous but finite. */
export const WRITER_LIMITS = {
  files: 100_000,
  /** Path components; ECMA-119 alone allows 8 levels, Rock Ridge names go deeper. */
  depth: 64,
  /** Bytes of one name (UTF-8), as on POSIX file systems. */
  nameBytes: 255,
  /** Path table parent numbers are 16-bit. */
  directories: 65_535,
  /** The image is built in memory. */
  imageBytes: 1024 * 1024 * 1024,
} as const;

export interface TreeIds {
  /** Identifier bytes in this tree (ISO: d-characters with `;1` on files; Joliet: UCS-2BE). */
  id: Uint8Array;
}

export interface FileNode {
  readonly kind: 'file';
  readonly name: string;
  readonly path: string;
  data: Uint8Array;
  ino: number;
  iso: TreeIds;
  joliet: TreeIds;
  lba: number;
}

export interface DirNode {
  readonly kind: 'dir';
  readonly name: string;
  readonly path: string;
  readonly parent: DirNode | null;
  /** Path components from the root (root = 0). */
  readonly depth: number;
  readonly children: TreeNode[];
  ino: number;
  iso: TreeIds;
  joliet: TreeIds;
  /** Records of this directory in the ISO 9660 tree, in record order (ECMA-119 9.3). */
  isoEntries: IsoEntry[];
  /** Children in Joliet record order. */
  jolietOrder: TreeNode[];
  /** The parent in the ISO 9660 tree: rr_moved for a relocated directory, else `parent`. */
  isoParent: DirNode | null;
  /** Moved to rr_moved because ECMA-119 6.8.2.1 allows 8 levels (RRIP 4.1.5). */
  relocated: boolean;
  /** Its identifier inside rr_moved (unique there), when relocated. */
  movedId?: Uint8Array;
  /** The rr_moved directory itself: in the ISO 9660 tree only, not in Joliet. */
  readonly synthetic: boolean;
}

/**
 * One record of an ISO 9660 directory: a child in place, the zero-length stand-in (with CL) for
 * a relocated child, or (in rr_moved) a relocated directory (with RE).
 */
export interface IsoEntry {
  readonly node: TreeNode;
  readonly role: 'normal' | 'placeholder' | 'relocated';
}

export type TreeNode = FileNode | DirNode;

const utf8 = new TextEncoder();

function splitPath(path: string): string[] {
  if (typeof path !== 'string' || !path.startsWith('/')) throw new IsoSpecError(String(path), 'paths must be absolute');
  const parts = path.slice(1).split('/');
  if (parts.length > WRITER_LIMITS.depth) throw new IsoSpecError(path, `deeper than ${WRITER_LIMITS.depth} levels`);
  for (const p of parts) {
    if (p === '' || p === '.' || p === '..') throw new IsoSpecError(path, 'empty, "." or ".." path component');
    if (p.includes('\0')) throw new IsoSpecError(path, 'NUL in a name');
    if (utf8.encode(p).length > WRITER_LIMITS.nameBytes) throw new IsoSpecError(path, `a name is longer than ${WRITER_LIMITS.nameBytes} bytes`);
  }
  return parts;
}

function newDir(name: string, path: string, parent: DirNode | null, synthetic = false): DirNode {
  const empty = { id: new Uint8Array(1) };
  const depth = parent ? parent.depth + 1 : 0;
  return {
    kind: 'dir',
    name,
    path,
    parent,
    depth,
    children: [],
    ino: 0,
    iso: empty,
    joliet: empty,
    isoEntries: [],
    jolietOrder: [],
    isoParent: parent,
    relocated: false,
    synthetic,
  };
}

/** ECMA-119 6.8.2.1: at most 8 levels of directories, the root being level 1. */
const ISO_MAX_LEVEL = 8;
export const RR_MOVED = 'rr_moved';

/**
 * Builds the tree; throws IsoSpecError on duplicates, file/directory clashes and caps. With
 * `relocate`, directories below level 8 of the ISO 9660 tree move to /rr_moved the way
 * genisoimage does it (RRIP 4.1.5: CL in the stand-in, PL in "..", RE in rr_moved).
 */
export function buildTree(
  files: ReadonlyArray<{ path: string; data: Uint8Array }>,
  relocate = false,
): { root: DirNode; dirs: DirNode[]; files: FileNode[] } {
  if (files.length > WRITER_LIMITS.files) throw new IsoSpecError('', `more than ${WRITER_LIMITS.files} files`);
  const root = newDir('', '/', null);
  const byPath = new Map<string, TreeNode>([['/', root]]);
  let dirCount = 1;
  for (const f of files) {
    const parts = splitPath(f.path);
    if (!(f.data instanceof Uint8Array)) throw new IsoSpecError(f.path, 'data must be a Uint8Array');
    let dir = root;
    for (let i = 0; i < parts.length - 1; i++) {
      const path = '/' + parts.slice(0, i + 1).join('/');
      let next = byPath.get(path);
      if (next === undefined) {
        if (++dirCount > WRITER_LIMITS.directories) throw new IsoSpecError(path, `more than ${WRITER_LIMITS.directories} directories`);
        next = newDir(parts[i]!, path, dir);
        dir.children.push(next);
        byPath.set(path, next);
      } else if (next.kind !== 'dir') {
        throw new IsoSpecError(f.path, `${path} is a file, not a directory`);
      }
      dir = next;
    }
    const path = '/' + parts.join('/');
    if (byPath.has(path)) throw new IsoSpecError(path, 'given twice, or both a file and a directory');
    const name = parts[parts.length - 1]!;
    const node: FileNode = {
      kind: 'file',
      name,
      path,
      data: f.data,
      ino: 0,
      iso: { id: new Uint8Array(0) },
      joliet: { id: new Uint8Array(0) },
      lba: 0,
    };
    dir.children.push(node);
    byPath.set(path, node);
  }
  let rrMoved: DirNode | undefined;
  if (relocate && [...byPath.values()].some((n) => n.kind === 'dir' && n.depth + 1 > ISO_MAX_LEVEL)) {
    if (byPath.has('/' + RR_MOVED)) throw new IsoSpecError('/' + RR_MOVED, 'reserved for relocated directories');
    rrMoved = newDir(RR_MOVED, '/' + RR_MOVED, root, true);
    root.children.push(rrMoved);
  }
  const dirs: DirNode[] = [];
  const fileNodes: FileNode[] = [];
  // Depth-first by real name: the order of inode numbers and of file data in the image.
  let ino = 0;
  const visit = (d: DirNode) => {
    d.children.sort((a, b) => compareNames(a.name, b.name));
    d.ino = ++ino;
    dirs.push(d);
    const isoIds = assignIsoNames(d.children.map((c) => ({ name: c.name, isDir: c.kind === 'dir' })));
    const jolietChildren = d.children.filter((c) => !(c.kind === 'dir' && c.synthetic));
    const jolietIds = assignJolietNames(jolietChildren);
    d.children.forEach((c, i) => {
      c.iso = { id: encodeAscii(isoIds[i]!) };
    });
    jolietChildren.forEach((c, i) => {
      c.joliet = { id: encodeUcs2be(jolietIds[i]!) };
    });
    d.jolietOrder = jolietChildren.sort((a, b) => compareBytes(a.joliet.id, b.joliet.id));
    for (const c of d.children) {
      if (c.kind === 'dir') visit(c);
      else {
        c.ino = ++ino;
        fileNodes.push(c);
      }
    }
  };
  visit(root);

  // Places of directories in the ISO 9660 tree (depth first, so rr_moved fills in path order).
  const moved: DirNode[] = [];
  const place = (d: DirNode, level: number) => {
    for (const c of d.children) {
      if (c.kind !== 'dir' || c.synthetic) continue;
      if (rrMoved && level + 1 > ISO_MAX_LEVEL) {
        c.relocated = true;
        c.isoParent = rrMoved;
        moved.push(c);
        place(c, 3); // root (1) / rr_moved (2) / c (3)
      } else {
        place(c, level + 1);
      }
    }
  };
  place(root, 1);
  for (const d of dirs) {
    d.isoEntries = d.children
      .map((c): IsoEntry => ({ node: c, role: c.kind === 'dir' && c.relocated ? 'placeholder' : 'normal' }))
      .sort((a, b) => compareIsoIdentifiers(a.node.iso.id, b.node.iso.id));
  }
  if (rrMoved) {
    const ids = assignIsoNames(moved.map((m) => ({ name: m.name, isDir: true })));
    moved.forEach((m, i) => {
      m.movedId = encodeAscii(ids[i]!);
    });
    rrMoved.isoEntries = moved
      .map((m): IsoEntry => ({ node: m, role: 'relocated' }))
      .sort((a, b) => compareIsoIdentifiers(isoIdOf(a.node), isoIdOf(b.node)));
  }
  return { root, dirs, files: fileNodes };
}

/** A node's identifier in its ISO 9660 directory (rr_moved for relocated directories). */
export function isoIdOf(node: TreeNode): Uint8Array {
  return node.kind === 'dir' && node.movedId ? node.movedId : node.iso.id;
}

/** Directories in path table order (ECMA-119 9.4.4): by level, parent number, then identifier. */
export function pathTableOrder(root: DirNode, tree: 'iso' | 'joliet'): DirNode[] {
  const out: DirNode[] = [root];
  for (let i = 0; i < out.length; i++) {
    const d = out[i]!;
    const children = tree === 'iso' ? d.isoEntries.filter((e) => e.role !== 'placeholder').map((e) => e.node) : d.jolietOrder;
    for (const c of children) if (c.kind === 'dir') out.push(c);
  }
  return out;
}
