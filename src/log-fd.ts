// The asynchronous writer behind JSON log lines on stdout: one write in flight through libuv, the
// rest queued, and a bounded synchronous hand-over at exit.
//
// Why not pino's own destination (sonic-boom): its exit hook writes what it still holds with
// writeSync and retries every failure, EPIPE included, forever. A cluster worker whose primary
// was killed writes into a pipe nobody reads; whenever a write was still in flight at exit (a
// busy machine, a flush just before exit) the worker never exited.

import { write, writeSync } from 'node:fs';

/** Failures that mean "try again shortly" rather than "nobody reads this any more". */
const RETRY_CODES = new Set(['EAGAIN', 'EBUSY', 'EINTR']);
/** At exit, how long a full pipe may delay the process before its last lines are dropped. */
const EXIT_RETRY_MS = 500;
const EXIT_RETRY_STEP_MS = 5;
const RETRY_DELAY_MS = 10;

export interface FdWriter {
  write(chunk: string): void;
  /** Calls back once everything written so far is handed to the kernel (or dropped). */
  flush(cb: (err?: Error) => void): void;
  /** Writes what is queued synchronously, giving up after EXIT_RETRY_MS or on a hard failure. */
  writeAllSync(): void;
  /** True once a hard failure (EPIPE, EBADF, ...) stopped all writing. */
  readonly closed: boolean;
}

const retryable = (err: unknown): boolean => RETRY_CODES.has((err as NodeJS.ErrnoException | null)?.code ?? '');

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function fdWriter(fd: number): FdWriter {
  let queued = '';
  /** The unwritten part of a short or retried write (only one write is ever in flight): it goes before `queued`. */
  let rest: Buffer | undefined;
  let inFlight = false;
  let closed = false;
  let waiters: ((err?: Error) => void)[] = [];

  const settle = (): void => {
    const ws = waiters;
    waiters = [];
    for (const cb of ws) cb();
  };
  const stop = (): void => {
    closed = true;
    queued = '';
    rest = undefined;
    settle();
  };
  const take = (): Buffer => {
    const head = rest;
    rest = undefined;
    if (queued === '') return head ?? Buffer.alloc(0);
    const tail = Buffer.from(queued);
    queued = '';
    return head ? Buffer.concat([head, tail]) : tail;
  };
  const start = (): void => {
    if (closed || inFlight) return;
    const buf = take();
    if (buf.length === 0) {
      settle();
      return;
    }
    inFlight = true;
    write(fd, buf, 0, buf.length, null, (err, n) => {
      inFlight = false;
      if (err) {
        if (!retryable(err)) {
          stop();
          return;
        }
        rest = buf;
        setTimeout(start, RETRY_DELAY_MS).unref();
        return;
      }
      if (n < buf.length) rest = buf.subarray(n);
      start();
    });
  };

  return {
    get closed() {
      return closed;
    },
    write(chunk: string): void {
      if (closed) return;
      queued += chunk;
      start();
    },
    flush(cb: (err?: Error) => void): void {
      if (closed) {
        cb();
        return;
      }
      // Called back when the write in flight, or the one started now, leaves nothing queued.
      waiters.push(cb);
      start();
    },
    writeAllSync(): void {
      if (closed) return;
      // A write still in flight finishes in libuv's thread pool on its own; what is queued
      // behind it goes now.
      let buf = take();
      let waited = 0;
      while (buf.length > 0) {
        try {
          buf = buf.subarray(writeSync(fd, buf));
        } catch (err) {
          if (!retryable(err) || waited >= EXIT_RETRY_MS) {
            stop();
            return;
          }
          sleepSync(EXIT_RETRY_STEP_MS);
          waited += EXIT_RETRY_STEP_MS;
        }
      }
    },
  };
}
