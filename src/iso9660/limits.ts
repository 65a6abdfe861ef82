// Caps on everything an untrusted image controls while it is indexed, and the metadata reader
// that enforces the byte budget. The defaults are far above what real distribution images use
// (a large Ubuntu or RHEL DVD has ~2,000 directories, depth < 12, no CE chains longer than 2)
// and far below what would exhaust memory or time. IndexOptions overrides any of them.

import type { ByteSource } from '../byte-source.js';
import { IsoFormatError, LimitExceededError } from '../errors.js';
import type { DirectoryPrefetch } from './directory-prefetch.js';

export interface IndexLimits {
  /** Volume descriptors read from LBA 16 before a terminator must appear. */
  readonly maxDescriptors: number;
  /** Directory depth below a root, counted at a directory's real place after RR relocation. */
  readonly maxDepth: number;
  /** Directory records accepted across all trees. */
  readonly maxEntries: number;
  /**
   * Characters of every path listed, summed across all trees. Each file's path holds its
   * directory's, so long names deep down multiply: a 2 MB Rock Ridge name over 2,500 files ran
   * the indexer out of memory.
   */
  readonly maxPathChars: number;
  /** Size of one directory extent. */
  readonly maxDirectoryBytes: number;
  /** SUSP continuation areas followed for one directory record. */
  readonly maxContinuationHops: number;
  /** Bytes read from the source to build one index. */
  readonly maxMetadataBytes: number;
  /** El Torito catalog entries (default + section entries + extensions). */
  readonly maxBootEntries: number;
  /** GPT partition entries read. */
  readonly maxGptEntries: number;
}

export interface IndexOptions extends Partial<IndexLimits> {
  readonly signal?: AbortSignal;
  /** Read directory extents ahead of the walk (directory-prefetch.ts); default true. */
  readonly directoryPrefetch?: boolean;
}

export const DEFAULT_LIMITS: IndexLimits = {
  maxDescriptors: 64,
  maxDepth: 64,
  maxEntries: 200_000,
  maxPathChars: 64 * 1024 * 1024,
  maxDirectoryBytes: 16 * 1024 * 1024,
  maxContinuationHops: 32,
  maxMetadataBytes: 256 * 1024 * 1024,
  maxBootEntries: 512,
  maxGptEntries: 1024,
};

export function resolveLimits(options: IndexOptions = {}): IndexLimits {
  const out: Record<string, number> = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof IndexLimits)[]) {
    const v = options[key];
    if (v !== undefined) {
      if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`index option ${key} must be a non-negative integer, got ${v}`);
      out[key] = v;
    }
  }
  return out as unknown as IndexLimits;
}

/** Reads metadata through a byte source, counting bytes and enforcing the total budget. */
export class MetadataReader {
  bytesRead = 0;
  /** Directory extents read ahead of the walks (directory-prefetch.ts), taken here in the walks' order. */
  prefetch: DirectoryPrefetch | undefined;
  constructor(
    readonly source: ByteSource,
    readonly limits: IndexLimits,
    readonly signal?: AbortSignal,
  ) {}

  get size(): number {
    return this.source.size;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (this.bytesRead + length > this.limits.maxMetadataBytes) {
      throw new LimitExceededError('metadata bytes', offset, `reading ${length} more bytes would pass the cap of ${this.limits.maxMetadataBytes}`);
    }
    this.signal?.throwIfAborted();
    const ahead = this.prefetch?.take(offset, length);
    const bytes = (ahead && (await ahead)) ?? (await this.source.read(offset, length, this.signal));
    this.bytesRead += length;
    return bytes;
  }

  /**
   * Reads a structure that something in the image points at; a pointer outside the image is an
   * IsoFormatError at `pointerOffset` (where the bad pointer was read), not a bare bounds error.
   */
  async readPointed(offset: number, length: number, structure: string, pointerOffset: number): Promise<Uint8Array> {
    if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || offset + length > this.source.size) {
      throw new IsoFormatError(
        structure,
        pointerOffset,
        `points at bytes ${offset}..${offset + length}, outside the image of ${this.source.size} bytes`,
      );
    }
    return this.read(offset, length);
  }
}
