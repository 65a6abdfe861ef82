// The messages between a cluster's primary and its serving workers (src/cluster), and a small
// request/response channel over Node's IPC. Messages use the "advanced" serialization (structured
// clone), so a block's bytes, when they cross, cross as one Uint8Array, not as JSON.
//
// Worker -> primary: `open` a base (its version), `ensure` a block on disk on a miss (the answer
// names its file; the bytes only when the cache could not keep it), a `block`'s bytes when its
// file went before the worker opened it, `prefetch` blocks
// (one-way), the blocks it `read` from their files (one-way, for the primary's LRU), node store
// operations, the summed `/metrics` text, a block file's `checked` identity, and the cache's per-version
// figures for the status page (`cache.sources`), a node's `patchset` (computed in the primary),
// the `status` of its transfers (one-way, batched:
// src/status/relay.ts), and the status page's `status.snapshot` and a node's `status.source`
// (src/cluster/status-hub.ts). Primary -> worker: the
// worker's `metrics` text at scrape time, node `changed` (one-way, to every worker) and
// `shutdown` (one-way), and client connections (with their sockets, outside the channel). Errors cross as result
// objects (structured clone drops an error's class and code) and are rebuilt on the far side with
// the class the HTTP layer maps to a status.

import { BaseChangedError, fromResult, toResult, UpstreamError, type UpstreamErrorCode } from '../errors.js';
import type { NormalizedEdits } from '../bootconfig/index.js';
import type { RelayBatch } from '../status/relay-wire.js';
import type { BaseInfo, CacheInfo, SnapshotQuery } from '../status/types.js';

/** Set in a forked worker's environment: run.ts serves as a worker instead of parsing argv as a primary. */
export const WORKER_ENV = 'ISOPROXY_CLUSTER_WORKER';
/** Set in a forked worker's environment: the URL of the primary's listener, which hands it connections. */
export const CLUSTER_URL_ENV = 'ISOPROXY_CLUSTER_URL';

export interface WireVersion {
  readonly url: string;
  readonly size: number;
  readonly etag?: string;
  readonly lastModified?: string;
  readonly supportsRanges: boolean;
}

/** A serving part's cache reads so far (RemoteBlockCache's counters). */
export interface CacheReads {
  readonly hits: number;
  readonly misses: number;
}

export type WireError = ReturnType<typeof toResult> & { readonly url?: string; readonly status?: number };

export type Request =
  | { readonly op: 'open'; readonly url: string }
  | { readonly op: 'block'; readonly vk: string; readonly index: number }
  /** A block on disk (fetched first if missing): the CRC and length naming its file, or its bytes when the cache could not keep it. */
  | { readonly op: 'ensure'; readonly vk: string; readonly index: number }
  | { readonly op: 'store.get'; readonly name: string }
  | { readonly op: 'store.put'; readonly spec: unknown }
  | { readonly op: 'store.delete'; readonly name: string }
  | { readonly op: 'store.list'; readonly after?: string; readonly limit: number }
  | { readonly op: 'metrics' }
  /** Bytes on disk and fetched from upstream of these base versions, and the whole cache's stats (the primary owns the cache). */
  | { readonly op: 'cache.sources'; readonly vks: readonly string[] }
  /** The identity of a block file as the primary checked it (checking it first if needed). */
  | { readonly op: 'checked'; readonly vk: string; readonly index: number }
  /** A node's patch set, computed in the primary once for every worker (primary-patch-sets.ts). */
  | { readonly op: 'patchset'; readonly vk: string; readonly edits: NormalizedEdits; readonly node?: string }
  /** A serving part's own reads of the cache, answered by each part: the status page sums them, as /metrics does. */
  | { readonly op: 'cache.reads' }
  /** The cluster's status view, with the asking worker's open bases and view of the cache. */
  | { readonly op: 'status.snapshot'; readonly query: SnapshotQuery; readonly bases: readonly BaseInfo[]; readonly cache?: CacheInfo }
  /** The source a node was declared or fetched from, for the page's diff. */
  | { readonly op: 'status.source'; readonly name: string };

/** One-way messages. */
export type Notice =
  | { readonly op: 'prefetch'; readonly vk: string; readonly indexes: readonly number[] }
  /** Blocks a worker read from their files, which the primary's LRU did not see. */
  | { readonly op: 'read'; readonly vk: string; readonly indexes: readonly number[] }
  | { readonly op: 'changed'; readonly name?: string }
  /** The part is ready: the primary's listener may hand it connections. */
  | { readonly op: 'ready' }
  /** What a worker's transfers did, for the primary's status view. */
  | { readonly op: 'status'; readonly batch: RelayBatch }
  | { readonly op: 'shutdown' };

type Envelope =
  | { readonly isoproxy: 'req'; readonly id: number; readonly body: Request }
  | { readonly isoproxy: 'res'; readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly isoproxy: 'res'; readonly id: number; readonly ok: false; readonly error: WireError }
  | { readonly isoproxy: 'note'; readonly body: Notice };

