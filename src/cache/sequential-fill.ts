// For an upstream that ignores Range: one sequential read of the whole image, cut into blocks.
// Every block not cached gets a flight up front, so readers anywhere in the image wait for this one
// download instead of starting their own from byte 0 (which would be quadratic). The download
// waits for each block's write, so blocks do not pile up in memory faster than the disk takes them.
// Each block has the budget of one block fetch: a download that stalls fails every waiting reader
// with UPSTREAM_TIMEOUT.

import { isAbortError } from '../io/abort.js';
import type { FlightDeps, Flights } from './flights.js';
import { armFetchBudget, blockKey, blockLength, type Flight, type SourceState } from './parts.js';

interface Pending {
  readonly resolve: (b: Uint8Array) => void;
  readonly reject: (e: unknown) => void;
  readonly flight: Flight;
}

export function startFill(state: SourceState, deps: FlightDeps & { readonly flights: Flights }): void {
  if (state.fillRunning) return;
  state.fillRunning = true;
  const { blockSize, index, writer, counters, tasks, logger, flights, fetchTimeoutMs } = deps;
  const url = state.upstream.version.url;
  const controller = new AbortController();
  const pending = new Map<number, Pending>();
  for (let b = 0; b < state.blockCount; b++) {
    const key = blockKey(state.vk, b);
    if (index.has(key) || flights.has(key)) continue;
    let resolve!: (b: Uint8Array) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<Uint8Array>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => {});
    const flight: Flight = { promise, controller, refs: 0, detached: true, settled: false };
    flights.add(key, flight);
    pending.set(b, { resolve, reject, flight });
  }
  const run = async () => {
    counters.upstreamRequests++;
    // Each block of the download gets the budget of one block fetch (writes excluded).
    let disarm = armFetchBudget(controller, fetchTimeoutMs, url, 'sequential fill block 0');
    try {
      await download(
        () => disarm(),
        (b) => (disarm = armFetchBudget(controller, fetchTimeoutMs, url, `sequential fill block ${b}`)),
      );
    } finally {
      disarm();
    }
  };
  const download = async (pause: () => void, resume: (nextBlock: number) => void) => {
    let pos = 0;
    let buf: Buffer | undefined;
    for await (const chunk of state.upstream.stream(0, state.size, controller.signal)) {
      let c = chunk;
      while (c.length > 0) {
        const b = Math.floor(pos / blockSize);
        const blockStart = b * blockSize;
        const blockEnd = blockStart + blockLength(state, blockSize, b);
        const take = Math.min(c.length, blockEnd - pos);
        const want = pending.get(b);
        if (want) {
          buf ??= Buffer.allocUnsafe(blockEnd - blockStart);
          buf.set(c.subarray(0, take), pos - blockStart);
        }
        pos += take;
        c = c.subarray(take);
        if (pos === blockEnd && want && buf) {
          const bytes = buf;
          buf = undefined;
          want.flight.settled = true;
          pending.delete(b);
          pause();
          const stored = writer.persist(state, b, bytes);
          want.flight.stored = stored;
          want.resolve(bytes);
          await stored;
          resume(b + 1);
          flights.remove(blockKey(state.vk, b), want.flight);
        }
      }
      counters.upstreamBytes += chunk.length;
      index.tally.addUpstream(state.vk, chunk.length);
    }
  };
  tasks.track(
    run()
      .catch((err: unknown) => {
        if (!isAbortError(err)) {
          counters.errors++;
          logger?.warn(
            { url, err: (err as Error).message, code: (err as { code?: string }).code },
            'sequential fill of a Range-less upstream failed',
          );
        }
        for (const [b, p] of pending) {
          p.flight.settled = true;
          p.reject(err);
          flights.remove(blockKey(state.vk, b), p.flight);
        }
      })
      .finally(() => {
        state.fillRunning = false;
      }),
  );
}
