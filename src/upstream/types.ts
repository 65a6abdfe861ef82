// What the block cache and the composition root see of an upstream: a ByteSource that knows its
// base version, streams ranges with an abort signal, and says whether it can seek (Range).

import type { ByteSource } from '../byte-source.js';
import type { BaseVersion } from './validator.js';

export interface UpstreamSource extends ByteSource {
  readonly version: BaseVersion;
  /**
   * False when the upstream answers 200 to Range requests: every read then starts at byte 0,
   * so callers should read the image once, sequentially (the block cache does).
   */
  readonly supportsRanges: boolean;
  /**
   * Bytes [offset, offset+length) in order. Every chunk belongs to `version`; if the upstream
   * changed, the iteration throws BaseChangedError before yielding a byte of the new version.
   * Aborting `signal` or calling return() aborts the upstream request at once.
   */
  stream(offset: number, length: number, signal?: AbortSignal): AsyncIterable<Uint8Array>;
  close(): Promise<void>;
}

/** Counters shared by every upstream source of a process (for /metrics). */
export interface UpstreamStats {
  requests: number;
  bytes: number;
  retries: number;
  errors: number;
}

export function createUpstreamStats(): UpstreamStats {
  return { requests: 0, bytes: 0, retries: 0, errors: 0 };
}

/** The subset of a pino logger the shell modules use. */
export interface LoggerLike {
  warn(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}
