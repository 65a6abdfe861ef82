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
  /** Children in ISO 9660 record order, then in Joliet record order. */
  isoOrder: TreeNode[];
  jolietOrder: TreeNode[];
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

function newDir(name: string, path: string, parent: DirNode | null): DirNode {
  const empty = { id: new Uint8Array(1) };
  return { kind: 'dir', name, path, parent, depth: parent ? parent.depth + 1 : 0, children: [], ino: 0, iso: empty, joliet: empty, isoOrder: [], jolietOrder: [] };
}

/** Builds the tree; throws IsoSpecError on duplicates, file/directory clashes and caps. */
export function buildTree(files: ReadonlyArray<{ path: string; data: Uint8Array }>): { root: DirNode; dirs: DirNode[]; files: FileNode[] } {
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
    const node: FileNode = { kind: 'file', name: parts[parts.length - 1]!, path, data: f.data, ino: 0, iso: { id: new Uint8Array(0) }, joliet: { id: new Uint8Array(0) }, lba: 0 };
    dir.children.push(node);
    byPath.set(path, node);
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
    const jolietIds = assignJolietNames(d.children);
    d.children.forEach((c, i) => {
      c.iso = { id: encodeAscii(isoIds[i]!) };
      c.joliet = { id: encodeUcs2be(jolietIds[i]!) };
    });
    d.isoOrder = [...d.children].sort((a, b) => compareIsoIdentifiers(a.iso.id, b.iso.id));
    d.jolietOrder = [...d.children].sort((a, b) => compareBytes(a.joliet.id, b.joliet.id));
    for (const c of d.children) {
      if (c.kind === 'dir') visit(c);
      else {
        c.ino = ++ino;
        fileNodes.push(c);
      }
    }
  };
  visit(root);
  return { root, dirs, files: fileNodes };
}

/** Directories in path table order (ECMA-119 9.4.4): by level, parent number, then identifier. */
export function pathTableOrder(root: DirNode, tree: 'iso' | 'joliet'): DirNode[] {
  const out: DirNode[] = [root];
  for (let i = 0; i < out.length; i++) {
    const d = out[i]!;
    for (const c of tree === 'iso' ? d.isoOrder : d.jolietOrder) if (c.kind === 'dir') out.push(c);
  }
  return out;
}
