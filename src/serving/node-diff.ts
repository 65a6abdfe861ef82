// A node's boot-config diff for the status page: the text `isoproxy preview` prints for the node's
// edits on its base (src/remaster/preview-text.ts), asked for when an operator hovers a node's
// edits, never per snapshot. The costly part, the node's patch set, comes from the remaster pool:
// memoized (a node being served already has it) or computed in its piscina workers, never on this
// event loop. What is left here is formatting a few kilobytes of configs, kept in a small LRU by
// (node, ETag): a hover over a node whose image did not change costs a spec lookup, an open base
// and a memo hit, and no formatting.

import { LRUCache } from 'lru-cache';
import type { FileLimits } from '../bootconfig/files.js';
import { normalizeEdits } from '../bootconfig/index.js';
import { previewText } from '../remaster/preview-text.js';
import type { RemasterPool } from '../remaster/pool.js';
import { abortable } from '../io/abort.js';
import { asFormatError, type Bases } from './bases.js';
import { imageEtag } from './images.js';
import type { NodeSource } from './node-source.js';
import type { NodeRef } from './types.js';

/** Diff texts kept (one per node and ETag). */
export const DIFF_CACHE_ENTRIES = 256;
/** Characters of diff text kept in all (a diff is a few KiB; a node with many configs, more). */
export const DIFF_CACHE_CHARS = 8 * 1024 * 1024;

export interface NodeDiffOptions {
  /** The node sources by name (the serving core's). */
  readonly sources: ReadonlyMap<string, NodeSource>;
  readonly bases: Pick<Bases, 'current'>;
  readonly pool: Pick<RemasterPool, 'patchSet'>;
  readonly fileLimits?: FileLimits;
  readonly maxEntries?: number;
}

/** The diff of `ref`'s edits on its base; undefined when no source knows the node. Throws what opening the image throws. */
export type NodeDiff = (ref: NodeRef, signal?: AbortSignal) => Promise<string | undefined>;

export function createNodeDiff(options: NodeDiffOptions): NodeDiff & { readonly cached: () => number } {
  const texts = new LRUCache<string, string>({
    max: options.maxEntries ?? DIFF_CACHE_ENTRIES,
    maxSize: DIFF_CACHE_CHARS,
    sizeCalculation: (t) => Math.max(1, t.length),
  });
  const diff = async (ref: NodeRef, signal?: AbortSignal): Promise<string | undefined> => {
    const source = options.sources.get(ref.source);
    if (!source) return undefined;
    const spec = await source.lookup(ref.name, signal);
    if (!spec) return undefined;
    const edits = normalizeEdits(spec.edits, options.fileLimits ? { fileLimits: options.fileLimits } : {});
    const base = await options.bases.current(spec.bootIso, signal);
    let result;
    try {
      result = await abortable(options.pool.patchSet(base.id, base.context, edits, ref.name), signal);
    } catch (err) {
      throw asFormatError(err);
    }
    const key = `${ref.source}\u0000${ref.name}\u0000${imageEtag(base.id, result.patchSet.digest)}`;
    let text = texts.get(key);
    if (text === undefined) {
      text = previewText(await base.context(), result);
      texts.set(key, text);
    }
    return text;
  };
  return Object.assign(diff, { cached: () => texts.size });
}
