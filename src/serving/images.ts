// A node's spec -> its virtual image: the current version of its base (bases.ts), the patch set of
// its edits on that version (the remaster pool, memoized by content: base version + sha256 of the
// normalized edits), and a range reader over base ⊕ patch set (overlay/virtual-image.ts) whose
// base bytes come from the block cache.
//
// Nothing here depends on a source returning the same spec object twice. The only per-object
// shortcut is a WeakMap from an edits object to its normalized form, which saves re-normalizing
// on every range request of a store that does hand out the same object; a source that builds a
// new object per lookup gets the same result, a few microseconds later.

import type { FileLimits } from '../bootconfig/files.js';
import { normalizeEdits } from '../bootconfig/index.js';
import type { Edits } from '../bootconfig/types.js';
import type { NormalizedEdits } from '../bootconfig/model.js';
import type { StreamStats } from '../cache/block-cache.js';
import { segmentsOf, streamVirtual } from '../overlay/virtual-image.js';
import type { PatchSet } from '../overlay/patch-set.js';
import { spansIterator, type Chunk, type FileSpan } from '../io/file-span.js';
import type { NodeSpec } from '../registry/store.js';
import type { RemasterPool } from '../remaster/pool.js';
import { abortable } from '../io/abort.js';
import { asFormatError, type Bases, type OpenBase } from './bases.js';
import type { ImageReadStream, ImageResolver, NodeImage, NodeRef, TransferStats } from './types.js';

export interface ImagesOptions {
  readonly bases: Bases;
  readonly pool: Pick<RemasterPool, 'patchSet'>;
  /** Caps on a node's injected files (count, total bytes); the defaults otherwise. */
  readonly fileLimits?: FileLimits;
}

/** The strong ETag of a patch set on a base version: the same in every process and replica. */
export function imageEtag(baseId: string, patchSetDigest: string): string {
  return `"${baseId.slice(0, 16)}-${patchSetDigest.slice(0, 32)}"`;
}

/** Whole seconds: HTTP dates have none smaller, and If-Modified-Since compares them exactly. */
function lastModifiedOf(base: OpenBase, spec: NodeSpec): Date {
  const updated = Date.parse(spec.updatedAt);
  return new Date(Math.floor(Math.max(base.lastModified, Number.isNaN(updated) ? 0 : updated) / 1000) * 1000);
}

export function createImages(options: ImagesOptions): ImageResolver {
  const normalized = new WeakMap<Edits, NormalizedEdits>();

  function normalize(edits: Edits): NormalizedEdits {
    let n = normalized.get(edits);
    if (!n) {
      n = normalizeEdits(edits, options.fileLimits ? { fileLimits: options.fileLimits } : {});
      normalized.set(edits, n);
    }
    return n;
  }

  // The image of a spec object on a base version, kept while the spec object lives: a BMC reading
  // range after range asks for the same image each time, and building it again (patch-set lookup,
  // ETag, dates, closures) was a visible share of a small range's cost.
  const built = new WeakMap<NodeSpec, { readonly base: OpenBase; readonly ref: NodeRef; readonly image: NodeImage }>();

  const keptImage = (ref: NodeRef, spec: NodeSpec, base: OpenBase): NodeImage | undefined => {
    const kept = built.get(spec);
    return kept && kept.base === base && kept.ref.name === ref.name && kept.ref.source === ref.source ? kept.image : undefined;
  };

  return {
    imageNow(ref, spec) {
      const base = options.bases.currentNow(spec.bootIso);
      return base ? keptImage(ref, spec, base) : undefined;
    },
    async image(ref: NodeRef, spec: NodeSpec, signal?: AbortSignal): Promise<NodeImage> {
      const base = await options.bases.current(spec.bootIso, signal);
      const kept = keptImage(ref, spec, base);
      if (kept) return kept;
      const edits = normalize(spec.edits);
      let patchSet;
      try {
        ({ patchSet } = await abortable(options.pool.patchSet(base.id, base.context, edits, ref.name), signal));
      } catch (err) {
        throw asFormatError(err);
      }
      const spans = base.cached.spans?.bind(base.cached);
      const spansNow = base.cached.spansNow?.bind(base.cached);
      const image: NodeImage = {
        node: ref.name,
        size: patchSet.size,
        etag: imageEtag(base.id, patchSet.digest),
        lastModified: lastModifiedOf(base, spec),
        read: (start, end, readSignal) => {
          // Per-transfer cache figures for the transfer's log line.
          const stats: StreamStats = { hits: 0, misses: 0, upstreamBytes: 0 };
          const chunks = streamVirtual(patchSet, (offset, length, s) => base.cached.stream(offset, length, s, stats), start, end, readSignal);
          return withStats(chunks, stats);
        },
        ...(spansNow
          ? {
              spansNow: (start: number, end: number) => {
                const stats: StreamStats = { hits: 0, misses: 0, upstreamBytes: 0 };
                const now = baseSpansNow(patchSet, start, end, (o, l) => spansNow(o, l, stats));
                return now ? { spans: now, stats: statsOf(stats) } : undefined;
              },
            }
          : {}),
        ...(spans
          ? {
              spans: (start: number, end: number, readSignal: AbortSignal) => {
                const stats: StreamStats = { hits: 0, misses: 0, upstreamBytes: 0 };
                const now = spansNow && !readSignal.aborted ? baseSpansNow(patchSet, start, end, (o, l) => spansNow(o, l, stats)) : undefined;
                if (now) return spansAtHand(now, stats);
                return withStats(
                  streamVirtual(patchSet, (offset, length, s) => spans(offset, length, s, stats), start, end, readSignal),
                  stats,
                );
              },
            }
          : {}),
      };
      built.set(spec, { base, ref, image });
      return image;
    },
  };
}

/**
 * [start, end] as spans at once, when it is base bytes only (no overlay, copy or tail) in blocks
 * the cache has open and trusted; undefined otherwise (the range is then streamed).
 */
function baseSpansNow(
  patch: PatchSet,
  start: number,
  end: number,
  spansNow: (offset: number, length: number) => FileSpan[] | undefined,
): FileSpan[] | undefined {
  let segments;
  try {
    segments = segmentsOf(patch, start, end);
  } catch {
    return undefined; // the stream reports a bad range where it always has
  }
  const only = segments[0];
  return segments.length === 1 && only?.kind === 'base' ? spansNow(only.offset, only.length) : undefined;
}

/** A read of spans at hand: yields them in order, then ends; ended early, it releases the rest. */
function spansAtHand(spans: readonly FileSpan[], stats: StreamStats): ImageReadStream<Chunk> {
  const it = spansIterator(spans);
  return {
    single: spans.length === 1,
    [Symbol.asyncIterator]: () => it,
    stats: () => statsOf(stats),
  };
}

function statsOf(stats: StreamStats): TransferStats {
  return { cacheHits: stats.hits, cacheMisses: stats.misses, upstreamBytes: stats.upstreamBytes };
}

function withStats<C>(chunks: AsyncGenerator<C>, stats: StreamStats): ImageReadStream<C> {
  return {
    [Symbol.asyncIterator]: () => chunks,
    stats: () => statsOf(stats),
  };
}
