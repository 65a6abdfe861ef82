// Response bodies of the image routes: a list of pieces (literal bytes such as multipart headers,
// and byte ranges of the virtual image) streamed with backpressure.
//
// A body is opened before the response head is committed (body-open.ts): `openBody` reads the first chunk of
// the first image piece, so a failure there (an upstream reset at byte 0, a stall past its
// budget) still becomes a status with a JSON code instead of an empty reply. Only a failure after
// bytes went out ends as a short body.
//
// Two writers: `pipeToNode` writes straight to Node's ServerResponse (the hot path: web-stream
// adapters such as Readable.toWeb cost 2-3x in per-chunk overhead), and `webStream` for runtimes
// without a Node response (hono's app.request in unit tests). Both pull one chunk at a time from
// the image, so memory per transfer is what the image's reader keeps in flight, and both end the
// image's iterator (its `finally`) as soon as the client goes away. Each image chunk written is
// reported to the transfer's observers with its offset, one call per chunk.
//
// The byte count of every image piece is checked against its range: a reader that yields too many
// or too few bytes fails the transfer (socket destroyed, short body) instead of sending wrong
// bytes under a Content-Length that promised others.

import { abortState, signalOf, type LazyAbortController } from '../io/abort.js';
import { chunkPool } from '../io/chunk-pool.js';
import { isFileSpan, readSpan, type Chunk, type FileSpan } from '../io/file-span.js';
import { SendError, type Sender } from '../native/sendfile.js';
import type { ResponseOut } from './out.js';
import { drained, SPAN_READ_SLAB, SpanWriter, takeHead } from './span-writer.js';
import type { TransferStats } from '../serving/types.js';
import { BodyLengthError, ClientAbortError, startPiece, type ChunkSink, type OpenBody, type PieceReader, type PipeResult } from './body-open.js';

export {
  BodyLengthError,
  bodyLength,
  ClientAbortError,
  openBody,
  openBodyNow,
  probeBody,
  type BodyPiece,
  type OpenBody,
  type PipeResult,
} from './body-open.js';

function addStats(prev: TransferStats | undefined, s: TransferStats | undefined): TransferStats | undefined {
  if (!s) return prev;
  return prev
    ? { cacheHits: prev.cacheHits + s.cacheHits, cacheMisses: prev.cacheMisses + s.cacheMisses, upstreamBytes: prev.upstreamBytes + s.upstreamBytes }
    : s;
}

/** The reader of piece `i`: the primed one, or a new one. */
function readerOf(body: OpenBody, i: number): PieceReader {
  if (body.primed?.index === i) return body.primed.reader;
  return startPiece(body.image, body.pieces[i] as { start: number; end: number }, signalOf(body.abort), body.files);
}

async function nextChunk(r: PieceReader): Promise<IteratorResult<Chunk>> {
  const first = r.first;
  if (first) {
    r.first = undefined;
    return first;
  }
  return r.it.next();
}

function tooMany(want: number, piece: { start: number; end: number }): BodyLengthError {
  return new BodyLengthError(`image reader gave more than the ${want} bytes of ${piece.start}-${piece.end}`);
}

function tooFew(got: number, want: number, piece: { start: number; end: number }): BodyLengthError {
  return new BodyLengthError(`image reader ended after ${got} of the ${want} bytes of ${piece.start}-${piece.end}`);
}

/** The chunks of an opened body, in order, each image chunk reported to `sink`. */
export async function* bodyChunks(body: OpenBody, sink: ChunkSink, stats: { value?: TransferStats }): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < body.pieces.length; i++) {
    const piece = body.pieces[i]!;
    if (piece.kind === 'bytes') {
      if (piece.bytes.length > 0) yield piece.bytes;
      continue;
    }
    const want = piece.end - piece.start + 1;
    let got = 0;
    const reader = readerOf(body, i);
    try {
      for (let r = await nextChunk(reader); !r.done; r = await nextChunk(reader)) {
        const chunk = isFileSpan(r.value) ? await bytesOfSpan(r.value) : r.value;
        if (chunk.length === 0) continue;
        if (got + chunk.length > want) throw tooMany(want, piece);
        sink.bytes(piece.start + got, chunk.length);
        got += chunk.length;
        yield chunk;
      }
    } finally {
      await reader.it.return?.().catch(() => {});
      stats.value = addStats(stats.value, reader.stats?.());
    }
    if (got < want) throw tooFew(got, want, piece);
  }
}

