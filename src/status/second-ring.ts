// Byte counts per wall-clock second in a fixed ring: the last N seconds, nothing older. Used per
// node (a few seconds, for the current transfer rate) and per process (minutes, for the
// throughput chart). Adding is O(1) amortized: moving to a new second clears the buckets skipped
// since the last add, at most N of them.

export class SecondRing {
  readonly seconds: number;
  private readonly buckets: Float64Array;
  /** The epoch second the newest bucket holds. */
  private head: number;

  constructor(seconds: number, nowMs: number) {
    if (!Number.isInteger(seconds) || seconds < 2) throw new RangeError(`a ring needs at least 2 seconds, got ${seconds}`);
    this.seconds = seconds;
    this.buckets = new Float64Array(seconds);
    this.head = Math.floor(nowMs / 1000);
  }

  add(nowMs: number, n: number): void {
    const sec = this.advance(nowMs);
    this.buckets[this.slot(sec)] = this.buckets[this.slot(sec)]! + n;
  }

  /**
   * Spreads n over [fromMs, nowMs) in proportion to time: a counter sampled now and last at
   * fromMs moved by n in between. Time older than the ring is dropped with its share.
   */
  spread(fromMs: number, nowMs: number, n: number): void {
    const sec = this.advance(nowMs);
    const total = nowMs - fromMs;
    if (!(total > 0)) {
      this.buckets[this.slot(sec)] = this.buckets[this.slot(sec)]! + n;
      return;
    }
    for (let s = Math.max(Math.floor(fromMs / 1000), sec - this.seconds + 1); s <= sec; s++) {
      const overlap = Math.min(nowMs, (s + 1) * 1000) - Math.max(fromMs, s * 1000);
      if (overlap > 0) this.buckets[this.slot(s)] = this.buckets[this.slot(s)]! + (n * overlap) / total;
    }
  }

  /**
   * Bytes per second over the last `windowSeconds` (at most the ring's length minus the current,
   * partial second), counting the partial second in both the bytes and the time.
   */
  rate(nowMs: number, windowSeconds = this.seconds - 1, sinceMs?: number): number {
    const sec = this.advance(nowMs);
    const whole = Math.min(windowSeconds, this.seconds - 1);
    let sum = 0;
    for (let s = sec - whole; s <= sec; s++) sum += this.buckets[this.slot(s)]!;
    if (sum === 0) return 0;
    // A streak that began inside the window is divided by its own length, not the window's,
    // so a node that started reading a second ago does not show a fifth of its rate.
    let seconds = whole + (nowMs - sec * 1000) / 1000;
    if (sinceMs !== undefined) seconds = Math.min(seconds, Math.max(1, (nowMs - sinceMs) / 1000));
    return sum / seconds;
  }

  /** The complete seconds, oldest first, ending with the second before the current one. */
  series(nowMs: number): { readonly endMs: number; readonly values: number[] } {
    const sec = this.advance(nowMs);
    const values: number[] = [];
    for (let s = sec - this.seconds + 1; s < sec; s++) values.push(this.buckets[this.slot(s)]!);
    return { endMs: sec * 1000, values };
  }

  private slot(sec: number): number {
    return ((sec % this.seconds) + this.seconds) % this.seconds;
  }

  /** Moves the head to nowMs's second, clearing the seconds skipped; returns that second. */
  private advance(nowMs: number): number {
    const sec = Math.floor(nowMs / 1000);
    if (sec <= this.head) return this.head;
    if (sec - this.head >= this.seconds) this.buckets.fill(0);
    else for (let s = this.head + 1; s <= sec; s++) this.buckets[this.slot(s)] = 0;
    this.head = sec;
    return sec;
  }
}