/**
 * A client connection the primary accepted, for a worker to serve: sent with the socket as the
 * message's handle (src/cluster/listener.ts), outside any channel. The worker answers with a
 * TookMessage of the same id, and serves the socket only once that answer is written.
 */
export interface ConnectionMessage {
  readonly isoproxy: 'connection';
  readonly id: number;
}

export const connectionMessage = (id: number): ConnectionMessage => ({ isoproxy: 'connection', id });

/** A message outside the channels: `{ isoproxy: kind, id }` with a whole-number id. */
const isIdMessage = (m: unknown, kind: string): boolean =>
  typeof m === 'object' && m !== null && (m as { isoproxy?: unknown }).isoproxy === kind && Number.isSafeInteger((m as { id?: unknown }).id);

export function isConnectionMessage(m: unknown): m is ConnectionMessage {
  return isIdMessage(m, 'connection');
}

/** A worker's answer to a ConnectionMessage: it serves the connection (ok), or no socket came with it. */
export interface TookMessage {
  readonly isoproxy: 'took';
  readonly id: number;
  readonly ok: boolean;
}

export function isTookMessage(m: unknown): m is TookMessage {
  return isIdMessage(m, 'took') && typeof (m as { ok?: unknown }).ok === 'boolean';
}

/** What a channel runs over: `process` in a worker, a cluster Worker in the primary. */
export interface Port {
  send(message: unknown, ...rest: unknown[]): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

export function toWire(err: unknown): WireError {
  const base = toResult(err);
  if (err instanceof UpstreamError) return { ...base, url: err.url, ...(err.status !== undefined ? { status: err.status } : {}) };
  return base;
}

/** The error again, as a class the HTTP layer maps (UpstreamError keeps its URL and status). */
export function fromWire(e: WireError): Error {
  if (e.name === 'AbortError') return new DOMException(e.message, 'AbortError');
  if (e.name === 'BaseChangedError') return new BaseChangedError(e.url ?? '', e.message);
  if (e.name === 'UpstreamError') {
    const err = new UpstreamError(e.code as UpstreamErrorCode, e.url ?? '', '', e.status);
    err.message = e.message;
    return err;
  }
  if (e.code === 'INTERNAL') return new Error(e.message);
  return fromResult(e);
}

export type Handler = (req: Request) => Promise<unknown>;

/**
 * Requests both ways over one port. Replies to requests it sent resolve their promises; requests
 * it receives go to `handler`; notices to `onNotice`. A port that goes away fails what is pending.
 */
export class Channel {
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  private readonly listener = (m: unknown): void => this.receive(m);
  private closed = false;

  constructor(
    private readonly port: Port,
    private readonly handler: Handler,
    private readonly onNotice: (n: Notice) => void = () => {},
  ) {
    port.on('message', this.listener);
  }

  request<T>(body: Request): Promise<T> {
    if (this.closed) return Promise.reject(new Error('cluster channel closed'));
    const id = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      if (!this.trySend({ isoproxy: 'req', id, body })) {
        this.pending.delete(id);
        reject(new Error('cluster channel closed'));
      }
    });
  }

  notify(body: Notice): void {
    this.trySend({ isoproxy: 'note', body });
  }

  /** The far side went away: fails what is pending, and further requests. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.port.off('message', this.listener);
    for (const p of this.pending.values()) p.reject(new Error('cluster peer went away'));
    this.pending.clear();
  }

  private trySend(e: Envelope): boolean {
    try {
      // A peer that exited throws ERR_IPC_CHANNEL_CLOSED synchronously or reports it here.
      return this.port.send(e, undefined, {}, (err: Error | null) => {
        if (err) this.failOne(e);
      });
    } catch {
      return false;
    }
  }

  private failOne(e: Envelope): void {
    if (e.isoproxy !== 'req') return;
    const p = this.pending.get(e.id);
    this.pending.delete(e.id);
    p?.reject(new Error('cluster peer went away'));
  }

  private receive(m: unknown): void {
    const e = m as Envelope | null;
    if (typeof e !== 'object' || e === null || !('isoproxy' in e)) return;
    if (e.isoproxy === 'note') {
      this.onNotice(e.body);
    } else if (e.isoproxy === 'res') {
      const p = this.pending.get(e.id);
      if (!p) return;
      this.pending.delete(e.id);
      if (e.ok) p.resolve(e.value);
      else p.reject(fromWire(e.error));
    } else if (e.isoproxy === 'req') {
      const { id } = e;
      this.handler(e.body).then(
        (value) => this.trySend({ isoproxy: 'res', id, ok: true, value }),
        (err: unknown) => this.trySend({ isoproxy: 'res', id, ok: false, error: toWire(err) }),
      );
    }
  }
}
