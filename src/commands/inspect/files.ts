// `isoproxy inspect --files`: every file of the image, each once, with its name in each tree
// (plain ISO 9660 identifiers, Rock Ridge, Joliet, ISO 9660:1999), its size and its extents, as
// `isoinfo -l` lists them per tree. Operators use it to see what an image holds and where.

import type { Extent, IsoIndex } from '../../iso9660/types.js';

/** A file's path in each tree that lists it. */
export interface TreeNames {
  /** ISO 9660 identifiers, `;1` versions and a trailing '.' stripped. */
  readonly iso9660?: string;
  /** Rock Ridge NM names of the ISO 9660 tree. */
  readonly rockRidge?: string;
  readonly joliet?: string;
  readonly 'iso9660-1999'?: string;
}

export interface FileListing {
  /** Best path: Rock Ridge, else Joliet, else ISO 9660:1999, else ISO 9660. */
  readonly path: string;
  readonly names: TreeNames;
  readonly sizeBytes: number;
  /** In file order; more than one for a multi-extent file (ECMA-119 9.1.6). */
  readonly extents: readonly Extent[];
  /** Hidden or associated in some tree. */
  readonly hidden: boolean;
  /** Rock Ridge PX mode (file type and permissions), when present. */
  readonly mode?: number;
}

export function listFiles(index: IsoIndex): FileListing[] {
  const rockRidge = index.trees.some((t) => t.kind === 'iso9660' && t.rockRidge);
  return index.files.map((f) => {
    const names: { -readonly [K in keyof TreeNames]: string } = {};
    for (const p of f.paths) {
      if (p.tree !== 'iso9660') names[p.tree] = p.path;
      else if (rockRidge) {
        names.iso9660 = f.isoPath ?? p.path;
        names.rockRidge = p.path;
      } else names.iso9660 = p.path;
    }
    return { path: f.path, names, sizeBytes: f.size, extents: f.extents, hidden: f.hidden, ...(f.mode !== undefined ? { mode: f.mode } : {}) };
  });
}

const TREE_LABELS: ReadonlyArray<[keyof TreeNames, string]> = [
  ['iso9660', 'iso9660'],
  ['rockRidge', 'rr'],
  ['joliet', 'joliet'],
  ['iso9660-1999', 'iso9660:1999'],
];

/** One line per file: first extent's LBA, size, best path, then each tree's name. */
export function formatFiles(files: readonly FileListing[]): string[] {
  const lines = [`Files (${files.length}; LBA of the first extent, size in bytes, path, then the name in each tree):`];
  for (const f of files) {
    const names = TREE_LABELS.filter(([k]) => f.names[k] !== undefined).map(([k, label]) => `${label} ${f.names[k]}`);
    const more = f.extents.length > 1 ? `  extents ${f.extents.map((e) => `${e.lba}+${e.lengthBytes}`).join(', ')}` : '';
    const hidden = f.hidden ? '  [hidden]' : '';
    lines.push(
      `  ${String(f.extents[0]?.lba ?? 0).padStart(8)} ${String(f.sizeBytes).padStart(12)}  ${f.path}  (${names.join('; ')})${more}${hidden}`,
    );
  }
  return lines;
}
