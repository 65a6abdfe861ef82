// Reading the trees' directory extents ahead of their walks. A walk (directory-tree.ts) is depth
// first and reads one extent at a time, each after the one before: an image with 800 directories
// in two trees (ISO 9660 and Joliet) waited for 1,600 reads in a row, each a round trip through
// the block cache or the thread pool (about 0.25 ms here), so a new base's first PUT spent most of
// its half second waiting. The prefetcher follows the trees on its own, from their roots: each
// extent it has read is parsed, and the directories it lists are read next, a few at a time,
// while the walks go on (the second tree's while the first is walked).
//
// It only warms. The walk still reads every extent through the MetadataReader, which takes the
// prefetched bytes when it has them (same offset and length) and counts them against the byte
// budget then, in the walk's order: limits, errors and the index come out as without it. What
// the prefetcher holds is bounded (bytes read and not yet taken, reads in flight, extents it
// considers); a read or parse that fails here is dropped, and the walk's own read meets the error.

import type { ByteSource } from '../byte-source.js';
import { FLAG_DIRECTORY, listedDirectories, type DirectoryRecord } from './directory-record.js';
import { SECTOR_SIZE } from './types.js';

/** Reads in flight at once. */
export const PREFETCH_READS = 16;
/** Bytes read ahead and not yet taken by the walk (in flight included). */
export const PREFETCH_BYTES = 4 * 1024 * 1024;
/** Larger directory extents are left to the walk. */
export const PREFETCH_MAX_EXTENT = 256 * 1024;
/** Extents considered for one index; past this the walks read the rest themselves. */
export const PREFETCH_MAX_EXTENTS = 100_000;

interface Entry {
  readonly length: number;
  readonly bytes: Promise<Uint8Array | undefined>;
}

export class DirectoryPrefetch {
  private readonly entries = new Map<number, Entry>();
  private readonly seen = new Set<number>();
  /** Queued extents the walk read itself before their turn came. */
  private readonly skip = new Set<number>();
  private readonly queue: { offset: number; length: number }[] = [];
  private queueHead = 0;
  private inFlight = 0;
  private held = 0;
  private stopped = false;

  constructor(
    private readonly source: ByteSource,
    private readonly signal?: AbortSignal,
  ) {}

  /** Reads a tree's root extent ahead of its walk. */
  root(offset: number, length: number): void {
    if (this.stopped) return;
    this.want(offset, length);
    this.pump();
  }

  /** Reads, ahead of the walk, the directories listed in an extent's records. */
  follow(records: readonly DirectoryRecord[]): void {
    if (this.stopped) return;
    for (const r of records) {
      if (r.special || !(r.flags & FLAG_DIRECTORY)) continue;
      this.want(r.lba * SECTOR_SIZE, r.dataLength);
    }
    this.pump();
  }

  /**
   * What the MetadataReader asks: bytes read ahead at exactly this offset and length, handed over
   * once. The promise gives undefined when that read failed: the reader then reads for itself.
   */
  take(offset: number, length: number): Promise<Uint8Array | undefined> | undefined {
    const e = this.entries.get(offset);
    if (!e || e.length !== length) {
      // A queued extent the walk got to first and reads itself: not read here after all. (Reads
      // of anything else, never queued, are not remembered: their number is the walk's to bound.)
      if (!e && this.seen.has(offset)) this.skip.add(offset);
      return undefined;
    }
    this.entries.delete(offset);
    return e.bytes.then((bytes) => {
      this.held -= length;
      this.pump();
      return bytes;
    });
  }

  /**
   * Drops what is held and reads nothing more (the walk ended, or failed). Until then an extent
   * the walk never reads (one listed twice) keeps its bytes: at worst the prefetcher slows down
   * to the walk's pace.
   */
  stop(): void {
    this.stopped = true;
    this.entries.clear();
    this.skip.clear();
    this.queue.length = 0;
  }

  private want(offset: number, length: number): void {
    if (length <= 0 || length > PREFETCH_MAX_EXTENT || offset + length > this.source.size) return;
    if (this.seen.has(offset) || this.seen.size >= PREFETCH_MAX_EXTENTS) return;
    this.seen.add(offset);
    this.queue.push({ offset, length });
  }

  private pump(): void {
    while (!this.stopped && this.queueHead < this.queue.length && this.inFlight < PREFETCH_READS) {
      const next = this.queue[this.queueHead]!;
      if (this.skip.delete(next.offset)) {
        this.queueHead++;
        continue;
      }
      if (this.held + next.length > PREFETCH_BYTES) return;
      this.queueHead++;
      if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
        this.queue.splice(0, this.queueHead);
        this.queueHead = 0;
      }
      this.start(next.offset, next.length);
    }
  }

  private start(offset: number, length: number): void {
    this.inFlight++;
    this.held += length;
    let read: Promise<Uint8Array>;
    try {
      read = this.source.read(offset, length, this.signal);
    } catch (err) {
      // A source that throws instead of rejecting: the walk's own read meets it.
      read = Promise.reject(err);
    }
    const bytes = read.then(
      (b) => {
        this.inFlight--;
        // Malformed records end the list early: the walk's own parse reports them.
        const listed: { offset: number; length: number }[] = [];
        listedDirectories(b, listed);
        if (!this.stopped) for (const d of listed) this.want(d.offset, d.length);
        this.pump();
        return b;
      },
      () => {
        this.inFlight--;
        this.pump();
        return undefined;
      },
    );
    this.entries.set(offset, { length, bytes });
  }
}
