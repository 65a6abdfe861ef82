// The status view wired into `isoproxy serve`: one WaveTracker fed by the serving
// core's transfer hub, told about the store's nodes (all of them at start, paged, then each put
// or delete as the store announces it), and asked at snapshot time about the open bases (with each
// one's share of the block cache, and those that failed to open) and the block cache. Everything
// here reads; nothing on the serving path waits for it.
//
// A cluster has one tracker, in its primary (src/cluster/status-hub.ts): a worker's transfers go
// there in batches (relay.ts), and a worker's page asks it for snapshots (`wireRemoteStatus`).
// With a tracker in every worker, each would apply every other worker's transfers: work per
// request that grows with the number of workers.

import type { BaseListing } from '../serving/bases.js';
import type { Edits } from '../bootconfig/types.js';
import type { CacheStats, SourceStats } from '../cache/block-cache.js';
import type { Logger } from '../logger.js';
import { redactUrl } from '../redact.js';
import type { NodeSpec, NodeStore } from '../registry/store.js';
import type { NodeImage, NodeRef } from '../serving/types.js';
import { trackerObserver, type DescribeNode, type TrackerObserver } from './observer.js';
import { RelayedTransfers, StatusOutbox, type RelayEvent, type TrackerSink } from './relay.js';
import type { RelayBatch } from './relay-wire.js';
import type { BaseInfo, CacheInfo, SnapshotQuery, StatusSnapshot, StatusView } from './types.js';
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
  /** The open bases as the page shows them, when they come from elsewhere (a cluster worker's, with its snapshot request). */
  readonly baseInfos?: () => readonly BaseInfo[];
  /** The cache panel, when it comes from elsewhere (the same worker's); `cache` still gives the upstream total. */
  readonly cacheInfo?: () => CacheInfo | undefined;
}

/** What the HTTP layer uses of the status view, in a single process or a cluster worker. */
export interface StatusWiring {
  /** What the page and `isoproxy status` read. */
  readonly view: StatusView;
  /** For serving.transfers.observe(). */
  readonly observer: TrackerObserver;
  /** Call with each image the serving core resolved: its size and ETag are what progress is measured against. */
  noteImage(ref: NodeRef, image: Pick<NodeImage, 'size' | 'etag'>): void;
  /** Stops following the store (and sends what a worker has not sent yet). */
  close(): void;
}

/** The view with its tracker: a single process's, or a cluster primary's. */
export interface LocalStatusWiring extends StatusWiring {
  readonly tracker: WaveTracker;
  /** In a cluster's primary: what a worker's transfers did, as it relayed them. */
  applyRelayed(origin: number, events: readonly RelayEvent[]): void;
  /** In a cluster's primary: a worker is gone; its open transfers end. */
  originGone(origin: number): void;
}

/** The primary's status view, as a cluster worker reaches it. */
export interface RemoteStatus {
  /** Sends a batch of this worker's transfer events (one-way). */
  relay(batch: RelayBatch): void;
  /** The primary's snapshot, with this worker's open bases and its view of the cache. */
  snapshot(query: SnapshotQuery, bases: readonly BaseInfo[], cache: CacheInfo | undefined): Promise<StatusSnapshot>;
  sourceOf(name: string): Promise<string | undefined>;
}

/** What a worker's transfers go through before the relay: nothing here keeps them. */
const NOWHERE: TrackerSink = { transferStart() {}, bytes() {}, transferEnd() {} };

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

/** Image sizes and ETags the serving path noted, by node: what a transfer's progress is measured against. */
function noted(): { describe: DescribeNode; note: StatusWiring['noteImage']; forget(ref: NodeRef): void } {
  const images = new Map<string, { imageSize: number; etag: string }>();
  const key = (ref: NodeRef): string => `${ref.source}\0${ref.name}`;
  return {
    describe: (ref) => images.get(key(ref)),
    note(ref, image) {
      if (images.size >= MAX_IMAGES && !images.has(key(ref))) images.clear();
      images.set(key(ref), { imageSize: image.size, etag: image.etag });
    },
    forget: (ref) => images.delete(key(ref)),
  };
}

/** A cluster worker's view: its transfers go to the primary's tracker, and snapshots come from it. */
export function wireRemoteStatus(sources: Pick<StatusSources, 'bases' | 'cache' | 'cacheBudgetBytes'>, remote: RemoteStatus): StatusWiring {
  const images = noted();
  const outbox = new StatusOutbox(NOWHERE, (batch) => remote.relay(batch));
  const { cache } = sources;
  const bases = (): BaseInfo[] => (sources.bases ? sources.bases().map((b) => baseInfo(b, cache)) : []);
  return {
    view: {
      snapshot: (query) => remote.snapshot(query, bases(), cache ? cacheInfo(viewStats(cache), sources.cacheBudgetBytes) : undefined),
      sourceOf: (name) => remote.sourceOf(name),
    },
    observer: trackerObserver(outbox, images.describe),
    noteImage: images.note,
    close: () => outbox.close(),
  };
}

/** What the page shows of the cache: the primary's in a cluster worker, else the cache's own. */
const viewStats = (c: NonNullable<StatusSources['cache']>): CacheStats => c.viewStats?.() ?? c.stats();

function cacheInfo(s: CacheStats, budgetBytes: number | undefined): CacheInfo {
  return {
    budgetBytes: budgetBytes ?? 0,
    usedBytes: s.bytesUsed,
    hits: s.hits,
    misses: s.misses,
    evictions: s.evictions,
    degraded: s.degraded,
    blocks: s.blocks,
    errors: s.errors,
  };
}

export function wireStatus(sources: StatusSources): LocalStatusWiring {
  const { store, storeSource, cache, logger } = sources;
  const listed = sources.bases;
  const bases = sources.baseInfos ?? (listed ? () => listed().map((b) => baseInfo(b, cache)) : undefined);
  const tracker = new WaveTracker({
    ...(sources.stallAfterMs !== undefined ? { stallAfterMs: sources.stallAfterMs } : {}),
    ...(bases ? { bases } : {}),
    ...(cache
      ? {
          cache: () => sources.cacheInfo?.() ?? cacheInfo(viewStats(cache), sources.cacheBudgetBytes),
          upstreamTotal: () => viewStats(cache).upstreamBytes,
        }
      : {}),
  });
  const images = noted();
  const relayed = new RelayedTransfers(tracker);
  const observer = trackerObserver(tracker, images.describe);

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
            images.forget({ source: storeSource, name });
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
    view: tracker,
    observer,
    noteImage: images.note,
    applyRelayed: (origin, events) => relayed.apply(origin, events),
    originGone: (origin) => relayed.originGone(origin),
    close() {
      closed = true;
      unwatch?.();
    },
  };
}
