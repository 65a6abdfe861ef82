// How many sender threads a serving process starts: the machine's cores shared among the serving
// processes, at least one and at most four each.

import { describe, expect, it } from 'vitest';
import { MAX_SENDER_THREADS, senderThreads } from '../../src/native/sendfile.js';

describe('senderThreads', () => {
  it('gives one process a thread per core, up to four', () => {
    expect([1, 2, 3, 4, 8, 64].map((cores) => senderThreads(cores, 1))).toEqual([1, 2, 3, 4, 4, 4]);
    expect(MAX_SENDER_THREADS).toBe(4);
  });

  it("shares the cores among a cluster's workers, never fewer than one thread each", () => {
    expect(senderThreads(2, 2)).toBe(1);
    expect(senderThreads(2, 8)).toBe(1);
    expect(senderThreads(32, 8)).toBe(4);
    expect(senderThreads(32, 16)).toBe(2);
    expect(senderThreads(6, 4)).toBe(1);
    expect(senderThreads(0, 0)).toBe(1);
  });
});
