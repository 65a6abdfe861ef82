// The distinct bytes a node has been served, as a small sorted set of half-open intervals
// [start, end). Overlapping and adjacent intervals are merged as they arrive, so a BMC reading
// sequentially by ranges keeps one interval however many requests it makes, and the chunk that
// continues the interval touched last is added in O(1) (a cursor remembers it). Anything else
// costs a binary search plus a shift inside a fixed-size array.
//
// Memory is bounded: past `maxIntervals` the two neighbours with the smallest gap between them
// are merged (coarsening). The gap is then counted as served, so `coveredBytes` may overstate the
// truth by at most `coarsenedBytes`, which is reported beside it.

/** Intervals kept per node before coarsening: 32 pairs of doubles, about 0.5 KiB. */
export const DEFAULT_MAX_INTERVALS = 32;
const INITIAL_CAPACITY = 4;

export class IntervalSet {
  readonly maxIntervals: number;
  /** Pairs [start0, end0, start1, end1, ...], sorted, disjoint and not adjacent. */
  private buf: Float64Array;
  private count = 0;
  /** Index of the interval touched last (the sequential-read fast path). */
  private cursor = 0;
  private covered = 0;
  private coarsened = 0;

  constructor(maxIntervals = DEFAULT_MAX_INTERVALS) {
    if (!Number.isInteger(maxIntervals) || maxIntervals < 1) throw new RangeError(`maxIntervals must be a positive integer, got ${maxIntervals}`);
    this.maxIntervals = maxIntervals;
    this.buf = new Float64Array(2 * Math.min(INITIAL_CAPACITY, maxIntervals + 1));
  }

  /** Bytes inside the intervals (distinct bytes served, plus at most coarsenedBytes of gaps). */
  get coveredBytes(): number {
    return this.covered;
  }

  /** Gap bytes merged in by coarsening: the upper bound of the overstatement of coveredBytes. */
  get coarsenedBytes(): number {
    return this.coarsened;
  }

  get size(): number {
    return this.count;
  }

  /** The intervals as [start, end) pairs (for tests and the coverage strip). */
  intervals(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let i = 0; i < this.count; i++) out.push([this.buf[2 * i]!, this.buf[2 * i + 1]!]);
    return out;
  }

  /** Adds [start, end). Empty and inverted ranges are ignored. */
  add(start: number, end: number): void {
    if (!(end > start)) return;
    const b = this.buf;
    const i = this.firstEndingAtOrAfter(start);
    if (i === this.count || b[2 * i]! > end) {
      this.insertAt(i, start, end);
      return;
    }
    // Merge [start, end) with interval i and every following interval it reaches.
    const s = Math.min(start, b[2 * i]!);
    let e = Math.max(end, b[2 * i + 1]!);
    let covered = this.covered - (b[2 * i + 1]! - b[2 * i]!);
    let j = i + 1;
    while (j < this.count && b[2 * j]! <= e) {
      covered -= b[2 * j + 1]! - b[2 * j]!;
      e = Math.max(e, b[2 * j + 1]!);
      j++;
    }
    b[2 * i] = s;
    b[2 * i + 1] = e;
    this.covered = covered + (e - s);
    this.remove(i + 1, j - (i + 1));
    this.cursor = i;
  }

  /** Index of the first interval whose end is >= start (count when none). */
  private firstEndingAtOrAfter(start: number): number {
    const b = this.buf;
    const c = this.cursor;
    // Sequential reads continue the interval touched last: check it before searching.
    if (c < this.count && b[2 * c + 1]! >= start && (c === 0 || b[2 * c - 1]! < start)) return c;
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (b[2 * mid + 1]! < start) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private insertAt(i: number, start: number, end: number): void {
    if (2 * (this.count + 1) > this.buf.length) {
      const grown = new Float64Array(2 * Math.min(this.maxIntervals + 1, Math.max(INITIAL_CAPACITY, this.count * 2)));
      grown.set(this.buf.subarray(0, 2 * this.count));
      this.buf = grown;
    }
    const b = this.buf;
    b.copyWithin(2 * (i + 1), 2 * i, 2 * this.count);
    b[2 * i] = start;
    b[2 * i + 1] = end;
    this.count++;
    this.covered += end - start;
    this.cursor = i;
    if (this.count > this.maxIntervals) this.coarsen();
  }

  /** Merges the two neighbours with the smallest gap, counting the gap as covered. */
  private coarsen(): void {
    const b = this.buf;
    let best = 0;
    let bestGap = Infinity;
    for (let k = 0; k + 1 < this.count; k++) {
      const gap = b[2 * (k + 1)]! - b[2 * k + 1]!;
      if (gap < bestGap) {
        bestGap = gap;
        best = k;
      }
    }
    b[2 * best + 1] = b[2 * (best + 1) + 1]!;
    this.covered += bestGap;
    this.coarsened += bestGap;
    if (this.cursor > best) this.cursor--;
    this.remove(best + 1, 1);
  }

  /** Removes n intervals starting at index i. */
  private remove(i: number, n: number): void {
    if (n <= 0) return;
    this.buf.copyWithin(2 * i, 2 * (i + n), 2 * this.count);
    this.count -= n;
    if (this.cursor >= this.count) this.cursor = Math.max(0, this.count - 1);
  }
}
