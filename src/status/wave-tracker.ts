// What every node of a deployment wave is doing, fed by the serving core's per-transfer observer:
// transferStart when a response for /iso/<node>.iso begins, bytes() for every chunk written,
// transferEnd when it ends. The hot path (bytes) costs one map lookup, one interval-set add
// (O(1) for sequential reads, bounded otherwise) and two ring adds; nothing grows per request.
// Everything else (states, progress, sorting, paging) is computed when a snapshot is asked for,
// about once a second per viewer; how a node becomes a row of it is in node-rows.ts.
//
// States, most urgent first:
//   error     the last transfer failed on isoproxy's side (5xx, 404, a code) and none succeeded since
//   stalled   a transfer is open and no byte has moved for stallAfterMs
//   reading   active, and at least mountingBytes distinct bytes served
//   mounting  active, fewer distinct bytes: HEADs, probes and the small reads a BMC mounts with
//   idle      no transfer open and none for idleAfterMs
//   expired   the node's expiry passed, or the server answered 410 since its last success
//   never     declared (registered) but never fetched

import { DEFAULT_MAX_INTERVALS, IntervalSet } from './interval-set.js';
import { comparator, type Computed, computeNode, matches, NodeRecord, nodeRow, nodeState, parseExpiry, RATE_SECONDS, setBase } from './node-rows.js';
import { redactUrl } from './redact.js';
import { SecondRing } from './second-ring.js';
import {
  NODE_STATES,
  type BaseInfo,
  type CacheInfo,
  type NodeDeclaration,
  type NodeState,
  type SnapshotQuery,
  type SortKey,
  type StatusSnapshot,
  type TransferEnd,
  type TransferStart,
} from './types.js';

/** What the tracker does not see itself; all optional, all called at snapshot time only. */
export interface StatusProviders {
  /** The open bases (URL, size, validator, cached and upstream bytes, state, boot estimate). */
  readonly bases?: () => readonly BaseInfo[];
  readonly cache?: () => CacheInfo | undefined;
  /** A cumulative counter of bytes fetched from upstream, sampled for the throughput chart. */
  readonly upstreamTotal?: () => number;
  /** The bytes a boot from this base reads; wins over BaseInfo.bootBytes. */
  readonly bootBytes?: (base: string) => number | undefined;
}

export interface WaveTrackerOptions extends StatusProviders {
  /** The clock, ms since the epoch (tests pin it). */
  readonly now?: () => number;
  /** An open transfer with no byte for this long is stalled. Default 15 s. */
  readonly stallAfterMs?: number;
  /** A node with no transfer for this long is idle. Default 10 s (BMCs pause between ranges). */
  readonly idleAfterMs?: number;
  /** Distinct bytes below which an active node is still mounting. Default 1 MiB. */
  readonly mountingBytes?: number;
  /** Intervals kept per node before coarsening. Default 32. */
  readonly maxIntervals?: number;
  /** Nodes tracked at most; past it the least recently active are dropped. Default 20,000. */
  readonly maxNodes?: number;
  /** Seconds of throughput history. Default 300. */
  readonly historySeconds?: number;
}

export const DEFAULT_STALL_AFTER_MS = 15_000;
export const DEFAULT_IDLE_AFTER_MS = 10_000;
export const DEFAULT_MOUNTING_BYTES = 1024 * 1024;
export const DEFAULT_MAX_NODES = 20_000;
export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 500;
/** Longest edits summary kept per node. */
const MAX_SUMMARY = 200;

export class WaveTracker {
  readonly stallAfterMs: number;
  readonly idleAfterMs: number;
  readonly mountingBytes: number;
  readonly maxIntervals: number;
  readonly maxNodes: number;
  private readonly now: () => number;
  private providers: StatusProviders;
  private readonly nodes = new Map<string, NodeRecord>();
  private readonly served: SecondRing;
  private readonly upstreamRing: SecondRing;
  private upstreamSample: { at: number; total: number } | undefined;
  private openTotal = 0;

