// The shapes the status view is made of: transfer events in (from the serving core's per-transfer
// observer), providers for what the tracker does not see itself (bases, the cache), and the JSON
// snapshot out (for /ui/api/status, the page and `isoproxy status`). Times are milliseconds since
// the epoch in events and ISO 8601 strings in the snapshot.

/** What a node is doing, most urgent first in `NODE_STATES`. */
export type NodeState = 'error' | 'stalled' | 'reading' | 'mounting' | 'idle' | 'expired' | 'never';

export const NODE_STATES: readonly NodeState[] = ['error', 'stalled', 'reading', 'mounting', 'idle', 'expired', 'never'];

/** A transfer begins: one request for a node's image (GET or HEAD) that the server answers. */
export interface TransferStart {
  readonly node: string;
  /** Which NodeSource resolved the node ("store", "ironic", ...). */
  readonly source: string;
  readonly method: string;
  /** First byte of the range being served. */
  readonly start: number;
  /** One past the last byte being served (exclusive): start === end for HEAD, 304 and empty bodies. */
  readonly end: number;
  /** When, in ms since the epoch; default the tracker's clock. */
  readonly at?: number;
  /** The node's image size, when the server knows it (it does to answer a range). */
  readonly imageSize?: number;
  /** The node's base image URL (credentials are stripped before anything shows it). */
  readonly base?: string;
  readonly etag?: string;
}

/** A transfer ends, after its last byte or its failure. */
export interface TransferEnd {
  readonly node: string;
  /** The HTTP status answered (206, 200, 304, 410, 500, ...). */
  readonly status: number;
  /**
   * The error code when the transfer failed on isoproxy's side (UPSTREAM_*, ISO_FORMAT, ...).
   * Leave it out when the client went away: BMCs cancel reads all the time.
   */
  readonly code?: string;
  readonly at?: number;
}

/** What the node store (or another source) says about a node, for nodes not fetched yet. */
export interface NodeDeclaration {
  readonly name: string;
  readonly source?: string;
  readonly base?: string;
  /** A one-line summary of the node's edits ("append 2, set 1"); the page fetches the full diff on hover. */
  readonly edits?: string;
  readonly etag?: string;
  /** ISO 8601 or ms since the epoch; past it the node shows as expired. */
  readonly expiresAt?: string | number;
  readonly imageSize?: number;
}

/** A base image, from the service's open bases. */
export interface BaseInfo {
  readonly url: string;
  readonly size?: number;
  /** The validator the cache keys on: an ETag or a Last-Modified date. */
  readonly validator?: string;
  /** Bytes of this base in the block cache. */
  readonly cachedBytes?: number;
  /** Bytes fetched from upstream for this base. */
  readonly upstreamBytes?: number;
  readonly state: 'indexing' | 'ready' | 'failed';
  /** The error code when failed. */
  readonly code?: string;
  /** The bytes a boot from this base reads, when the lead has an estimate. */
  readonly bootBytes?: number;
}

/** The block cache, from its counters. */
export interface CacheInfo {
  readonly budgetBytes: number;
  readonly usedBytes: number;
  readonly hits: number;
  readonly misses: number;
  readonly evictions: number;
  readonly degraded: boolean;
  readonly blocks?: number;
  readonly errors?: number;
}

export type SortKey = 'name' | 'state' | 'progress' | 'rate' | 'lastAccess' | 'source' | 'base';
export const SORT_KEYS: readonly SortKey[] = ['name', 'state', 'progress', 'rate', 'lastAccess', 'source', 'base'];

export interface SnapshotQuery {
  readonly sort?: SortKey;
  readonly order?: 'asc' | 'desc';
  /** Case-insensitive substring of name, source, base or state. */
  readonly filter?: string;
  /** Only nodes in these states. */
  readonly states?: readonly NodeState[];
  readonly offset?: number;
  readonly limit?: number;
}

export interface NodeRow {
  readonly name: string;
  readonly source: string | null;
  /** Base URL with credentials and query stripped. */
  readonly base: string | null;
  readonly edits: string | null;
  readonly etag: string | null;
  readonly state: NodeState;
  /** Distinct bytes reached the boot estimate (or the whole image when there is none). */
  readonly complete: boolean;
  /** Distinct bytes served (may overstate by at most coarsenedBytes). */
  readonly distinctBytes: number;
  readonly coarsenedBytes: number;
  readonly bootBytes: number | null;
  readonly imageSize: number | null;
  /** distinctBytes / bootBytes, at most 1; null without an estimate. */
  readonly bootProgress: number | null;
  /** distinctBytes / imageSize; null when the size is unknown. */
  readonly imageProgress: number | null;
  /** Bytes per second over the last few seconds. */
  readonly rateBytesPerSecond: number;
  readonly servedBytes: number;
  readonly transfers: number;
  readonly openTransfers: number;
  readonly lastAccess: string | null;
  readonly lastRange: { readonly method: string; readonly start: number; readonly end: number } | null;
  readonly lastStatus: number | null;
  readonly error: { readonly status: number; readonly code: string | null; readonly at: string } | null;
  readonly expiresAt: string | null;
  /** The served intervals as fractions of the image, for a coverage strip (at most a few dozen). */
  readonly coverage: ReadonlyArray<readonly [number, number]> | null;
}

export interface BaseRow extends Omit<BaseInfo, 'url'> {
  readonly url: string;
}

export interface CacheRow extends CacheInfo {
  /** hits / (hits + misses); null before the first lookup. */
  readonly hitRatio: number | null;
}

export interface StatusSnapshot {
  readonly version: 1;
  readonly now: string;
  readonly settings: { readonly stallAfterMs: number; readonly idleAfterMs: number; readonly mountingBytes: number };
  readonly totals: {
    readonly nodes: number;
    readonly byState: Readonly<Record<NodeState, number>>;
    readonly openTransfers: number;
    readonly servedBytesPerSecond: number;
    readonly upstreamBytesPerSecond: number;
  };
  readonly nodes: {
    /** Nodes matching the filter. */
    readonly total: number;
    readonly offset: number;
    readonly limit: number;
    readonly sort: SortKey;
    readonly order: 'asc' | 'desc';
    readonly filter: string;
    readonly items: readonly NodeRow[];
  };
  readonly throughput: {
    /** The end of the last complete second, ms since the epoch. */
    readonly endMs: number;
    readonly intervalMs: 1000;
    /** Served and upstream bytes per second, oldest first. */
    readonly served: readonly number[];
    readonly upstream: readonly number[];
  };
  readonly bases: readonly BaseRow[];
  readonly cache: CacheRow | null;
}

/**
 * What the page and `isoproxy status` ask of the status view: a WaveTracker in a single process;
 * in a cluster worker, the primary's tracker over IPC (src/cluster/status-hub.ts).
 */
export interface StatusView {
  snapshot(query: SnapshotQuery): StatusSnapshot | Promise<StatusSnapshot>;
  /** The source a node was declared or fetched from (undefined when not tracked). */
  sourceOf(name: string): string | undefined | Promise<string | undefined>;
}
