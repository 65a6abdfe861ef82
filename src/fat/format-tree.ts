// The file tree that formatFat (format.ts) lays out: spec paths checked and gathered into sorted
// directories, each name given its 8.3 entry name and, where needed, VFAT long-name entries
// (fatgen103 7.4), and the directory entries each directory needs. Nothing here touches an image.

import { IsoproxyError } from '../errors.js';

/** The spec cannot be formatted (bad path, size impossible for the type, ...). */
export class FatSpecError extends IsoproxyError {
  constructor(message: string) {
    super('FAT_SPEC', message);
  }
}

const MAX_FILES = 65536;
const SHORT_NAME_CHARS = /^[A-Z0-9$%'`\-_@~!(){}^#&\x80-\xff]+$/;
const FORBIDDEN_LONG = /[\x00-\x1f"*/:<>?\\|]/;

export interface FileNode {
  readonly kind: 'file';
  readonly name: string;
  readonly data: Uint8Array;
}
export interface DirNode {
  readonly kind: 'dir';
  readonly name: string;
  readonly children: (FileNode | DirNode)[];
}
export type Node = FileNode | DirNode;

/** A node with its directory entry laid out and its clusters assigned. */
export interface Placed {
  readonly node: Node;
  short11: Uint8Array;
  needsLfn: boolean;
  firstCluster: number;
  clusters: number;
}

export function buildTree(files: readonly { readonly path: string; readonly data: Uint8Array }[]): DirNode {
  if (files.length > MAX_FILES) throw new FatSpecError(`${files.length} files is more than ${MAX_FILES}`);
  const root: DirNode = { kind: 'dir', name: '', children: [] };
  for (const f of files) {
    const parts = f.path.split('/').filter((p) => p.length > 0);
    if (parts.length === 0) throw new FatSpecError(`empty path ${JSON.stringify(f.path)}`);
    let dir = root;
    parts.forEach((part, i) => {
      if (part === '.' || part === '..' || part.length > 255 || FORBIDDEN_LONG.test(part) || /[ .]$/.test(part)) {
        throw new FatSpecError(`invalid FAT name ${JSON.stringify(part)} in ${f.path}`);
      }
      const same = dir.children.find((c) => c.name.toUpperCase() === part.toUpperCase());
      const last = i === parts.length - 1;
      if (last) {
        if (same) throw new FatSpecError(`${f.path} is given twice (FAT names ignore case)`);
        if (f.data.length > 0xffffffff) throw new FatSpecError(`${f.path} is larger than 4 GiB`);
        dir.children.push({ kind: 'file', name: part, data: f.data });
      } else if (same) {
        if (same.kind !== 'dir') throw new FatSpecError(`${f.path}: ${part} is a file`);
        dir = same;
      } else {
        const sub: DirNode = { kind: 'dir', name: part, children: [] };
        dir.children.push(sub);
        dir = sub;
      }
    });
  }
  const sort = (d: DirNode): void => {
    d.children.sort((a, b) => (a.name.toUpperCase() < b.name.toUpperCase() ? -1 : a.name.toUpperCase() > b.name.toUpperCase() ? 1 : 0));
    for (const c of d.children) if (c.kind === 'dir') sort(c);
  };
  sort(root);
  return root;
}

export function pad11(base: string, ext: string): Uint8Array {
  const out = new Uint8Array(11).fill(0x20);
  for (let i = 0; i < base.length; i++) out[i] = base.charCodeAt(i);
  for (let i = 0; i < ext.length; i++) out[8 + i] = ext.charCodeAt(i);
  return out;
}

/**
 * The 8.3 entry name of `name`, and whether it needs long-name entries (fatgen103 7.4): an
 * upper-case 8.3 name is stored as is; a name that only differs by case (grub.cfg) keeps its
 * upper-cased form (GRUB.CFG) plus long-name entries for the case; anything else gets a basis
 * name with a numeric tail (LONGFI~1.TXT), unique within the directory.
 */
export function shortNameFor(name: string, taken: Set<string>): { short11: Uint8Array; needsLfn: boolean } {
  const dot = name.lastIndexOf('.');
  const base = dot > 0 ? name.slice(0, dot) : name;
  const ext = dot > 0 ? name.slice(dot + 1) : '';
  const valid = (b: string, e: string) =>
    b.length >= 1 && b.length <= 8 && e.length <= 3 && SHORT_NAME_CHARS.test(b) && (e === '' || SHORT_NAME_CHARS.test(e));
  const ub = base.toUpperCase();
  const ue = ext.toUpperCase();
  if (valid(ub, ue) && !taken.has(`${ub}.${ue}`)) {
    taken.add(`${ub}.${ue}`);
    return { short11: pad11(ub, ue), needsLfn: ub !== base || ue !== ext };
  }
  // Basis name: upper case, spaces and leading dots dropped, other invalid characters -> '_'.
  const clean = (s: string) =>
    [...s.toUpperCase().replace(/ /g, '')].map((ch) => (ch.charCodeAt(0) < 0x80 && SHORT_NAME_CHARS.test(ch) ? ch : '_')).join('');
  const trimmed = name.replace(/^\.+/, '');
  const tdot = trimmed.lastIndexOf('.');
  const basisBase = clean(tdot > 0 ? trimmed.slice(0, tdot) : trimmed).replace(/\./g, '') || '_';
  const basisExt = clean(tdot > 0 ? trimmed.slice(tdot + 1) : '').slice(0, 3);
  for (let n = 1; n < 1_000_000; n++) {
    const tail = `~${n}`;
    const b = basisBase.slice(0, 8 - tail.length) + tail;
    if (!taken.has(`${b}.${basisExt}`)) {
      taken.add(`${b}.${basisExt}`);
      return { short11: pad11(b, basisExt), needsLfn: true };
    }
  }
  throw new FatSpecError(`no free 8.3 alias for ${name}`);
}

export function lfnEntryCount(name: string): number {
  return Math.ceil(name.length / 13);
}

export function entriesOf(dir: DirNode, isRoot: boolean, withLabel: boolean, placed: Map<Node, Placed>): number {
  let n = isRoot ? (withLabel ? 1 : 0) : 2;
  for (const c of dir.children) n += 1 + (placed.get(c)!.needsLfn ? lfnEntryCount(c.name) : 0);
  return n;
}