  constructor(options: WaveTrackerOptions = {}) {
    this.now = options.now ?? Date.now;
    this.stallAfterMs = options.stallAfterMs ?? DEFAULT_STALL_AFTER_MS;
    this.idleAfterMs = options.idleAfterMs ?? DEFAULT_IDLE_AFTER_MS;
    this.mountingBytes = options.mountingBytes ?? DEFAULT_MOUNTING_BYTES;
    this.maxIntervals = options.maxIntervals ?? DEFAULT_MAX_INTERVALS;
    this.maxNodes = options.maxNodes ?? DEFAULT_MAX_NODES;
    const history = (options.historySeconds ?? 300) + 1;
    const t = this.now();
    this.served = new SecondRing(history, t);
    this.upstreamRing = new SecondRing(history, t);
    this.providers = { ...options };
  }

  /** Replaces the providers (the composition root may build the tracker before the service). */
  setProviders(providers: StatusProviders): void {
    this.providers = { ...providers };
    this.upstreamSample = undefined;
  }

  get nodeCount(): number {
    return this.nodes.size;
  }

  /** A node the store knows: shown as never fetched until its first transfer. Updates metadata. */
  declare(node: NodeDeclaration): void {
    const rec = this.record(node.name, this.now());
    if (node.source !== undefined) rec.source = node.source;
    if (node.base !== undefined) setBase(rec, node.base);
    if (node.edits !== undefined) rec.edits = node.edits.length > MAX_SUMMARY ? `${node.edits.slice(0, MAX_SUMMARY - 1)}…` : node.edits;
    if (node.etag !== undefined) rec.etag = node.etag;
    if (node.imageSize !== undefined) rec.imageSize = node.imageSize;
    if ('expiresAt' in node) rec.expiresAtMs = parseExpiry(node.expiresAt);
  }

  /** A node deleted from its source. */
  forget(name: string): void {
    const rec = this.nodes.get(name);
    if (rec) this.openTotal -= rec.open;
    this.nodes.delete(name);
  }

  transferStart(e: TransferStart): void {
    const at = e.at ?? this.now();
    const rec = this.record(e.node, at);
    rec.source = e.source;
    if (e.base !== undefined) setBase(rec, e.base);
    if (e.imageSize !== undefined) rec.imageSize = e.imageSize;
    if (e.etag !== undefined) rec.etag = e.etag;
    rec.firstAccessAt ??= at;
    rec.lastActivityAt = at;
    rec.lastProgressAt = at;
    rec.open++;
    this.openTotal++;
    rec.transfers++;
    rec.lastMethod = e.method;
    rec.lastStart = e.start;
    rec.lastEnd = e.end;
  }

  /** length bytes at offset of the node's image were written to a client. O(1) amortized. */
  bytes(node: string, offset: number, length: number): void {
    if (!(length > 0)) return;
    const at = this.now();
    let rec = this.nodes.get(node);
    if (!rec) {
      rec = this.record(node, at);
      rec.firstAccessAt = at;
    }
    rec.intervals ??= new IntervalSet(this.maxIntervals);
    rec.intervals.add(offset, offset + length);
    if (at - rec.lastByteAt > RATE_SECONDS * 1000) rec.streakAt = at;
    rec.rate ??= new SecondRing(RATE_SECONDS + 1, at);
    rec.rate.add(at, length);
    rec.servedBytes += length;
    rec.lastByteAt = at;
    rec.lastProgressAt = at;
    rec.lastActivityAt = at;
    this.served.add(at, length);
  }

  /** Bytes fetched from upstream, when fed directly rather than by the upstreamTotal provider. */
  upstream(length: number): void {
    if (length > 0) this.upstreamRing.add(this.now(), length);
  }

  transferEnd(e: TransferEnd): void {
    const at = e.at ?? this.now();
    const rec = this.nodes.get(e.node);
    if (!rec) return;
    // A request that failed before its body began (a base that cannot be opened) ends without a
    // start: the node was still asked for.
    rec.firstAccessAt ??= at;
    if (rec.open > 0) {
      rec.open--;
      this.openTotal--;
    }
    rec.lastActivityAt = Math.max(rec.lastActivityAt, at);
    rec.lastStatus = e.status;
    if (e.status === 410) {
      rec.gone = true;
    } else if (e.code !== undefined || (e.status >= 400 && e.status !== 416)) {
      rec.error = { status: e.status, code: e.code, at };
    } else {
      rec.lastOkAt = at;
      rec.gone = false;
    }
  }

