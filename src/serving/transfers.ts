// Per-transfer observation: one hook for everything that watches image transfers (the log line
// and metrics today, a live status page next). Whoever writes a body begins a Transfer, reports
// each chunk it wrote with `bytes(offset, length)` and ends it once. A chunk costs one call per
// observer that asked for chunks, and nothing else: observers must keep per-chunk work O(1)
// (count into a per-node summary, never keep a per-chunk list).
//
// Requests that write no body (HEAD, 304) are transfers too, with `body: false` and no chunks, so
// a watcher can tell a BMC probing an image from one reading it.

import type { NodeRef, TransferStats } from './types.js';

export type TransferOutcome = 'complete' | 'aborted' | 'failed';

export interface TransferInfo {
  /** The request id. */
  readonly id: string;
  readonly ref: NodeRef;
  readonly method: string;
  /** The status the response was committed with. */
  readonly status: number;
  /** False for HEAD and 304: nothing of the image is sent. */
  readonly body: boolean;
  /** The Range header as sent, if any. */
  readonly rangeHeader?: string;
  /** What is served: "full", "0-1023" or "0-1,5-9" (multipart). */
  readonly served: string;
  /** [start, end) of the image bytes served: the first range's start to the last range's end. */
  readonly span?: { readonly start: number; readonly end: number };
  /** Bytes the response promised (Content-Length). */
  readonly expectedBytes: number;
  /** performance.now() at the start. */
  readonly startedAt: number;
}

export interface TransferEnd {
  /** Body bytes written (multipart headers included). */
  readonly bytes: number;
  readonly outcome: TransferOutcome;
  readonly error?: unknown;
  readonly stats?: TransferStats;
  readonly durationMs: number;
}

export interface TransferObserver {
  start?(t: TransferInfo): void;
  /** Image bytes [offset, offset + length) went to the client. Called per chunk: keep it O(1). */
  bytes?(t: TransferInfo, offset: number, length: number): void;
  /** Called once per started transfer. */
  end?(t: TransferInfo, end: TransferEnd): void;
}

/** One transfer in progress, as its writer reports it. */
export interface Transfer {
  readonly info: TransferInfo;
  bytes(offset: number, length: number): void;
  /** Idempotent: only the first call counts. */
  end(result: Omit<TransferEnd, 'durationMs'>): void;
}

export interface TransferHub {
  /** Adds an observer; returns the function that removes it. */
  observe(observer: TransferObserver): () => void;
  begin(info: Omit<TransferInfo, 'startedAt'>): Transfer;
  /** Transfers with a body that have begun and not ended. */
  active(): number;
  /** Resolves when no transfer with a body is active. */
  idle(): Promise<void>;
}

const NO_BYTES = (): void => {};

export function createTransferHub(): TransferHub {
  let observers: TransferObserver[] = [];
  // The observers that want chunks, so a chunk with nobody watching costs one empty call.
  let chunkObservers: TransferObserver[] = [];
  let active = 0;
  let waiters: Array<() => void> = [];

  const settle = (): void => {
    if (active !== 0) return;
    const w = waiters;
    waiters = [];
    for (const resolve of w) resolve();
  };

  return {
    observe(observer) {
      observers = [...observers, observer];
      chunkObservers = observers.filter((o) => o.bytes);
      return () => {
        observers = observers.filter((o) => o !== observer);
        chunkObservers = observers.filter((o) => o.bytes);
      };
    },
    begin(partial) {
      // Listed, not spread: a spread followed by another property took V8's slow path (a new
      // hidden class copied) on every request, and so did the end's below.
      const info: TransferInfo = {
        id: partial.id,
        ref: partial.ref,
        method: partial.method,
        status: partial.status,
        body: partial.body,
        rangeHeader: partial.rangeHeader,
        served: partial.served,
        span: partial.span,
        expectedBytes: partial.expectedBytes,
        startedAt: performance.now(),
      };
      // Observers that join mid-transfer see its end but not its start: they are fixed here.
      const watching = observers;
      const perChunk = chunkObservers;
      if (info.body) active += 1;
      for (const o of watching) o.start?.(info);
      let ended = false;
      const bytes =
        perChunk.length === 0
          ? NO_BYTES
          : perChunk.length === 1
            ? (offset: number, length: number): void => perChunk[0]!.bytes!(info, offset, length)
            : (offset: number, length: number): void => {
                for (const o of perChunk) o.bytes!(info, offset, length);
              };
      return {
        info,
        bytes,
        end(result) {
          if (ended) return;
          ended = true;
          const done: TransferEnd = {
            bytes: result.bytes,
            outcome: result.outcome,
            error: result.error,
            stats: result.stats,
            durationMs: Math.round((performance.now() - info.startedAt) * 1000) / 1000,
          };
          if (info.body) active -= 1;
          for (const o of watching) o.end?.(info, done);
          settle();
        },
      };
    },
    active: () => active,
    idle: () => (active === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve))),
  };
}
