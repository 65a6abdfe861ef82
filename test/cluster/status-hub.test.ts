// A cluster's status view: workers' transfers, sent in batches, applied once by the primary's
// hub; a worker's page asks the hub and gets the whole cluster with its own bases. The IPC
// between them is replaced by structured clones here (the real channel is in cluster.test.ts).

import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { CacheStats } from '../../src/cache/block-cache.js';
import { StatusHub } from '../../src/cluster/status-hub.js';
import { MemoryNodeStore } from '../../src/registry/store.js';
import type { BaseInfo, SnapshotQuery } from '../../src/status/types.js';
import { wireRemoteStatus } from '../../src/status/wiring.js';

const SIZE = 1000;
const stats: CacheStats = {
  hits: 3,
  misses: 1,
  evictions: 0,
  bytesUsed: 4096,
  blocks: 2,
  upstreamBytes: 4096,
  upstreamRequests: 2,
  errors: 0,
  retries: 0,
  degraded: false,
};

function cluster() {
  const store = new MemoryNodeStore();
  const hub = new StatusHub({
    store,
    logger: pino({ level: 'silent' }),
    cache: { stats: () => stats, sourceStats: () => ({ cachedBytes: 0, upstreamBytes: 0 }) },
    cacheBudgetBytes: 1 << 20,
  });
  const asked: Array<readonly BaseInfo[]> = [];
  const worker = (id: number, baseUrl: string, cache?: { stats(): CacheStats }) =>
    wireRemoteStatus(
      { bases: () => [{ url: baseUrl }], ...(cache ? { cache, cacheBudgetBytes: 1 << 20 } : {}) },
      {
        relay: (events) => hub.apply(id, structuredClone(events)),
        snapshot: async (query: SnapshotQuery, bases, view) => {
          asked.push(bases);
          return structuredClone(hub.snapshot(structuredClone(query), structuredClone(bases), structuredClone(view)));
        },
        sourceOf: async (name) => hub.sourceOf(name),
      },
    );
  // Worker 2's view of the cache: the primary's figures with its own reads (remote-cache.ts).
  const w2Cache = { stats: () => ({ ...stats, hits: 40, misses: 2 }) };
  return { store, hub, asked, w1: worker(1, 'http://up/one.iso'), w2: worker(2, 'http://up/two.iso', w2Cache) };
}

const transfer = (name: string, range: [number, number]) => ({
  ref: { source: 'store', name },
  method: 'GET',
  status: 206,
  body: true,
  served: `${range[0]}-${range[1] - 1}`,
  expectedBytes: range[1] - range[0],
});

describe('StatusHub', () => {
  it("shows every worker's transfers to a page on any worker, with the asking worker's bases", async () => {
    const c = cluster();
    await c.store.put({ name: 'n1', bootIso: 'http://up/one.iso', edits: {}, createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z' });
    await new Promise((r) => setTimeout(r, 20));
    for (const [w, range] of [
      [c.w1, [0, 500]],
      [c.w2, [500, 1000]],
    ] as const) {
      w.noteImage({ source: 'store', name: 'n1' }, { size: SIZE, etag: '"e1"' });
      const t = transfer('n1', [range[0], range[1]]);
      w.observer.start(t);
      w.observer.bytes(t, range[0], range[1] - range[0]);
      w.observer.end(t, { outcome: 'complete' });
    }
    // Nothing reaches the hub before a worker's batch goes.
    expect((await c.w1.view.snapshot({})).nodes.items[0]).toMatchObject({ name: 'n1', transfers: 0 });
    c.w1.close();
    c.w2.close();
    for (const w of [c.w1, c.w2]) {
      const snap = await w.view.snapshot({});
      expect(snap.nodes.items).toHaveLength(1);
      expect(snap.nodes.items[0]).toMatchObject({ name: 'n1', transfers: 2, servedBytes: 1000, openTransfers: 0, imageSize: SIZE, etag: '"e1"' });
      expect(snap.nodes.items[0]!.imageProgress).toBe(1);
      expect(snap.cache).toMatchObject({ usedBytes: 4096, budgetBytes: 1 << 20 });
    }
    // The panel is the asking worker's view when it sends one, else the primary's own figures.
    expect((await c.w2.view.snapshot({})).cache).toMatchObject({ hits: 40, misses: 2 });
    expect((await c.w1.view.snapshot({})).cache).toMatchObject({ hits: 3, misses: 1 });
    expect(c.asked.slice(0, 3).map((b) => b.map((x) => x.url))).toEqual([['http://up/one.iso'], ['http://up/one.iso'], ['http://up/two.iso']]);
    expect((await c.w2.view.snapshot({})).bases).toEqual([{ url: 'http://up/two.iso', state: 'indexing' }]);
    expect(await c.w2.view.sourceOf('n1')).toBe('store');
    expect(await c.w2.view.sourceOf('nobody')).toBeUndefined();
    c.hub.close();
  });

  it("ends a dead worker's open transfers, aborted, and ignores what it sent late", async () => {
    const c = cluster();
    const t = transfer('n2', [0, 100]);
    c.w1.observer.start(t);
    c.w1.close();
    expect((await c.w2.view.snapshot({})).totals.openTransfers).toBe(1);
    c.hub.workerGone(1);
    const snap = await c.w2.view.snapshot({});
    expect(snap.totals.openTransfers).toBe(0);
    expect(snap.nodes.items[0]).toMatchObject({ name: 'n2', openTransfers: 0 });
    // A batch of the dead worker's arriving after its exit changes nothing.
    c.w1.observer.start(t);
    c.w1.close();
    expect((await c.w2.view.snapshot({})).totals.openTransfers).toBe(0);
    c.hub.close();
  });

  it('takes malformed input from a worker without throwing', () => {
    const c = cluster();
    c.hub.apply(1, 'not a batch');
    c.hub.apply(1, [[0, null, 206], [9], 'x', [1, 'n', 'a', 1]]);
    expect(c.hub.snapshot(null as unknown as SnapshotQuery, 'no bases').totals.nodes).toBe(0);
    expect(c.hub.sourceOf(42 as unknown as string)).toBeUndefined();
    c.hub.close();
  });
});
