// Three `isoproxy serve` replicas behind nginx (docs/nginx-replicas.conf), sharing nodes through
// Debian's redis-server, in front of one upstream serving a 64 MiB base ISO. Proves what an
// operator relies on when scaling out: every replica serves a node byte-identically under the
// same ETag (so nginx may replay a range on any of them), a wave of BMCs survives a replica
// SIGKILLed mid-wave, each replica fetches the base from upstream at most once, a change made
// through one replica reaches another by its next request, and a Redis restart mid-wave neither
// stops serving nor loses writes.

import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Edits } from '../../src/bootconfig/types.js';
import { hasRedis, startRedis, type TestRedis } from '../helpers/redis.js';
import { freePort, missingTools, scratchDir } from '../helpers/tools.js';
import { expectedDigests } from '../service/harness.js';
import { sizedIso } from '../service/images.js';
import { startUpstream, type TestUpstream } from '../service/upstream.js';
import { bmcRead, type BmcProgress, type BmcResult } from './bmc.js';
import { balancer, BUILT, replica, type Balancer, type Replica } from './cluster.js';

const missing = [...missingTools('xorriso', 'nginx'), ...(hasRedis() ? [] : ['redis-server'])];
const why = missing.length > 0 ? `missing ${missing.join(', ')}` : !BUILT ? 'dist/ is not built (npm run build)' : '';
const BASE_MIB = 64;
const NODES = 12;
const REPLICAS = 3;
const editsOf = (i: number, v = 1): Edits => ({ append: [`isoproxy.node=r-${i}`, `isoproxy.v=${v}`], set: { 'isoproxy.site': `rack-${i % 4}` } });
const nodeName = (i: number): string => `r-${i}`;

function blockBytes(range: string | undefined): number {
  const m = /^bytes=(\d+)-(\d+)$/.exec(range ?? '');
  return m ? Number(m[2]) - Number(m[1]) + 1 : 0;
}

