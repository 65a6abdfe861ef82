// The status view as serve wires it: store nodes declared at start (paged) and on put/delete,
// images noted by the serving path measured against, bases and cache from their providers.

import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { MemoryNodeStore, type NodeSpec } from '../../src/registry/store.js';
import type { OpenBase } from '../../src/serving/bases.js';
import { summarizeEdits, wireStatus } from '../../src/status/wiring.js';

const AT = '2026-01-01T00:00:00.000Z';
const spec = (name: string, bootIso = 'https://u:secret@img.example/base.iso?token=t0k'): NodeSpec => ({
  name,
  bootIso,
  edits: { append: ['ip=dhcp', 'rd.neednet=1'], set: { console: 'ttyS0' } },
  createdAt: AT,
  updatedAt: AT,
});
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 20));

describe('wireStatus', () => {
  it('declares every stored node at start, across pages, without credentials in the base', async () => {
    const store = new MemoryNodeStore();
    for (let i = 0; i < 1203; i++) await store.put(spec(`n${String(i).padStart(4, '0')}`));
    const w = wireStatus({ store, storeSource: 'store', logger: pino({ level: 'silent' }) });
    await settle();
    const snap = w.tracker.snapshot({ limit: 5 });
    expect(snap.totals.nodes).toBe(1203);
    expect(snap.nodes.items[0]).toMatchObject({
      name: 'n0000',
      state: 'never',
      source: 'store',
      edits: 'append 2 (ip=, rd.neednet=), set 1 (console)',
    });
    expect(JSON.stringify(snap)).not.toMatch(/secret|t0k/);
    w.close();
  });

  it('follows puts and deletes, and measures a range read against the noted image size', async () => {
    const store = new MemoryNodeStore();
    const w = wireStatus({ store, storeSource: 'store', logger: pino({ level: 'silent' }) });
    await store.put(spec('a'));
    await store.put(spec('b'));
    await settle();
    expect(w.tracker.snapshot({}).totals.nodes).toBe(2);
    await store.delete('b');
    await settle();
    expect(w.tracker.snapshot({}).nodes.items.map((n) => n.name)).toEqual(['a']);

    w.noteImage({ source: 'store', name: 'a' }, { size: 1000, etag: '"e1"' });
    const t = { ref: { source: 'store', name: 'a' }, method: 'GET', status: 206, body: true, served: '0-499', expectedBytes: 500 };
    w.observer.start(t);
    w.observer.bytes(t, 0, 500);
    w.observer.end(t, { outcome: 'complete' });
    const row = w.tracker.snapshot({}).nodes.items[0]!;
    expect(row).toMatchObject({ name: 'a', imageSize: 1000, etag: '"e1"' });
    expect(row.imageProgress).toBeCloseTo(0.5, 5);
    w.close();
  });

  it("shows each base's share of the cache, and a base that failed to open with its code", async () => {
    const store = new MemoryNodeStore();
    const open = {
      id: 'v1',
      url: 'https://u:secret@img.example/a.iso',
      upstream: { size: 4096, version: { url: 'https://img.example/a.iso', size: 4096, etag: '"e"' } },
      cached: { versionKey: 'vk-a' },
    } as unknown as OpenBase;
    const cacheStats = {
      hits: 0,
      misses: 0,
      evictions: 0,
      bytesUsed: 0,
      blocks: 0,
      upstreamBytes: 0,
      upstreamRequests: 0,
      errors: 0,
      retries: 0,
      degraded: false,
    };
    const w = wireStatus({
      store,
      storeSource: 'store',
      logger: pino({ level: 'silent' }),
      bases: () => [
        { url: open.url, open },
        { url: 'https://img.example/indexing.iso' },
        { url: 'https://img.example/gone.iso?sig=x', failed: { code: 'UPSTREAM_UNREACHABLE', at: 0 } },
      ],
      cache: {
        stats: () => cacheStats,
        sourceStats: (vk) => (vk === 'vk-a' ? { cachedBytes: 2048, upstreamBytes: 3072 } : { cachedBytes: 0, upstreamBytes: 0 }),
      },
    });
    expect(w.tracker.snapshot({}).bases).toEqual([
      { url: 'https://img.example/a.iso', size: 4096, validator: '"e"', cachedBytes: 2048, upstreamBytes: 3072, state: 'ready' },
      { url: 'https://img.example/indexing.iso', state: 'indexing' },
      { url: 'https://img.example/gone.iso?…', state: 'failed', code: 'UPSTREAM_UNREACHABLE' },
    ]);
    w.close();
  });

  it('summarizes edits in a line', () => {
    expect(summarizeEdits({})).toBe('none');
    expect(summarizeEdits({ append: ['a', 'b=1', 'c', 'd'], remove: ['quiet'] })).toBe('append 4 (a, b=, c, …), remove 1 (quiet)');
  });
});
