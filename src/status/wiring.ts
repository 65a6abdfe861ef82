// The status view wired into `isoproxy serve`: one WaveTracker fed by the serving
// core's transfer hub, told about the store's nodes (all of them at start, paged, then each put
// or delete as the store announces it), and asked at snapshot time about the open bases (with each
// one's share of the block cache, and those that failed to open) and the block cache. Everything
// here reads; nothing on the serving path waits for it.

import type { BaseListing } from '../serving/bases.js';
import type { Edits } from '../bootconfig/types.js';
import type { CacheStats, SourceStats } from '../cache/block-cache.js';
import type { Logger } from '../logger.js';
import { redactUrl } from '../redact.js';
import type { NodeSpec, NodeStore } from '../registry/store.js';
import type { NodeImage, NodeRef } from '../serving/types.js';
import { trackerObserver, type TrackerObserver } from './observer.js';
import { RelayedTransfers, StatusOutbox, type RelayEvent } from './relay.js';
import type { BaseInfo } from './types.js';
import { WaveTracker } from './wave-tracker.js';

/** What the wiring reads of the service; each part optional (tests and the demo pass their own service). */
export interface StatusSources {
  readonly store: NodeStore;
  /** The store's source name ("store"). */
  readonly storeSource: string;
  readonly bases?: () => readonly BaseListing[];
  /** The block cache: its counters, and each base version's bytes on disk and fetched from upstream. */
  readonly cache?: {
    stats(): CacheStats;
    /** What the page shows, when it differs from stats() (a cluster worker's view of the primary's cache). */
    viewStats?(): CacheStats;
    sourceStats?(versionKey: string): SourceStats;
  };
  readonly cacheBudgetBytes?: number;
  readonly logger: Logger;
  readonly stallAfterMs?: number;
  /** In a cluster: sends what this process's transfers did to the other processes (relay.ts). */
  readonly relay?: (events: RelayEvent[]) => void;
}

export interface StatusWiring {
  readonly tracker: WaveTracker;
  /** For serving.transfers.observe(). */
  readonly observer: TrackerObserver;
  /** Call with each image the serving core resolved: its size and ETag are what progress is measured against. */
  noteImage(ref: NodeRef, image: Pick<NodeImage, 'size' | 'etag'>): void;
  /** In a cluster: what another process's transfers did, as it relayed them. */
  applyRelayed(origin: number, events: readonly RelayEvent[]): void;
  /** In a cluster: a process is gone; its open transfers end. */
  originGone(origin: number): void;
  /** Stops following the store. */
  close(): void;
}

/** Nodes read per page from the store at start. */
const PAGE = 500;
/** Image sizes remembered at most (one per node served; Ironic nodes are not declared up front). */
const MAX_IMAGES = 20_000;

/** "append 2 (ip=, rd.neednet=), set 1, remove 1": what the node's edits do, at a glance. */
export function summarizeEdits(edits: Edits): string {
  const parts: string[] = [];
  const keys = (tokens: readonly string[]): string =>
    tokens
      .slice(0, 3)
      .map((t) => (t.includes('=') ? `${t.slice(0, t.indexOf('='))}=` : t))
      .join(', ') + (tokens.length > 3 ? ', …' : '');
  if (edits.append?.length) parts.push(`append ${edits.append.length} (${keys(edits.append)})`);
  const set = Object.keys(edits.set ?? {});
  if (set.length) parts.push(`set ${set.length} (${keys(set)})`);
  if (edits.remove?.length) parts.push(`remove ${edits.remove.length} (${keys(edits.remove)})`);
  return parts.length ? parts.join(', ') : 'none';
}

function baseInfo(b: BaseListing, cache: StatusSources['cache']): BaseInfo {
  const url = redactUrl(b.url);
  if (b.failed) return { url, state: 'failed', code: b.failed.code };
  if (!b.open) return { url, state: 'indexing' };
  const v = b.open.upstream.version;
  const validator = v.etag ?? v.lastModified;
  const share = cache?.sourceStats?.(b.open.cached.versionKey);
  return {
    url,
    size: b.open.upstream.size,
    ...(validator !== undefined ? { validator } : {}),
    ...(share ? { cachedBytes: share.cachedBytes, upstreamBytes: share.upstreamBytes } : {}),
    state: 'ready',
  };
}

export function wireStatus(sources: StatusSources): StatusWiring {
  const { store, storeSource, cache, logger } = sources;
  // What the page shows of the cache: the primary's in a cluster worker, else the cache's own.
  const viewStats = (c: NonNullable<StatusSources['cache']>): CacheStats => c.viewStats?.() ?? c.stats();
  const tracker = new WaveTracker({
    ...(sources.stallAfterMs !== undefined ? { stallAfterMs: sources.stallAfterMs } : {}),
    ...(sources.bases ? { bases: () => sources.bases!().map((b) => baseInfo(b, cache)) } : {}),
    ...(cache
      ? {
          cache: () => {
            const s = viewStats(cache);
            return {
              budgetBytes: sources.cacheBudgetBytes ?? 0,
              usedBytes: s.bytesUsed,
              hits: s.hits,
              misses: s.misses,
              evictions: s.evictions,
              degraded: s.degraded,
              blocks: s.blocks,
              errors: s.errors,
            };
          },
          upstreamTotal: () => viewStats(cache).upstreamBytes,
        }
      : {}),
  });
  const images = new Map<string, { imageSize: number; etag: string }>();
  const key = (ref: NodeRef): string => `${ref.source}\0${ref.name}`;
  const outbox = sources.relay ? new StatusOutbox(tracker, sources.relay) : undefined;
  const relayed = new RelayedTransfers(tracker);
  const observer = trackerObserver(outbox ?? tracker, (ref) => images.get(key(ref)));

  const declare = (spec: NodeSpec): void => {
    tracker.declare({
      name: spec.name,
      source: storeSource,
      base: redactUrl(spec.bootIso),
      edits: summarizeEdits(spec.edits),
      ...(spec.expiresAt !== undefined ? { expiresAt: spec.expiresAt } : {}),
    });
  };
  let closed = false;
  const declareAll = async (): Promise<void> => {
    let after: string | undefined;
    do {
      const page = await store.list({ ...(after !== undefined ? { after } : {}), limit: PAGE });
      if (closed) return;
      for (const spec of page.nodes) declare(spec);
      after = page.next;
    } while (after !== undefined);
  };
  const refresh = (name: string | undefined): void => {
    const done =
      name === undefined
        ? declareAll()
        : store.get(name).then((spec) => {
            images.delete(key({ source: storeSource, name }));
            if (closed) return;
            if (spec) declare(spec);
            else tracker.forget(name);
          });
    done.catch((err: unknown) => logger.warn({ err, node: name }, 'status page: could not read the node store'));
  };
  const unwatch = store.watch?.(refresh);
  refresh(undefined);

  return {
    tracker,
    observer,
    noteImage(ref, image) {
      if (images.size >= MAX_IMAGES && !images.has(key(ref))) images.clear();
      images.set(key(ref), { imageSize: image.size, etag: image.etag });
    },
    applyRelayed: (origin, events) => relayed.apply(origin, events),
    originGone: (origin) => relayed.originGone(origin),
    close() {
      closed = true;
      outbox?.close();
      unwatch?.();
    },
  };
}
