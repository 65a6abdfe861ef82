// Names of the ISO tree that share one extent: hard links, which genisoimage and xorriso write as
// one run of sectors with a directory record per name. An edit of one name is an edit of all of
// them, so their new contents must agree: a name left as it was while another changes in place
// would read the other's bytes, and two different edits cannot both be those sectors' bytes.

import { equalBytes } from '../binary.js';
import { RemasterError } from '../errors.js';
import type { Extent } from '../iso9660/types.js';
import type { ContextFile } from './base-context.js';

/** The same for every name of one file: its size and every extent (a multi-extent file counts by all). */
export function extentKey(f: { readonly size: number; readonly extents: readonly Extent[] }): string {
  return `${f.size}:${f.extents.map((e) => `${e.lba}+${e.lengthBytes}`).join(',')}`;
}

/**
 * Throws RemasterError REMASTER_CONFLICT when a changed file (path -> new bytes in `next`) shares
 * its extent with a file of `files` whose new bytes (or old, when unchanged) differ.
 */
export function checkHardLinks(files: Iterable<ContextFile>, next: ReadonlyMap<string, Uint8Array>, who: string): void {
  const groups = new Map<string, ContextFile[]>();
  for (const f of files) {
    const key = extentKey(f);
    const group = groups.get(key);
    if (group) group.push(f);
    else groups.set(key, [f]);
  }
  for (const group of groups.values()) {
    if (group.length < 2) continue;
    const changed = group.find((f) => next.has(f.path));
    if (!changed) continue;
    const want = next.get(changed.path)!;
    for (const f of group) {
      if (f === changed || equalBytes(next.get(f.path) ?? f.bytes, want)) continue;
      throw new RemasterError(
        'REMASTER_CONFLICT',
        `${who}: ${changed.path} and ${f.path} are one file of the image (hard links to the same sectors), and these edits would make them differ${next.has(f.path) ? '' : ` (${f.path} is left as it is)`}`,
      );
    }
  }
}
