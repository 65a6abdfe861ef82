// Opening a response body of the image routes, before its head is committed: what the pieces
// are, and the first chunk of the first image piece read (`openBody`), or at hand at once
// (`openBodyNow`), so a failure there still becomes a status with a JSON code. The writers that
// send an opened body are in body.ts.

import type { AbortLike } from '../io/abort.js';
import { IsoproxyError } from '../errors.js';
import { isFileSpan, spansIterator, type Chunk, type FileSpan } from '../io/file-span.js';
import type { Transfer, TransferOutcome } from '../serving/transfers.js';
import type { NodeImage, TransferStats } from '../serving/types.js';

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

export interface PipeResult {
  readonly bytes: number;
  readonly outcome: TransferOutcome;
  readonly error?: unknown;
  readonly stats?: TransferStats;
}

/** What reports a written image chunk (a Transfer, or nothing). */
export type ChunkSink = Pick<Transfer, 'bytes'>;

/** One image piece being read: its iterator, and a first chunk already read when it was primed. */
export interface PieceReader {
  readonly it: AsyncIterator<Chunk>;
  readonly stats: (() => TransferStats) | undefined;
  /** The reader yields one chunk only (ImageReadStream.single). */
  readonly single: boolean;
  first?: IteratorResult<Chunk>;
  /**
   * The spans `it` yields after `first`, when they were at hand at open (a range across two
   * blocks, opened at once): a writer that takes them sends them without asking `it`.
   */
  readonly rest?: readonly FileSpan[];
}

/** A body whose first image chunk has been read. */
export interface OpenBody {
  readonly image: NodeImage;
  readonly pieces: readonly BodyPiece[];
  /** The reader's abort: its signal is made (signalOf) only by a later piece or a writer that waits. */
  readonly abort: AbortLike;
  /** Whether image pieces are read as file spans where the cache has them (a writer that sends files). */
  readonly files: boolean;
  /** The primed reader of the first image piece, by piece index. */
  readonly primed: { readonly index: number; readonly reader: PieceReader } | undefined;
  /** Ends the primed reader without sending anything (HEAD, or the client went away). */
  cancel(): Promise<void>;
}

export function startPiece(image: NodeImage, piece: { start: number; end: number }, signal: AbortSignal, files: boolean): PieceReader {
  const source = files && image.spans ? image.spans(piece.start, piece.end, signal) : image.read(piece.start, piece.end, signal);
  return { it: source[Symbol.asyncIterator](), stats: source.stats?.bind(source), single: source.single === true };
}

/**
 * Opens a body: starts reading its first image piece and waits for the first chunk. Throws what
 * the reader throws, before anything is committed. With `files`, the body's writer must take file
 * spans (pipeToNode with a sender).
 */
export async function openBody(image: NodeImage, pieces: readonly BodyPiece[], signal: AbortSignal, files = false): Promise<OpenBody> {
  const index = pieces.findIndex((p) => p.kind === 'image');
  let primed: OpenBody['primed'];
  if (index >= 0) {
    const reader = startPiece(image, pieces[index] as { start: number; end: number }, signal, files);
    try {
      reader.first = await reader.it.next();
    } catch (err) {
      await reader.it.return?.().catch(() => {});
      throw err;
    }
    primed = { index, reader };
  }
  return opened(image, pieces, signal, files, primed);
}

function opened(image: NodeImage, pieces: readonly BodyPiece[], abort: AbortLike, files: boolean, primed: OpenBody['primed']): OpenBody {
  return {
    image,
    pieces,
    abort,
    files,
    primed,
    async cancel() {
      const first = primed?.reader.first;
      if (first && !first.done && isFileSpan(first.value)) first.value.release();
      await primed?.reader.it.return?.().catch(() => {});
    },
  };
}

/**
 * `openBody` without waiting, for a body of one image piece that the image hands out as file
 * spans at once (a cached range of base bytes); undefined otherwise, with nothing held.
 */
export function openBodyNow(image: NodeImage, pieces: readonly BodyPiece[], abort: AbortLike): OpenBody | undefined {
  const piece = pieces[0];
  if (pieces.length !== 1 || piece?.kind !== 'image' || !image.spansNow || abort.aborted) return undefined;
  const now = image.spansNow(piece.start, piece.end);
  const first = now?.spans[0];
  if (!now || !first) return undefined;
  const rest = now.spans.slice(1);
  const reader: PieceReader = {
    it: spansIterator(rest),
    stats: () => now.stats,
    single: rest.length === 0,
    first: { done: false, value: first },
    rest,
  };
  return opened(image, pieces, abort, true, { index: 0, reader });
}

/**
 * What HEAD reads: the first byte of the body's first image piece, read to the end, so HEAD fails
 * where GET would fail at its first chunk. One byte keeps the cost to the block GET needs first:
 * a longer read would start readahead that HEAD then abandons, and a block fetch aborted midway
 * is a block fetched twice.
 */
export async function probeBody(image: NodeImage, pieces: readonly BodyPiece[], signal: AbortSignal): Promise<void> {
  const first = pieces.find((p) => p.kind === 'image');
  if (!first) return;
  for await (const chunk of image.read(first.start, first.start, signal)) void chunk;
}