/** A span's bytes in memory, its file released (a writer that does not send files). */
async function bytesOfSpan(span: FileSpan): Promise<Uint8Array> {
  try {
    return await readSpan(span, SPAN_READ_SLAB);
  } finally {
    span.release();
  }
}

/**
 * Writes an opened body to a response whose head is already written, then ends it. Image pieces
 * are iterated directly (no intermediate generator: one promise per chunk is the cost that
 * matters here). A client abort aborts `abort` (which the image reader watches) and ends the
 * reader's iterator; a failure destroys the socket so the client sees a short body.
 */
export async function pipeToNode(out: ResponseOut, body: OpenBody, abort: AbortController, sink: ChunkSink, sender?: Sender): Promise<PipeResult> {
  let bytes = 0;
  let stats: TransferStats | undefined;
  const onClose = (): void => {
    if (!out.writableFinished) abort.abort(new ClientAbortError());
  };
  out.on('close', onClose);
  const result = (r: Omit<PipeResult, 'stats'>): PipeResult => withStats(r, stats);
  const spans = new SpanWriter(out, sender, abort.signal);
  // The response's client is gone: its socket destroyed, or (a response queued behind another on
  // the connection, which Node never closes) the abort from response-gone.ts.
  const gone = (): boolean => out.destroyed || abort.signal.aborted;
  try {
    for (let i = 0; i < body.pieces.length; i++) {
      const piece = body.pieces[i]!;
      if (gone()) return result({ bytes, outcome: 'aborted' });
      if (piece.kind === 'bytes') {
        bytes += piece.bytes.length;
        if (!(await spans.drain())) return result({ bytes, outcome: 'aborted' });
        if (!out.write(piece.bytes)) await drained(out, abort.signal);
        continue;
      }
      const want = piece.end - piece.start + 1;
      let got = 0;
      const reader = readerOf(body, i);
      // The chunk after a file span, asked for while the span is being sent: opening the next
      // block (an open, a stat) then overlaps the send instead of leaving the socket idle.
      let ahead: Promise<IteratorResult<Chunk>> | undefined;
      try {
        for (let r = await nextChunk(reader); !r.done; r = await (ahead ?? nextChunk(reader))) {
          ahead = undefined;
          const chunk = r.value;
          if (gone()) {
            if (isFileSpan(chunk)) chunk.release();
            return result({ bytes, outcome: 'aborted' });
          }
          if (got + chunk.length > want) {
            if (isFileSpan(chunk)) chunk.release();
            throw tooMany(want, piece);
          }
          sink.bytes(piece.start + got, chunk.length);
          got += chunk.length;
          bytes += chunk.length;
          if (isFileSpan(chunk)) {
            if (got < want) {
              ahead = nextChunk(reader);
              ahead.catch(() => {});
            }
            if (!(await spans.write(chunk))) return result({ bytes, outcome: 'aborted' });
            continue;
          }
          if (!(await spans.drain())) {
            chunkPool.give(chunk);
            return result({ bytes, outcome: 'aborted' });
          }
          // The chunk's memory goes back to the pool once the socket is done with it.
          if (!out.write(chunk, () => chunkPool.give(chunk))) {
            await drained(out, abort.signal);
            if (gone()) return result({ bytes, outcome: 'aborted' });
          }
        }
      } finally {
        // Leaving early (return, throw) ends the reader: its finally frees upstream and files.
        if (ahead !== undefined) {
          // A chunk asked for ahead is not sent: its span goes back when it arrives. The reader
          // ends after it, once the abort below has cut any fetch it waits for.
          ahead.then(
            (r) => (!r.done && isFileSpan(r.value) ? r.value.release() : undefined),
            () => {},
          );
          void reader.it.return?.().catch(() => {});
        } else {
          await reader.it.return?.().catch(() => {});
        }
        stats = addStats(stats, reader.stats?.());
      }
      if (got < want) throw tooFew(got, want, piece);
    }
    if (!(await spans.finish())) return result({ bytes, outcome: 'aborted' });
    if (!out.destroyed) out.end();
    return result({ bytes, outcome: 'complete' });
  } catch (err) {
    // Headers are gone: the only honest signal left is a short body.
    out.destroy();
    if (abort.signal.aborted || (err instanceof SendError && err.peerGone)) return result({ bytes, outcome: 'aborted' });
    return result({ bytes, outcome: 'failed', error: err });
  } finally {
    spans.abandon();
    out.off('close', onClose);
    if (!out.writableFinished) abort.abort(new ClientAbortError());
  }
}

