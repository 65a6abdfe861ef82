// Log lines written in batches: up to LOG_BATCH_BYTES, at least every LOG_FLUSH_MS. One line per
// range request written on its own cost a write through libuv's thread pool (two thread
// wake-ups) per request, a quarter of the CPU a 256 KiB range costs. The batch is handed to the
// sink (pino's asynchronous destination) at once by `flush` (pino's `logger.flush()`) and when
// the process exits, before the sink's own exit hook writes what it holds; a process killed
// with SIGKILL loses at most the last LOG_FLUSH_MS of lines.
//
// Why not the sink's own minLength: at exit pino writes the sink's buffer synchronously, and
// sonic-boom retries a write that fails with EPIPE forever. A cluster worker whose primary was
// killed writes into a pipe nobody reads: it then never exited. Handed to the sink as one
// ordinary write, a batch fails like any line did before (the sink drops writes after EPIPE).

import type { DestinationStream } from 'pino';

export const LOG_BATCH_BYTES = 8192;
export const LOG_FLUSH_MS = 200;

interface Sink {
  write(chunk: string): unknown;
  flush?(cb: (err?: Error) => void): void;
}

export interface BatchedDestination extends DestinationStream {
  /** Hands the batch to the sink now, then flushes the sink. */
  flush(cb?: (err?: Error) => void): void;
}

/** Batches of every destination made here, handed over at exit (one listener for all). */
const atExit = new Set<() => void>();
let exitHooked = false;

/**
 * A destination that batches lines for the sink `open` makes. The exit listener is added before
 * the sink is made, so it runs before the sink's own exit hook.
 */
export function batchedDestination(open: () => Sink, options: { maxBytes?: number; maxDelayMs?: number } = {}): BatchedDestination {
  const maxBytes = options.maxBytes ?? LOG_BATCH_BYTES;
  const maxDelayMs = options.maxDelayMs ?? LOG_FLUSH_MS;
  if (!exitHooked) {
    exitHooked = true;
    process.once('exit', () => {
      for (const push of atExit) push();
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
  atExit.add(push);
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
