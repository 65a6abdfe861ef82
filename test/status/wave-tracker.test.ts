import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { WaveTracker, type NodeRow } from '../../src/status/index.js';

const MiB = 1024 * 1024;

/** A clock the test moves by hand. */
function clock(start = Date.UTC(2026, 0, 1, 12, 0, 0)) {
  let t = start;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

function row(tracker: WaveTracker, name: string): NodeRow {
  const r = tracker.snapshot({ filter: name, limit: 500 }).nodes.items.find((n) => n.name === name);
  if (!r) throw new Error(`no row for ${name}`);
  return r;
}

/** A GET of [start, end) served in 64 KiB chunks, the clock moving `msPerChunk` per chunk. */
function read(tracker: WaveTracker, c: ReturnType<typeof clock>, node: string, start: number, end: number, msPerChunk = 1, size = 64 * MiB) {
  tracker.transferStart({ node, source: 'store', method: 'GET', start, end, imageSize: size, base: 'http://user:secret@mirror/base.iso?sig=abc' });
  for (let off = start; off < end; off += 65536) {
    c.advance(msPerChunk);
    tracker.bytes(node, off, Math.min(65536, end - off));
  }
  tracker.transferEnd({ node, status: 206 });
}

describe('WaveTracker states', () => {
  it('shows a declared node as never fetched, then mounting on HEAD and probes, then reading, then idle', () => {
    const c = clock();
    const t = new WaveTracker({ now: c.now });
    t.declare({ name: 'n1', source: 'store', base: 'http://mirror/base.iso', edits: 'append 1' });
    expect(t.stateOf('n1')).toBe('never');

    t.transferStart({ node: 'n1', source: 'store', method: 'HEAD', start: 0, end: 0 });
    t.transferEnd({ node: 'n1', status: 200 });
    expect(t.stateOf('n1')).toBe('mounting');
    read(t, c, 'n1', 32768, 34816); // the primary volume descriptor
    expect(t.stateOf('n1')).toBe('mounting');

    read(t, c, 'n1', 0, 4 * MiB);
    expect(t.stateOf('n1')).toBe('reading');

    c.advance(9_000);
    expect(t.stateOf('n1')).toBe('reading'); // a BMC's pause between ranges is not idleness
    c.advance(1_000);
    expect(t.stateOf('n1')).toBe('idle');
  });

  it('shows a node as stalled when an open transfer moves no byte for stallAfterMs, and reading again when bytes move', () => {
    const c = clock();
    const t = new WaveTracker({ now: c.now, stallAfterMs: 5_000 });
    t.transferStart({ node: 'n1', source: 'store', method: 'GET', start: 0, end: 8 * MiB });
    t.bytes('n1', 0, 2 * MiB);
    c.advance(4_999);
    expect(t.stateOf('n1')).toBe('reading');
    c.advance(1);
    expect(t.stateOf('n1')).toBe('stalled');
    expect(row(t, 'n1').rateBytesPerSecond).toBe(0);
    t.bytes('n1', 2 * MiB, 65536);
    expect(t.stateOf('n1')).toBe('reading');
  });

  it('shows a transfer that opened and never sent a byte as stalled', () => {
    const c = clock();
    const t = new WaveTracker({ now: c.now, stallAfterMs: 3_000 });
    t.transferStart({ node: 'n1', source: 'store', method: 'GET', start: 0, end: MiB });
    c.advance(3_000);
    expect(t.stateOf('n1')).toBe('stalled');
  });

  it('shows an error after a failed transfer, until a later transfer succeeds', () => {
    const c = clock();
    const t = new WaveTracker({ now: c.now });
    read(t, c, 'n1', 0, 2 * MiB);
    t.transferStart({ node: 'n1', source: 'store', method: 'GET', start: 2 * MiB, end: 3 * MiB });
    t.transferEnd({ node: 'n1', status: 502, code: 'UPSTREAM_STATUS' });
    expect(t.stateOf('n1')).toBe('error');
    expect(row(t, 'n1').error).toMatchObject({ status: 502, code: 'UPSTREAM_STATUS' });
    c.advance(1);
    read(t, c, 'n1', 2 * MiB, 3 * MiB);
    expect(t.stateOf('n1')).toBe('reading');
    expect(row(t, 'n1').error).toBeNull();
  });

  it('does not count a 416 or a client that went away as an error', () => {
    const c = clock();
    const t = new WaveTracker({ now: c.now });
    t.transferStart({ node: 'n1', source: 'store', method: 'GET', start: 0, end: 0 });
    t.transferEnd({ node: 'n1', status: 416 });
    t.transferStart({ node: 'n1', source: 'store', method: 'GET', start: 0, end: MiB });
    t.bytes('n1', 0, 1000);
    t.transferEnd({ node: 'n1', status: 206 });
    expect(t.stateOf('n1')).toBe('mounting');
  });

  it('shows expired past the declared expiry, and after a 410', () => {
    const c = clock();
    const t = new WaveTracker({ now: c.now });
    t.declare({ name: 'a', expiresAt: new Date(c.now() + 1000).toISOString() });
    expect(t.stateOf('a')).toBe('never');
    c.advance(1000);
    expect(t.stateOf('a')).toBe('expired');
    t.transferStart({ node: 'b', source: 'store', method: 'HEAD', start: 0, end: 0 });
    t.transferEnd({ node: 'b', status: 410 });
    expect(t.stateOf('b')).toBe('expired');
  });

  it('forgets a deleted node', () => {
    const t = new WaveTracker();
    t.declare({ name: 'a' });
    t.forget('a');
    expect(t.stateOf('a')).toBeUndefined();
    expect(t.snapshot().totals.nodes).toBe(0);
  });
});

describe('WaveTracker progress and rate', () => {
  it('measures distinct bytes, not bytes served: a reread adds nothing', () => {
    const c = clock();
    const t = new WaveTracker({ now: c.now });
    read(t, c, 'n1', 0, 8 * MiB);
    read(t, c, 'n1', 0, 8 * MiB);
    const r = row(t, 'n1');
    expect(r.distinctBytes).toBe(8 * MiB);
    expect(r.servedBytes).toBe(16 * MiB);
    expect(r.imageProgress).toBeCloseTo(8 / 64);
    expect(r.bootProgress).toBeNull();
    expect(r.complete).toBe(false);
    expect(r.coverage).toEqual([[0, 8 / 64]]);
  });

  it("measures progress against the boot estimate of the node's base, and completes on reaching it", () => {
    const c = clock();
    const t = new WaveTracker({
      now: c.now,
      bases: () => [{ url: 'http://user:secret@mirror/base.iso?sig=abc', state: 'ready', bootBytes: 16 * MiB }],
    });
    read(t, c, 'n1', 0, 8 * MiB);
    expect(row(t, 'n1').bootProgress).toBeCloseTo(0.5);
    read(t, c, 'n1', 8 * MiB, 16 * MiB);
    const r = row(t, 'n1');
    expect(r.bootProgress).toBe(1);
    expect(r.complete).toBe(true);
    expect(r.imageProgress).toBeCloseTo(0.25);
  });

  it('completes against the whole image when there is no boot estimate', () => {
    const c = clock();
    const t = new WaveTracker({ now: c.now });
    read(t, c, 'n1', 0, 4 * MiB, 1, 4 * MiB);
    expect(row(t, 'n1')).toMatchObject({ complete: true, imageProgress: 1 });
  });

  it('strips credentials and the query from base URLs', () => {
    const c = clock();
    const t = new WaveTracker({ now: c.now, bases: () => [{ url: 'https://u:p@mirror/x.iso?X-Amz-Signature=s', state: 'ready' }] });
    read(t, c, 'n1', 0, MiB);
    const s = t.snapshot();
    expect(s.nodes.items[0]!.base).toBe('http://mirror/base.iso?…');
    expect(s.bases[0]!.url).toBe('https://mirror/x.iso?…');
    expect(JSON.stringify(s)).not.toMatch(/secret|X-Amz|:p@/);
  });

  it('reports the current rate of a node reading 8 MiB/s, and zero once it stops', () => {
    const c = clock();
    const t = new WaveTracker({ now: c.now });
    // 128 chunks of 64 KiB per second for 3 s.
    read(t, c, 'n1', 0, 24 * MiB, 1000 / 128);
    expect(row(t, 'n1').rateBytesPerSecond / MiB).toBeCloseTo(8, 0);
    expect(t.snapshot().totals.servedBytesPerSecond / MiB).toBeGreaterThan(4);
    c.advance(6_000);
    expect(row(t, 'n1').rateBytesPerSecond).toBe(0);
  });

  it('charts served bytes per second and samples the upstream counter', () => {
    const c = clock();
    let upstream = 0;
    const t = new WaveTracker({ now: c.now, upstreamTotal: () => upstream, historySeconds: 60 });
    t.snapshot(); // the baseline sample
    for (let s = 0; s < 10; s++) {
      t.bytes('n1', s * MiB, MiB);
      upstream += MiB / 2;
      c.advance(1000);
      t.snapshot();
    }
    const th = t.snapshot().throughput;
    expect(th.served).toHaveLength(60);
    expect(th.served.slice(-10)).toEqual(Array(10).fill(MiB));
    expect(th.upstream.slice(-10).reduce((a, b) => a + b, 0)).toBe(5 * MiB);
  });
});

describe('WaveTracker snapshot', () => {
  function wave(n: number) {
    const c = clock();
    const t = new WaveTracker({ now: c.now });
    for (let i = 0; i < n; i++) {
      const name = `node-${String(i).padStart(3, '0')}`;
      if (i % 3 === 0) t.declare({ name, source: 'ironic' });
      else read(t, c, name, 0, i * 65536, 1);
    }
    return { c, t };
  }

  it('pages, sorts and filters', () => {
    const { t } = wave(100);
    const first = t.snapshot({ sort: 'name', limit: 10 });
    expect(first.nodes.total).toBe(100);
    expect(first.nodes.items.map((r) => r.name)).toEqual(Array.from({ length: 10 }, (_, i) => `node-${String(i).padStart(3, '0')}`));
    const page3 = t.snapshot({ sort: 'name', offset: 20, limit: 10 });
    expect(page3.nodes.items[0]!.name).toBe('node-020');
    const byProgress = t.snapshot({ sort: 'progress', limit: 3 });
    expect(byProgress.nodes.order).toBe('desc');
    expect(byProgress.nodes.items.map((r) => r.name)).toEqual(['node-098', 'node-097', 'node-095']); // node-099 is only declared
    expect(t.snapshot({ filter: 'ironic' }).nodes.total).toBe(34);
    expect(t.snapshot({ states: ['never'] }).nodes.total).toBe(34);
    expect(t.snapshot({ filter: 'node-05' }).nodes.total).toBe(10);
    const totals = t.snapshot().totals.byState;
    expect(totals.never).toBe(34);
    expect(Object.values(totals).reduce((a, b) => a + b, 0)).toBe(100);
  });

  it('caps the page size', () => {
    const { t } = wave(10);
    expect(t.snapshot({ limit: 1e9 }).nodes.limit).toBe(500);
  });

  it('drops the least recently active nodes past maxNodes', () => {
    const c = clock();
    const t = new WaveTracker({ now: c.now, maxNodes: 200 });
    for (let i = 0; i < 300; i++) {
      c.advance(1);
      t.declare({ name: `n${i}` });
    }
    expect(t.nodeCount).toBeLessThanOrEqual(200);
    expect(t.stateOf('n299')).toBe('never');
    expect(t.stateOf('n0')).toBeUndefined();
  });
});

describe('WaveTracker memory', () => {
  it('stays under 4 KiB per node for 10,000 nodes after 200 random ranges each', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    const before = process.memoryUsage().heapUsed;
    const c = clock();
    const t = new WaveTracker({ now: c.now });
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const size = 1024 * MiB;
    for (let i = 0; i < 10_000; i++) {
      const node = `bmc-${i}.rack-${i % 40}.example.net`;
      t.declare({
        name: node,
        source: 'store',
        base: `http://mirror/base-${i % 4}.iso`,
        edits: 'append 2, set 1 ' + 'x'.repeat(40),
        etag: `"${i.toString(16)}-abcdef"`,
      });
      t.transferStart({ node, source: 'store', method: 'GET', start: 0, end: size, imageSize: size });
      for (let r = 0; r < 200; r++) {
        const off = rand(size / 65536) * 65536;
        t.bytes(node, off, 65536 * (1 + rand(4)));
      }
      c.advance(1);
      t.transferEnd({ node, status: 206 });
    }
    gc();
    const perNode = (process.memoryUsage().heapUsed - before) / 10_000;
    const s = t.snapshot({ limit: 500 });
    expect(s.totals.nodes).toBe(10_000);
    // Every node is coarsened to its cap; none holds a per-request list.
    for (const r of s.nodes.items) expect(r.coverage!.length).toBeLessThanOrEqual(t.maxIntervals);
    expect(s.nodes.items.some((r) => r.coarsenedBytes > 0)).toBe(true);
    console.log(`tracker memory: ${Math.round(perNode)} bytes per node`);
    expect(perNode).toBeLessThan(4096);
  });

  it('costs the same per chunk however many chunks came before (no per-request state)', () => {
    const t = new WaveTracker();
    let n = 0;
    const time = (chunks: number): number => {
      const t0 = performance.now();
      for (const end = n + chunks; n < end; n++) t.bytes(`n${n % 100}`, Math.floor(n / 100) * 65536, 65536);
      return (performance.now() - t0) / chunks;
    };
    time(100_000); // warm up
    const early = time(200_000);
    const late = time(200_000);
    // Generous bounds for a shared machine: a few microseconds a chunk, and no growth.
    expect(late).toBeLessThan(20e-3);
    expect(late).toBeLessThan(early * 4);
  });

  it('answers a snapshot of 10,000 nodes in well under a second', () => {
    const c = clock();
    const t = new WaveTracker({ now: c.now });
    for (let i = 0; i < 10_000; i++) read(t, c, `n${i}`, 0, 2 * MiB, 0);
    const t0 = performance.now();
    const s = t.snapshot({ sort: 'rate', limit: 100 });
    expect(s.nodes.items).toHaveLength(100);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
