// A span of an open file standing in for the bytes it holds. The block cache hands these out
// instead of reading a block into memory when the writer can send a file's bytes to a socket
// itself (src/native/sendfile.ts): the bytes then never enter JavaScript memory at all.
//
// A span owns a lease on its file: whoever receives one releases it exactly once, after the send
// (or after deciding not to send). `release` is idempotent, so a `finally` may call it again.

import { read } from 'node:fs';
import { chunkPool } from './chunk-pool.js';

export interface FileSpan {
  /** The open file's descriptor; valid until `release`. */
  readonly fd: number;
  readonly offset: number;
  readonly length: number;
  release(): void;
}

/** What a reader that may hand out file spans yields. */
export type Chunk = Uint8Array | FileSpan;

export function isFileSpan(chunk: Chunk): chunk is FileSpan {
  return !(chunk instanceof Uint8Array);
}

/** A span over `fd` whose `release` runs `onRelease` once, however often it is called. */
export function fileSpan(fd: number, offset: number, length: number, onRelease: () => void): FileSpan {
  let released = false;
  return {
    fd,
    offset,
    length,
    release() {
      if (released) return;
      released = true;
      onRelease();
    },
  };
}

const ITERATION_DONE: Promise<IteratorResult<Chunk>> = Promise.resolve({ done: true, value: undefined });

/**
 * An iterator over spans at hand: yields them in order, then ends; `return` releases the ones it
 * has not yielded (a reader that stops early owns nothing it was not given).
 */
export function spansIterator(spans: readonly FileSpan[]): AsyncIterator<Chunk> {
  let next = 0;
  return {
    next() {
      if (next >= spans.length) return ITERATION_DONE;
      return Promise.resolve({ done: false, value: spans[next++]! });
    },
    return() {
      while (next < spans.length) spans[next++]!.release();
      return ITERATION_DONE;
    },
  };
}

/**
 * The span's bytes, read into chunk-pool memory (for a writer that cannot send files itself).
 * Rejects when the file is shorter than the span: the caller fails the transfer. Does not release.
 */
export function readSpan(span: FileSpan, slabBytes: number): Promise<Buffer> {
  const out = chunkPool.take(span.length, slabBytes);
  return new Promise((resolve, reject) => {
    const step = (done: number): void => {
      if (done === span.length) {
        resolve(out);
        return;
      }
      read(span.fd, out, done, span.length - done, span.offset + done, (err, n) => {
        if (err) reject(err);
        else if (n === 0) reject(new RangeError(`file ended ${span.length - done} bytes short of a span at ${span.offset}`));
        else step(done + n);
      });
    };
    step(0);
  });
}
