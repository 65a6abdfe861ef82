// A cluster worker's reports of the block files it reads, for the primary's LRU. A worker reads a
// block file it knows without asking the primary (src/cluster/remote-cache.ts), so the primary's
// index (src/cache/block-index.ts) would only see its own reads (misses, prefetches) and evict
// first the blocks the workers read most. Reports are one-way and batched: one message per base
// version at most every REPORT_INTERVAL_MS, each block once per batch, at most MAX_BLOCKS_PER_BATCH
// blocks in a batch. Past that, blocks are left out: recency is a hint, and a block read that often
// is reported again in the next batch.

/** The longest a read waits before the primary hears of it. */
export const REPORT_INTERVAL_MS = 250;
/** 1 GiB of 1 MiB blocks; a message of a few kilobytes. */
export const MAX_BLOCKS_PER_BATCH = 1024;

export class ReadReports {
  private pending = new Map<string, Set<number>>();
  private count = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly send: (vk: string, indexes: readonly number[]) => void,
    private readonly intervalMs = REPORT_INTERVAL_MS,
  ) {}

  /** Block `index` of version `vk` was read from its file. */
  note(vk: string, index: number): void {
    if (this.count >= MAX_BLOCKS_PER_BATCH) return;
    let blocks = this.pending.get(vk);
    if (!blocks) {
      blocks = new Set();
      this.pending.set(vk, blocks);
    }
    if (blocks.has(index)) return;
    blocks.add(index);
    this.count++;
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.intervalMs);
      // A report never keeps a draining worker alive.
      this.timer.unref();
    }
  }

  /** Sends what is pending now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    this.pending = new Map();
    this.count = 0;
    for (const [vk, blocks] of batch) this.send(vk, [...blocks]);
  }

  /** Stops the timer; what is pending is dropped. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
    this.count = 0;
  }
}
