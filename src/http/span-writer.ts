// Writing file spans (src/io/file-span.ts) of one response: with the sender (src/native) when the
// response's socket is plain TCP, else read into memory and written like any chunk.
//
// Consecutive spans are chained: span k+1 is handed to the sender, to go out right after span k
// on the sender thread, before span k has finished; then the writer waits for span k. So a whole
// image streams block after block with no round trip through this thread between blocks (that
// round trip left the socket idle while the next block was found and opened). Before anything
// else is written to the response (patch bytes, a multipart header, the end), `drain` waits for
// every span handed over. Each span is released once its send has ended.

import type { ResponseOut } from './out.js';
import { chunkPool } from '../io/chunk-pool.js';
import { readSpan, type FileSpan } from '../io/file-span.js';
import { FAILED, socketFd, type Sender, type Sending } from '../native/sendfile.js';

/** Slab size for spans read into memory: the cache's default chunk. */
export const SPAN_READ_SLAB = 256 * 1024;

/**
 * Bytes a response sends before its later spans all go out from the sender thread. Below it a
 * span goes out from this thread when nothing else is being sent (a range request's bytes at
 * once, without two thread wake-ups); past it the response is a stream (a whole image), and
 * sending its blocks from the event loop whenever the sender had caught up, and from the sender
 * thread otherwise, moved one socket's sends between two threads (and cores) block after block:
 * a whole GET cost the kernel about a third more per byte than from one thread.
 */
export const STREAM_ON_THREAD_BYTES = 2 * 1024 * 1024;

const EMPTY = Buffer.alloc(0);

/**
 * Resolves when everything written to the response so far (its head included) is in the
 * socket's kernel buffer, so a sender can write after it; false when the response went away.
 * An empty write's callback comes after the writes queued before it, and for a response queued
 * behind another on the connection, after it has the socket.
 */
function flushed(out: ResponseOut, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    // A response whose client is gone may never call back (response-gone.ts): the abort ends the wait.
    const onAbort = (): void => resolve(false);
    signal.addEventListener('abort', onAbort, { once: true });
    out.write(EMPTY, (err) => {
      signal.removeEventListener('abort', onAbort);
      resolve(!err && !out.destroyed && out.socket !== null);
    });
  });
}

/** The parts of Node's ServerResponse that say whether its head is written yet. */
interface HeadState {
  _header?: unknown;
  _headerSent?: unknown;
}

/**
 * The response's head, taken over from Node when nothing of the response is written yet and it
 * has the socket to itself: the sender then writes head and first bytes in one segment, saving a
 * syscall and a packet per range request. Node marks the head sent and writes no other (its
 * `end` writes nothing more for a Content-Length body). Undefined when Node has written or
 * queued anything, or when its fields are not what Node 20 has: then Node writes the head.
 */
export function takeHead(out: ResponseOut): Buffer | undefined {
  if (out.takeHead) return out.takeHead();
  const state = out as unknown as HeadState;
  const socket = out.socket;
  if (typeof state._header !== 'string' || state._headerSent !== false || !socket || socket.writableLength > 0) return undefined;
  if ((socket as unknown as { _httpMessage?: unknown })._httpMessage !== out) return undefined;
  state._headerSent = true;
  return Buffer.from(state._header, 'latin1');
}

/** Resolves on the response's next 'drain', or when it closes or the client is gone (`signal`). */
export function drained(out: ResponseOut, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      out.off('drain', done);
      out.off('close', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
    signal.addEventListener('abort', done, { once: true });
  });
}

export class SpanWriter {
  /** The span handed to the sender last, not yet waited for. */
  private last: { readonly sending: Sending; readonly span: FileSpan } | undefined;
  /** Bytes of spans handed over so far. */
  private handed = 0;

  constructor(
    private readonly out: ResponseOut,
    private readonly sender: Sender | undefined,
    private readonly signal: AbortSignal,
  ) {}

  /**
   * Hands `span` over (releasing it when sent) and waits for the span before it. Resolves false
   * when the response went away; rejects with the send's error (a SendError, the abort reason).
   */
  async write(span: FileSpan): Promise<boolean> {
    const { out, sender } = this;
    const socket = out.socket;
    if (!sender || socketFd(socket) === undefined) {
      if (!(await this.drain())) {
        span.release();
        return false;
      }
      return this.copy(span);
    }
    let sending: Sending;
    if (this.last) {
      // Chained to the span before while it is being sent; after it, nothing to chain to (or,
      // when it failed, a start that fails at once: no byte may follow a gap).
      const before = this.last.sending;
      const after = before.state === 'sending' ? before.id : before.state === 'sent' ? 0 : FAILED;
      sending = sender.start(socket!, span, this.signal, undefined, after, this.handed >= STREAM_ON_THREAD_BYTES);
    } else {
      const head = takeHead(out);
      if (!head && !(await flushed(out, this.signal))) {
        span.release();
        return false;
      }
      sending = sender.start(out.socket!, span, this.signal, head);
    }
    this.handed += span.length;
    const previous = this.last;
    this.last = { sending, span };
    if (previous) return this.settle(previous);
    return !out.destroyed;
  }

  /** Waits for every span handed over; false when the response went away. */
  async drain(): Promise<boolean> {
    const last = this.last;
    if (!last) return !this.out.destroyed;
    this.last = undefined;
    return this.settle(last);
  }

  /**
   * The body's end: waits for every span handed over, and says true when the last went out whole,
   * even if the connection has closed since. A client that reads its last byte and closes at once
   * (curl, a BMC) often does so before this thread hears that the send ended; its transfer is
   * complete, not aborted. With no span pending, whether the response is still there. Rejects as
   * `write` does when the send failed.
   */
  async finish(): Promise<boolean> {
    const last = this.last;
    if (!last) return !this.out.destroyed;
    this.last = undefined;
    await this.settle(last);
    return true;
  }

  /** Leaving early: spans still being sent are released when their sends end. */
  abandon(): void {
    const last = this.last;
    this.last = undefined;
    if (last)
      last.sending.done.then(
        () => last.span.release(),
        () => last.span.release(),
      );
  }

  private async settle(s: { readonly sending: Sending; readonly span: FileSpan }): Promise<boolean> {
    try {
      await s.sending.done;
    } finally {
      s.span.release();
    }
    // Node's idle timer sees none of the sender's writes: a send that completed is activity.
    const socket = this.out.socket;
    if (socket?.timeout) socket.setTimeout(socket.timeout);
    return !this.out.destroyed;
  }

  private async copy(span: FileSpan): Promise<boolean> {
    const { out } = this;
    try {
      const bytes = await readSpan(span, SPAN_READ_SLAB);
      if (!out.write(bytes, () => chunkPool.give(bytes))) await drained(out, this.signal);
      return !out.destroyed && !this.signal.aborted;
    } finally {
      span.release();
    }
  }
}