  /** The whole view, or one page of nodes of it. */
  snapshot(query: SnapshotQuery = {}): StatusSnapshot {
    const now = this.now();
    this.sampleUpstream(now);
    const bases = this.providers.bases?.() ?? [];
    const bootByBase = new Map<string, number>();
    for (const b of bases) if (b.bootBytes !== undefined) bootByBase.set(b.url, b.bootBytes);
    const bootFor = (base: string | undefined): number | undefined =>
      base === undefined ? undefined : (this.providers.bootBytes?.(base) ?? bootByBase.get(base));

    const byState = Object.fromEntries(NODE_STATES.map((s) => [s, 0])) as Record<NodeState, number>;
    const filter = (query.filter ?? '').trim().toLowerCase();
    const states = query.states && query.states.length > 0 ? new Set(query.states) : undefined;
    const matching: Computed[] = [];
    for (const rec of this.nodes.values()) {
      const c = computeNode(rec, now, bootFor(rec.base), this);
      byState[c.state]++;
      if (states && !states.has(c.state)) continue;
      if (filter !== '' && !matches(rec, c.state, filter)) continue;
      matching.push(c);
    }
    const sort: SortKey = query.sort ?? 'name';
    const order = query.order ?? (sort === 'rate' || sort === 'lastAccess' || sort === 'progress' ? 'desc' : 'asc');
    const cmp = comparator(sort);
    const sign = order === 'asc' ? 1 : -1;
    matching.sort((a, b) => sign * cmp(a, b) || (a.rec.name < b.rec.name ? -1 : a.rec.name > b.rec.name ? 1 : 0));
    const limit = Math.max(0, Math.min(MAX_LIMIT, Math.floor(query.limit ?? DEFAULT_LIMIT)));
    const offset = Math.max(0, Math.floor(query.offset ?? 0));
    const items = matching.slice(offset, offset + limit).map(nodeRow);

    const cache = this.providers.cache?.();
    const served = this.served.series(now);
    const upstream = this.upstreamRing.series(now);
    return {
      version: 1,
      now: new Date(now).toISOString(),
      settings: { stallAfterMs: this.stallAfterMs, idleAfterMs: this.idleAfterMs, mountingBytes: this.mountingBytes },
      totals: {
        nodes: this.nodes.size,
        byState,
        openTransfers: this.openTotal,
        servedBytesPerSecond: Math.round(this.served.rate(now, RATE_SECONDS)),
        upstreamBytesPerSecond: Math.round(this.upstreamRing.rate(now, RATE_SECONDS)),
      },
      nodes: { total: matching.length, offset, limit, sort, order, filter: query.filter ?? '', items },
      throughput: { endMs: served.endMs, intervalMs: 1000, served: served.values.map(Math.round), upstream: upstream.values.map(Math.round) },
      bases: bases.map((b) => ({ ...b, url: redactUrl(b.url) })),
      cache: cache ? { ...cache, hitRatio: cache.hits + cache.misses > 0 ? cache.hits / (cache.hits + cache.misses) : null } : null,
    };
  }

  /** The source a node was declared or fetched from (undefined when not tracked or not known). */
  sourceOf(name: string): string | undefined {
    return this.nodes.get(name)?.source;
  }

  /** The state of one node now (undefined when not tracked). */
  stateOf(name: string): NodeState | undefined {
    const rec = this.nodes.get(name);
    return rec ? nodeState(rec, this.now(), rec.intervals?.coveredBytes ?? 0, this) : undefined;
  }

  private record(name: string, at: number): NodeRecord {
    let rec = this.nodes.get(name);
    if (!rec) {
      if (this.nodes.size >= this.maxNodes) this.evict();
      rec = new NodeRecord(name, at);
      this.nodes.set(name, rec);
    }
    return rec;
  }

  /** Drops the least recently active 1% (at least one) of nodes without an open transfer. */
  private evict(): void {
    const candidates = [...this.nodes.values()].filter((r) => r.open === 0);
    candidates.sort((a, b) => Math.max(a.lastActivityAt, a.touchedAt) - Math.max(b.lastActivityAt, b.touchedAt));
    const n = Math.max(1, Math.floor(this.maxNodes / 100));
    for (const r of candidates.slice(0, n)) this.nodes.delete(r.name);
  }

  private sampleUpstream(now: number): void {
    const read = this.providers.upstreamTotal;
    if (!read) return;
    const total = read();
    const last = this.upstreamSample;
    this.upstreamSample = { at: now, total };
    // The first sample only sets the baseline: bytes fetched before the tracker existed are history.
    if (last && total > last.total) this.upstreamRing.spread(last.at, now, total - last.total);
  }
}
