// Response bodies of the ISO route: a list of pieces (literal bytes such as multipart headers, and
// byte ranges of the virtual image) streamed with backpressure.
//
// Two writers: `pipeToNode` writes straight to Node's ServerResponse (the hot path: issue 8 found
// web-stream adapters such as Readable.toWeb cost 2-3x in per-chunk overhead), and `webStream`
// for runtimes without a Node response (hono's app.request in unit tests). Both pull one chunk at
// a time from the image, so memory per transfer is what the image's reader keeps in flight, and
// both end the image's iterator (its `finally`) as soon as the client goes away.
//
// The byte count of every image piece is checked against its range: a reader that yields too many
// or too few bytes fails the transfer (socket destroyed, short body) instead of sending wrong
// bytes under a Content-Length that promised others.

import type { ServerResponse } from 'node:http';
import { IsoproxyError } from '../errors.js';
import type { NodeImage, TransferStats } from './types.js';

export type BodyPiece =
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array }
  | { readonly kind: 'image'; readonly start: number; readonly end: number };

export class BodyLengthError extends IsoproxyError {
  constructor(message: string) {
    super('BODY_LENGTH', message);
  }
}

/** The client closed the connection before the body was complete. */
export class ClientAbortError extends IsoproxyError {
  constructor() {
    super('CLIENT_ABORT', 'client closed the connection');
  }
}

export function bodyLength(pieces: readonly BodyPiece[]): number {
  return pieces.reduce((n, p) => n + (p.kind === 'bytes' ? p.bytes.length : p.end - p.start + 1), 0);
}

/** What a reader reported about one transfer (summed over its image pieces). */
export interface BodyStats {
  stats?: TransferStats;
}

function addStats(sink: BodyStats, s: TransferStats | undefined): void {
  if (!s) return;
  const prev = sink.stats;
  sink.stats = prev
    ? { cacheHits: prev.cacheHits + s.cacheHits, cacheMisses: prev.cacheMisses + s.cacheMisses, upstreamBytes: prev.upstreamBytes + s.upstreamBytes }
    : s;
}

/** The chunks of a body, in order; image pieces are read from `image` with `signal`. */
export async function* bodyChunks(image: NodeImage, pieces: readonly BodyPiece[], signal: AbortSignal, sink: BodyStats = {}): AsyncGenerator<Uint8Array> {
  for (const piece of pieces) {
    if (piece.kind === 'bytes') {
      if (piece.bytes.length > 0) yield piece.bytes;
      continue;
    }
    const want = piece.end - piece.start + 1;
    let got = 0;
    const source = image.read(piece.start, piece.end, signal);
    try {
      for await (const chunk of source) {
        if (chunk.length === 0) continue;
        got += chunk.length;
        if (got > want) throw new BodyLengthError(`image reader gave more than the ${want} bytes of ${piece.start}-${piece.end}`);
        yield chunk;
      }
    } finally {
      addStats(sink, source.stats?.());
    }
    if (got < want) throw new BodyLengthError(`image reader ended after ${got} of the ${want} bytes of ${piece.start}-${piece.end}`);
  }
}

export type TransferOutcome = 'complete' | 'aborted' | 'failed';

export interface PipeResult {
  readonly bytes: number;
  readonly outcome: TransferOutcome;
  readonly error?: unknown;
}

function drained(out: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      out.off('drain', done);
      out.off('close', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
  });
}

/**
 * Writes the pieces of a body to a response whose head is already written, then ends it. Image
 * pieces are iterated directly (no intermediate generator: one promise per chunk is the cost that
 * matters here). A client abort aborts `abort` (which the image reader watches) and returns the
 * reader's iterator; a failure destroys the socket so the client sees a short body.
 */
export async function pipeToNode(out: ServerResponse, image: NodeImage, pieces: readonly BodyPiece[], abort: AbortController, sink: BodyStats = {}): Promise<PipeResult> {
  let bytes = 0;
  const onClose = (): void => {
    if (!out.writableFinished) abort.abort(new ClientAbortError());
  };
  out.on('close', onClose);
  try {
    for (const piece of pieces) {
      if (out.destroyed) return { bytes, outcome: 'aborted' };
      if (piece.kind === 'bytes') {
        bytes += piece.bytes.length;
        if (!out.write(piece.bytes)) await drained(out);
        continue;
      }
      const want = piece.end - piece.start + 1;
      let got = 0;
      const source = image.read(piece.start, piece.end, abort.signal);
      try {
        // Leaving this loop early (break, return, throw) calls the reader's return(): its finally runs.
        for await (const chunk of source) {
          if (out.destroyed) return { bytes, outcome: 'aborted' };
          got += chunk.length;
          if (got > want) throw new BodyLengthError(`image reader gave more than the ${want} bytes of ${piece.start}-${piece.end}`);
          bytes += chunk.length;
          if (!out.write(chunk)) {
            await drained(out);
            if (out.destroyed) return { bytes, outcome: 'aborted' };
          }
        }
      } finally {
        addStats(sink, source.stats?.());
      }
      if (got < want) throw new BodyLengthError(`image reader ended after ${got} of the ${want} bytes of ${piece.start}-${piece.end}`);
    }
    out.end();
    return { bytes, outcome: 'complete' };
  } catch (err) {
    // Headers are gone: the only honest signal left is a short body.
    out.destroy();
    if (abort.signal.aborted) return { bytes, outcome: 'aborted' };
    return { bytes, outcome: 'failed', error: err };
  } finally {
    out.off('close', onClose);
    if (!out.writableFinished) abort.abort(new ClientAbortError());
  }
}

/** A pull web stream over `chunks` (for runtimes without a Node response). */
export function webStream(chunks: AsyncIterable<Uint8Array>, abort: AbortController, onEnd: (r: PipeResult) => void): ReadableStream<Uint8Array> {
  const it = chunks[Symbol.asyncIterator]();
  let bytes = 0;
  let ended = false;
  const end = (r: PipeResult): void => {
    if (!ended) {
      ended = true;
      onEnd(r);
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const r = await it.next();
        if (r.done) {
          controller.close();
          end({ bytes, outcome: 'complete' });
        } else {
          bytes += r.value.length;
          controller.enqueue(r.value);
        }
      } catch (err) {
        controller.error(err);
        end({ bytes, outcome: abort.signal.aborted ? 'aborted' : 'failed', error: err });
      }
    },
    async cancel() {
      abort.abort(new ClientAbortError());
      await it.return?.().catch(() => {});
      end({ bytes, outcome: 'aborted' });
    },
  }, { highWaterMark: 0 });
}