async function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe.skipIf(why !== '')(`replicas behind nginx with a Redis store${why ? ` (skipped: ${why})` : ''}`, () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  let redis: TestRedis;
  let upstream: TestUpstream;
  let lb: Balancer;
  let iso: string;
  let baseSize: number;
  const replicas: Replica[] = [];
  let want: Array<{ size: number; sha256: string }>;

  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-replicas-');
    iso = await sizedIso(scratch.dir, 'base', BASE_MIB, 'replicas');
    const bytes = await readFile(iso);
    baseSize = bytes.length;
    want = await expectedDigests(
      iso,
      Array.from({ length: NODES }, (_, i) => editsOf(i)),
    );
    upstream = await startUpstream({ '/base.iso': bytes });
    redis = await startRedis(scratch.dir);
    const ports = await Promise.all(Array.from({ length: REPLICAS }, () => freePort()));
    lb = await balancer(
      scratch.dir,
      ports.map((p) => `127.0.0.1:${p}`),
    );
    for (let i = 0; i < REPLICAS; i++) {
      replicas.push(
        await replica({
          dir: scratch.dir,
          index: i,
          port: ports[i]!,
          store: `${redis.url()}?stale-reads=2m`,
          allowUpstream: `${upstream.origin}/`,
          publicUrl: lb.origin,
        }),
      );
    }
  }, 300_000);

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.kill('SIGTERM')));
    await lb?.close();
    await redis?.close();
    await upstream?.close();
    await scratch?.cleanup();
  });

  /** Every node read at once through nginx by a BMC; `during` runs once `fraction` of all bytes arrived. */
  async function wave(fraction: number, during: (progress: BmcProgress) => Promise<void>): Promise<{ results: BmcResult[]; progress: BmcProgress }> {
    const progress: BmcProgress = { bytes: 0, okAt: [] };
    const reads = Promise.all(Array.from({ length: NODES }, (_, i) => bmcRead(nodeName(i), `${lb.origin}/iso/${nodeName(i)}.iso`, progress)));
    const total = want.reduce((s, w) => s + w.size, 0);
    let failed = false;
    reads.catch(() => {
      failed = true;
    });
    await waitFor(() => failed || progress.bytes >= total * fraction, 'the wave to get going', 300_000);
    if (!failed) await during(progress);
    return { results: await reads, progress };
  }

  it('serves nodes PUT through one replica from every replica, byte-identical and under the same ETag', async () => {
    const puts = await Promise.all(
      Array.from({ length: NODES }, (_, i) => replicas[0]!.putNode(nodeName(i), { bootIso: upstream.url('/base.iso'), edits: editsOf(i) })),
    );
    expect(puts.map((r) => r.status)).toEqual(Array(NODES).fill(201));
    const putEtags = await Promise.all(puts.map(async (r) => ((await r.json()) as { etag: string }).etag));
    for (let i = 0; i < NODES; i++) {
      const heads = await Promise.all(replicas.map((r) => fetch(r.imageUrl(nodeName(i)), { method: 'HEAD' })));
      expect(heads.map((h) => h.status)).toEqual(Array(REPLICAS).fill(200));
      // The ETag is the base's validator and the patch-set digest: nothing of the replica in it.
      expect(
        heads.map((h) => h.headers.get('etag')),
        nodeName(i),
      ).toEqual(Array(REPLICAS).fill(putEtags[i]));
      expect(heads.map((h) => Number(h.headers.get('content-length')))).toEqual(Array(REPLICAS).fill(want[i]!.size));
      expect(new Set(heads.map((h) => h.headers.get('last-modified'))).size).toBe(1);
    }
    // The same bytes too: one range across the edited boot configs, from each replica.
    const slices = await Promise.all(
      replicas.map(async (r) => Buffer.from(await (await fetch(r.imageUrl(nodeName(0)), { headers: { range: 'bytes=0-1048575' } })).arrayBuffer())),
    );
    expect(slices[1]!.equals(slices[0]!) && slices[2]!.equals(slices[0]!)).toBe(true);
  });

  it('finishes a wave of BMCs reading 256 KiB ranges byte-identical with one replica SIGKILLed mid-wave, fetching the base once per replica that served it', async () => {
    const before = upstream.blockGets('/base.iso').length;
    let victim: Replica | undefined;
    let killedAt = 0;
    try {
      const { results } = await wave(0.3, async () => {
        // The replica that served most image ranges so far: the kill certainly interrupts BMCs.
        const lines = (await lb.log()).filter((l) => l.uri.startsWith('/iso/'));
        const served = replicas.map((r) => lines.filter((l) => l.upstreams.at(-1) === r.addr).length);
        victim = replicas[served.indexOf(Math.max(...served))]!;
        await victim.kill('SIGKILL');
        killedAt = Date.now();
      });
      results.forEach((r, i) => {
        expect({ size: r.size, sha256: r.sha256 }, nodeName(i)).toEqual(want[i]);
      });
      expect(new Set(results.map((r) => r.sha256)).size).toBe(NODES);
      const lines = (await lb.log()).filter((l) => l.uri.startsWith('/iso/'));
      // Requests that reached nginx after the kill were all answered by another replica (nginx
      // may have tried the dead one first, then failed over to the next on the ring).
      const after = lines.filter((l) => l.startMs > killedAt + 5);
      expect(after.length).toBeGreaterThan(0);
      expect(after.filter((l) => l.upstreams.at(-1) === victim!.addr)).toEqual([]);
      const retried = results.reduce((s, r) => s + r.retries.length, 0);
      const failedOver = after.filter((l) => l.upstreams.length > 1).length;
      console.info(`replica ${victim!.index} killed: ${failedOver} requests failed over inside nginx, ${retried} ranges retried by BMCs`);

      // Upstream: at most one copy of the base per replica that served it (blocks are 1 MiB).
      const servedBy = new Set(lines.filter((l) => l.status === 206).map((l) => l.upstreams.at(-1)));
      const gets = upstream.blockGets('/base.iso').slice(before);
      const fetched = gets.reduce((s, g) => s + blockBytes(g.range), 0);
      expect(fetched).toBeLessThanOrEqual(servedBy.size * baseSize);
      const perBlock = new Map<string, number>();
      for (const g of gets) perBlock.set(g.range ?? '', (perBlock.get(g.range ?? '') ?? 0) + 1);
      expect(Math.max(...perBlock.values())).toBeLessThanOrEqual(servedBy.size);
      console.info(
        `upstream: ${(fetched / 2 ** 20).toFixed(0)} MiB for a ${(baseSize / 2 ** 20).toFixed(0)} MiB base served by ${servedBy.size} replicas`,
      );
    } finally {
      // Back in the pool for the next tests, on the same (warm) cache directory.
      await victim?.start();
    }
  }, 300_000);

  it('serves a node changed through replica 1 with the new ETag from replica 3 on the next request', async () => {
    const i = NODES - 1;
    const r1 = replicas[0]!;
    const r3 = replicas[2]!;
    const old = (await fetch(r3.imageUrl(nodeName(i)), { method: 'HEAD' })).headers.get('etag');
    const changed = editsOf(i, 2);
    const res = await r1.putNode(nodeName(i), { bootIso: upstream.url('/base.iso'), edits: changed });
    expect(res.status).toBe(200);
    const etag = ((await res.json()) as { etag: string }).etag;
    expect(etag).not.toBe(old);
    const head = await fetch(r3.imageUrl(nodeName(i)), { method: 'HEAD' });
    expect(head.headers.get('etag')).toBe(etag);
    // And the bytes are the new image's, read from replica 3.
    want[i] = (await expectedDigests(iso, [changed]))[0]!;
    const got = await bmcRead(nodeName(i), r3.imageUrl(nodeName(i)), { bytes: 0, okAt: [] });
    expect({ size: got.size, sha256: got.sha256 }).toEqual(want[i]);
    expect(got.etag).toBe(etag);
  }, 120_000);

  it('keeps serving a wave while Redis restarts, refuses writes while it is away, and takes them again after', async () => {
    let downFrom = 0;
    let downTo = 0;
    let refused: { status: number; code: string } | undefined;
    const { results, progress } = await wave(0.3, async () => {
      await redis.stop(true);
      downFrom = Date.now();
      const res = await replicas[1]!.putNode('during-outage', { bootIso: upstream.url('/base.iso'), edits: editsOf(0) });
      refused = { status: res.status, code: ((await res.json()) as { error: { code: string } }).error.code };
      await new Promise((r) => setTimeout(r, 1500));
      downTo = Date.now();
      await redis.start();
    });
    results.forEach((r, i) => {
      expect({ size: r.size, sha256: r.sha256 }, nodeName(i)).toEqual(want[i]);
    });
    // Serving went on from the replicas' last known specs while Redis was away.
    const servedWhileDown = progress.okAt.filter((t) => t > downFrom && t < downTo).length;
    expect(servedWhileDown).toBeGreaterThan(0);
    const retried = results.flatMap((r) => r.retries);
    console.info(
      `Redis away for ${downTo - downFrom} ms: ${servedWhileDown} ranges served meanwhile, ${retried.length} retried${retried.length ? ` (first: ${retried[0]})` : ''}`,
    );
    expect(refused?.code).toBe('STORE_UNAVAILABLE');
    expect(refused!.status).toBe(503);

    // Writes resume as soon as the replicas have reconnected, and reach the other replicas.
    let status = 0;
    await waitFor(
      async () => {
        status = (await replicas[1]!.putNode('after-outage', { bootIso: upstream.url('/base.iso'), edits: editsOf(1) })).status;
        return status === 201 || status === 200;
      },
      'a write to succeed after the restart',
      20_000,
    );
    const seen = await fetch(replicas[2]!.imageUrl('after-outage'), { method: 'HEAD' });
    expect(seen.status).toBe(200);
    expect(downTo).toBeGreaterThan(downFrom);
  }, 300_000);
});
