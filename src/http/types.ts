// What the HTTP layer needs from the core: a node's virtual image, by name.

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
}

/** What one read cost, when the reader can say (logged per transfer). */
export interface TransferStats {
  readonly cacheHits: number;
  readonly cacheMisses: number;
  readonly upstreamBytes: number;
}

/** The chunks of a read; a reader backed by the block cache may also report its stats. */
export interface ImageReadStream extends AsyncIterable<Uint8Array> {
  /** Stats so far; called once after the iteration ends (or is cancelled). */
  stats?(): TransferStats;
}

export interface ImageResolver {
  /** Throws NotFoundError (unknown node), NodeExpiredError (410), UpstreamError, ... */
  image(node: string, signal?: AbortSignal): Promise<NodeImage>;
  /** Drops whatever is memoized for a node (after delete or expiry). */
  forget(node: string): void;
}
