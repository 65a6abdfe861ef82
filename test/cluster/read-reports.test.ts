// A worker's reports of the blocks it read from their files: batched per interval, each block
// once per batch, bounded, and never sent after close.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MAX_BLOCKS_PER_BATCH, ReadReports, REPORT_INTERVAL_MS } from '../../src/cluster/read-reports.js';

describe('ReadReports', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends one message per version after the interval, each block once', () => {
    const sent: Array<[string, readonly number[]]> = [];
    const r = new ReadReports((vk, indexes) => sent.push([vk, indexes]));
    for (const i of [3, 1, 3, 3, 2]) r.note('a', i);
    r.note('b', 7);
    vi.advanceTimersByTime(REPORT_INTERVAL_MS - 1);
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(sent).toEqual([
      ['a', [3, 1, 2]],
      ['b', [7]],
    ]);
    // Nothing new, nothing sent; a new read starts the next batch.
    vi.advanceTimersByTime(10 * REPORT_INTERVAL_MS);
    expect(sent).toHaveLength(2);
    r.note('a', 3);
    vi.advanceTimersByTime(REPORT_INTERVAL_MS);
    expect(sent.at(-1)).toEqual(['a', [3]]);
  });

  it('leaves out blocks past the bound of a batch', () => {
    const sent: number[][] = [];
    const r = new ReadReports((_vk, indexes) => sent.push([...indexes]));
    for (let i = 0; i < MAX_BLOCKS_PER_BATCH + 10; i++) r.note('a', i);
    vi.advanceTimersByTime(REPORT_INTERVAL_MS);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toHaveLength(MAX_BLOCKS_PER_BATCH);
  });

  it('sends nothing after close', () => {
    const send = vi.fn();
    const r = new ReadReports(send);
    r.note('a', 1);
    r.close();
    vi.advanceTimersByTime(REPORT_INTERVAL_MS * 2);
    expect(send).not.toHaveBeenCalled();
  });
});