/**
 * A pipe's result with the reader's figures. Built property by property: a spread followed by
 * another property took V8's slow path (a new hidden class copied) on every request.
 */
function withStats(r: Omit<PipeResult, 'stats'>, stats: TransferStats | undefined): PipeResult {
  return { bytes: r.bytes, outcome: r.outcome, error: r.error, stats };
}

/**
 * Writes a body that is file spans already at hand (a range the cache handed out at once: one
 * span, or two across a block boundary) with its head, from this thread, then ends the response:
 * no promise, no span writer, no reader to ask again; on small ranges those were a tenth of the
 * serving thread. Undefined, with nothing written, when the body is anything else or Node has
 * written or queued anything on the connection (then pipeToNode). A promise when the socket was
 * full and a sender thread finishes the send.
 */
export function sendSpansAtHand(
  out: ResponseOut,
  body: OpenBody,
  abort: AbortController | LazyAbortController,
  sink: ChunkSink,
  sender: Sender | undefined,
): PipeResult | Promise<PipeResult> | undefined {
  const reader = body.primed?.reader;
  const first = reader?.first;
  const piece = body.pieces[0];
  if (!sender || !body.files || body.pieces.length !== 1 || piece?.kind !== 'image') return undefined;
  if (!first || first.done || !isFileSpan(first.value)) return undefined;
  const rest = reader!.single ? [] : reader!.rest;
  if (!rest) return undefined;
  const spans = rest.length === 0 ? [first.value] : [first.value, ...rest];
  let length = 0;
  for (const span of spans) length += span.length;
  if (length !== piece.end - piece.start + 1) return undefined;
  const socket = out.socket;
  const head = socket ? takeHead(out) : undefined;
  if (!head) return undefined;
  reader!.first = undefined;
  const state = abortState(abort);
  const stats = reader!.stats?.();
  const result = (r: Omit<PipeResult, 'stats'>): PipeResult => withStats(r, stats);
  // Each span after the first is chained to the one before on the sender thread when that one is
  // still going (and fails with it); the last one's end is the response's.
  let sending = sender.start(socket!, spans[0]!, state, head);
  sink.bytes(piece.start, spans[0]!.length);
  let at = piece.start + spans[0]!.length;
  for (const span of rest) {
    sending.done.catch(() => {});
    sending = sender.start(socket!, span, state, undefined, sending.id);
    sink.bytes(at, span.length);
    at += span.length;
  }
  const releaseAll = (): void => {
    for (const span of spans) span.release();
  };
  const sent = (): PipeResult => {
    releaseAll();
    // A client that read its last byte may have closed already: the transfer is complete.
    if (!out.destroyed) out.end();
    return result({ bytes: length, outcome: 'complete' });
  };
  if (sending.state === 'sent') return sent();
  return sending.done.then(
    () => {
      // Node's idle timer saw none of the sender's writes: a send that completed is activity.
      if (socket!.timeout) socket!.setTimeout(socket!.timeout);
      return sent();
    },
    (err: unknown) => {
      releaseAll();
      // The head is gone: the only honest signal left is a short body.
      out.destroy();
      if (state.aborted || (err instanceof SendError && err.peerGone)) return result({ bytes: 0, outcome: 'aborted' });
      return result({ bytes: 0, outcome: 'failed', error: err });
    },
  );
}

/** A pull web stream over an opened body (for runtimes without a Node response). */
export function webStream(body: OpenBody, abort: AbortController, sink: ChunkSink, onEnd: (r: PipeResult) => void): ReadableStream<Uint8Array> {
  const stats: { value?: TransferStats } = {};
  const it = bodyChunks(body, sink, stats);
  let bytes = 0;
  let ended = false;
  const end = (r: Omit<PipeResult, 'stats'>): void => {
    if (ended) return;
    ended = true;
    onEnd(withStats(r, stats.value));
  };
  return new ReadableStream<Uint8Array>(
    {
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
        await it.return(undefined).catch(() => {});
        // A generator that never started does not run its finally: end the primed reader here.
        await body.cancel();
        end({ bytes, outcome: 'aborted' });
      },
    },
    { highWaterMark: 0 },
  );
}
