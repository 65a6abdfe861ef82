// Log lines written in batches: up to LOG_BATCH_BYTES, at least every LOG_FLUSH_MS. One line per
// range request written on its own cost a write through libuv's thread pool (two thread
// wake-ups) per request, a quarter of the CPU a 256 KiB range costs. In a cluster each batch a
// worker writes is also a read and a write for the primary, which relays the lines
// (src/cluster/log-relay.ts): with 8 KiB batches (five lines of range requests) the primary
// spent 7.3-10.7 us of CPU per request on random 256 KiB ranges at two workers, with 64 KiB
// 4.3-5.4. The batch is handed to the sink (log-fd.ts) at once by `flush` (pino's
// `logger.flush()`) and when the process exits, and at exit the sink then writes what it holds
// synchronously; a process killed with SIGKILL loses at most the last LOG_FLUSH_MS of lines.

import type { DestinationStream } from 'pino';

export const LOG_BATCH_BYTES = 64 * 1024;
export const LOG_FLUSH_MS = 200;

interface Sink {
  write(chunk: string): unknown;
  flush?(cb: (err?: Error) => void): void;
  /** At exit: write what the sink holds now, without the event loop. */
  writeAllSync?(): void;
}

export interface BatchedDestination extends DestinationStream {
  /** Hands the batch to the sink now, then flushes the sink. */
  flush(cb?: (err?: Error) => void): void;
}

/** Batches of every destination made here, handed over at exit (one listener for all). */
const atExit = new Set<() => void>();
let exitHooked = false;

/** A destination that batches lines for the sink `open` makes. */
export function batchedDestination(open: () => Sink, options: { maxBytes?: number; maxDelayMs?: number } = {}): BatchedDestination {
  const maxBytes = options.maxBytes ?? LOG_BATCH_BYTES;
  const maxDelayMs = options.maxDelayMs ?? LOG_FLUSH_MS;
  if (!exitHooked) {
    exitHooked = true;
    process.once('exit', () => {
      for (const handOver of atExit) handOver();
    });
  }
  let pending = '';
  let timer: NodeJS.Timeout | undefined;
  const push = (): void => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (pending === '') return;
    const batch = pending;
    pending = '';
    sink.write(batch);
  };
  atExit.add(() => {
    push();
    sink.writeAllSync?.();
  });
  const sink = open();
  return {
    write(line: string): void {
      pending += line;
      if (pending.length >= maxBytes) push();
      else if (!timer) timer = setTimeout(push, maxDelayMs).unref();
    },
    flush(cb = () => {}): void {
      push();
      if (sink.flush) sink.flush(cb);
      else cb();
    },
  };
}
