// What the serving core hands out: a node's virtual image (size, validators, a range reader), and
// the resolver that turns a node's spec into one. The HTTP layer serves a NodeImage; it never
// sees specs, bases or patch sets.

import type { Chunk, FileSpan } from '../io/file-span.js';
import type { NodeSpec } from '../registry/store.js';

/** A node as requests name it: the source that knows it ("store", "ironic", ...) and its name there. */
export interface NodeRef {
  readonly source: string;
  readonly name: string;
}

export interface NodeImage {
  readonly node: string;
  /** Size of the virtual image in bytes. */
  readonly size: number;
  /** Strong, quoted ETag: base version + patch-set digest. */
  readonly etag: string;
  readonly lastModified: Date;
  /**
   * Bytes [start, end] (inclusive) of the virtual image, in order, with backpressure (pull).
   * Cancelling the iteration frees upstream and file handles at once. May throw
   * BaseChangedError or UpstreamError mid-stream. A yielded chunk belongs to the consumer: the
   * reader must not reuse or mutate its memory afterwards (the socket may still be writing it).
   * Must yield exactly end - start + 1 bytes; the HTTP layer fails the transfer otherwise.
   */
  read(start: number, end: number, signal: AbortSignal): ImageReadStream;
  /**
   * The same as `read`, for a writer that sends files itself: base bytes cached on disk may come
   * as file spans, each of which the consumer releases once (src/io/file-span.ts). Optional.
   */
  spans?(start: number, end: number, signal: AbortSignal): ImageReadStream<Chunk>;
  /**
   * [start, end] as file spans at once (one per block, at most two), when it is base bytes in
   * blocks the cache has open and trusted (the consumer releases each span once); undefined
   * otherwise, with nothing held. Optional.
   */
  spansNow?(start: number, end: number): { readonly spans: readonly FileSpan[]; readonly stats: TransferStats } | undefined;
}

/** What one read cost, when the reader can say (logged per transfer). */
export interface TransferStats {
  readonly cacheHits: number;
  readonly cacheMisses: number;
  readonly upstreamBytes: number;
}

/** The chunks of a read; a reader backed by the block cache may also report its stats. */
export interface ImageReadStream<C = Uint8Array> extends AsyncIterable<C> {
  /** Yields exactly one chunk, already at hand: a writer may send it and end without asking for more. */
  readonly single?: boolean;
  /** Stats so far; called once after the iteration ends (or is cancelled). */
  stats?(): TransferStats;
}

/** Turns a node's spec into its image: base version + patch set (src/serving/images.ts). */
export interface ImageResolver {
  /**
   * The image of `spec`, which need not be stored anywhere (a PUT validates a spec before storing
   * it). Rejects promptly when `signal` aborts, with its reason. Throws typed errors: UpstreamError,
   * IsoFormatError, RemasterError, EditValidationError, ...
   */
  image(ref: NodeRef, spec: NodeSpec, signal?: AbortSignal): Promise<NodeImage>;
  /** The image `image` would give, when it is at hand without waiting (its base open and checked, the image built); else undefined. */
  imageNow?(ref: NodeRef, spec: NodeSpec): NodeImage | undefined;
  /** A node's spec changed or the node went away: drop anything kept for it (optional). */
  forget?(ref: NodeRef): void;
}
