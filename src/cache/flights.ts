// Single-flight upstream fetches: N readers of a missing block share one fetch, and get its bytes
// from memory until the block is on disk (the flight stays in the table until its write ends). A
// reader that aborts stops waiting at once; the fetch itself is aborted when no reader is left,
// unless it is detached (a sequential fill runs to the end whoever waits). Each fetch has a total
// budget, retries included (fetchTimeoutMs): an upstream that trickles or stalls fails its readers
// with UPSTREAM_TIMEOUT instead of holding them for minutes.

import { UpstreamError } from '../errors.js';
import { abortReason, isAbortError } from '../io/abort.js';
import { readStreamFully } from '../io/read-fully.js';
import type { LoggerLike } from '../upstream/types.js';
import type { BlockIndex } from './block-index.js';
import type { BlockWriter } from './block-writer.js';
import { armFetchBudget, blockKey, blockLength, type Counters, type Flight, type SourceState, type Tasks } from './parts.js';
import { startFill } from './sequential-fill.js';

export interface FlightDeps {
  readonly blockSize: number;
  /** Budget of one block fetch from upstream, retries included (BlockCacheOptions.fetchTimeoutMs). */
  readonly fetchTimeoutMs: number;
  readonly index: BlockIndex;
  readonly writer: BlockWriter;
  readonly counters: Counters;
  readonly tasks: Tasks;
  readonly logger: LoggerLike | undefined;
}

export class Flights {
  private readonly table = new Map<string, Flight>();

  constructor(private readonly deps: FlightDeps) {}

  has(key: string): boolean {
    return this.table.has(key);
  }

  /** Registers a flight someone else drives (the sequential fill). */
  add(key: string, flight: Flight): void {
    this.table.set(key, flight);
  }

  /** Removes the flight, unless a newer one took its key meanwhile. */
  remove(key: string, flight: Flight): void {
    if (this.table.get(key) === flight) this.table.delete(key);
  }

  abortAll(reason: unknown): void {
    for (const f of this.table.values()) f.controller.abort(reason);
  }

  /**
   * Waits for block `index` from upstream, sharing one fetch among all waiters. A waiter that
   * aborts stops waiting at once; the fetch itself is aborted when no waiter is left.
   */
  join(state: SourceState, index: number, signal?: AbortSignal): Promise<Uint8Array> {
    return this.joinFlight(this.flightFor(state, index), signal);
  }

  /**
   * `join`, and then the flight's write: resolves with the bytes once the block is on disk, or
   * once the cache has given up keeping it (full, degraded, dropped version).
   */
  async joinStored(state: SourceState, index: number, signal?: AbortSignal): Promise<Uint8Array> {
    const flight = this.flightFor(state, index);
    const bytes = await this.joinFlight(flight, signal);
    await flight.stored?.catch(() => {});
    return bytes;
  }

  /** Without a signal the waiter never stops waiting (a readahead, another process's miss). */
  private joinFlight(flight: Flight, signal: AbortSignal | undefined): Promise<Uint8Array> {
    flight.refs++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      flight.refs--;
      if (flight.refs === 0 && !flight.detached && !flight.settled) flight.controller.abort(new DOMException('no reader left', 'AbortError'));
    };
    return new Promise<Uint8Array>((resolve, reject) => {
      const onAbort = () => {
        release();
        reject(abortReason(signal!));
      };
      if (signal?.aborted) return onAbort();
      // One listener per waiter: a shared signal that never aborts would collect them by the
      // hundred (and Node's warning), so none is passed then.
      signal?.addEventListener('abort', onAbort, { once: true });
      flight.promise.then(
        (bytes) => {
          signal?.removeEventListener('abort', onAbort);
          release();
          resolve(bytes);
        },
        (err: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          release();
          reject(err);
        },
      );
    });
  }

  private flightFor(state: SourceState, index: number): Flight {
    const key = blockKey(state.vk, index);
    const existing = this.table.get(key);
    if (existing) return existing;
    if (!state.upstream.supportsRanges && this.deps.writer.writesEnabled()) {
      startFill(state, { ...this.deps, flights: this });
      const filled = this.table.get(key);
      if (filled) return filled;
    }
    return this.startFetch(state, index);
  }

  private startFetch(state: SourceState, index: number): Flight {
    const { blockSize, counters, writer, tasks, logger, fetchTimeoutMs } = this.deps;
    const key = blockKey(state.vk, index);
    const controller = new AbortController();
    const length = blockLength(state, blockSize, index);
    const start = index * blockSize;
    const url = state.upstream.version.url;
    const promise = (async () => {
      counters.upstreamRequests++;
      // The whole fetch, time queued for a free upstream connection included: its readers wait all of it.
      const disarm = armFetchBudget(controller, fetchTimeoutMs, url, `block ${index}`);
      try {
        return await this.fetchBytes(state, index, start, length, controller.signal);
      } finally {
        disarm();
      }
    })();
    const flight: Flight = { promise, controller, refs: 0, detached: false, settled: false };
    this.table.set(key, flight);
    promise.then(
      (bytes) => {
        flight.settled = true;
        // Kept in the table until it is on disk, so a reader arriving meanwhile gets the bytes.
        flight.stored = writer.persist(state, index, bytes).finally(() => this.remove(key, flight));
        tasks.track(flight.stored);
      },
      (err: unknown) => {
        flight.settled = true;
        this.remove(key, flight);
        if (!isAbortError(err)) {
          counters.errors++;
          const code = (err as { code?: string }).code;
          logger?.warn({ url: state.upstream.version.url, block: index, err: (err as Error).message, code }, 'upstream block fetch failed');
        }
      },
    );
    return flight;
  }

  private async fetchBytes(state: SourceState, index: number, start: number, length: number, signal: AbortSignal): Promise<Uint8Array> {
    // Allocated on the first byte: fetches queued behind a busy upstream hold no memory.
    const { bytes, received } = await readStreamFully(state.upstream.stream(start, length, signal), length, { lazy: true });
    if (bytes === undefined || received !== length) {
      throw new UpstreamError('UPSTREAM_BAD_RANGE', state.upstream.version.url, `block ${index}: got ${received} of ${length} bytes`);
    }
    this.deps.counters.upstreamBytes += length;
    this.deps.index.tally.addUpstream(state.vk, length);
    return bytes;
  }
}
