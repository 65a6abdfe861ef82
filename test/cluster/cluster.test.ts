// `isoproxy serve --workers 2` end to end: two serving processes over one disk cache
// that the primary owns. A cold wave of 100 clients fetches each base block from upstream once;
// every response is byte-equal to `materialize`; every worker answers a node with the same ETag;
// the byte budget holds while both workers fill the cache; a worker killed with SIGKILL mid-wave
// costs only its own clients a retry and is forked again; /metrics sums every process; log lines
// arrive whole; the status page a worker serves shows the base's cached and upstream bytes as the
// primary, which owns the cache, counts them, and every node's transfers whichever worker served
// them (and none left open by a killed worker).

import { addonPath, senderThreads } from '../../src/native/sendfile.js';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Edits } from '../../src/bootconfig/types.js';
import { missingTools, scratchDir } from '../helpers/tools.js';
import { diskBytes, eventually, expectedDigests, MiB, TOKEN } from '../service/harness.js';
import { sizedIso } from '../service/images.js';
import { startUpstream, type TestUpstream } from '../service/upstream.js';
import { patternBytes } from '../upstream/fixture-server.js';
import { servedBy, startCluster, type ClusterProxy } from './cluster-proc.js';

const missing = missingTools('xorriso');
const NODES = 10;
const editsOf = (i: number): Edits => ({ append: [`isoproxy.node=c-${i}`], set: { 'isoproxy.keep': `k${i}` } });

/** A whole GET, hashed; throws unless 200 with every declared byte. */
async function digestOf(url: string, reqId: string, signal?: AbortSignal): Promise<{ size: number; sha256: string; etag: string | null }> {
  const res = await fetch(url, { headers: { 'x-request-id': reqId }, ...(signal ? { signal } : {}) });
  if (res.status !== 200) throw new Error(`${url}: ${res.status}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  if (bytes.length !== Number(res.headers.get('content-length'))) throw new Error(`${url}: short body`);
  return { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), etag: res.headers.get('etag') };
}

/** A whole GET on a connection of its own (round-robin hands each to the next serving part). */
async function digestOnNewConnection(url: string, reqId: string): Promise<{ size: number; sha256: string }> {
  const agent = new Agent();
  try {
    const res = await undiciFetch(url, { headers: { 'x-request-id': reqId }, dispatcher: agent, signal: AbortSignal.timeout(15_000) });
    if (res.status !== 200) throw new Error(`${url}: ${res.status}`);
    const bytes = Buffer.from(await res.arrayBuffer());
    return { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  } finally {
    await agent.close();
  }
}

/**
 * A whole GET that retries (as a BMC does) when the connection breaks or stalls: a connection
 * handed to the worker just as it is killed may end either way, and a client timeout ends a stall.
 */
async function digestWithRetry(url: string, reqId: string, tries = 5): Promise<{ size: number; sha256: string; attempts: number }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return { ...(await digestOf(url, `${reqId}-${attempt}`, AbortSignal.timeout(15_000))), attempts: attempt };
    } catch (err) {
      if (attempt >= tries) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

type UiRow = { name: string; transfers: number; servedBytes: number; openTransfers: number; complete: boolean };

/** /ui/api/status on a connection of its own, so round-robin hands such requests to every worker. */
async function uiStatus(
  url: string,
  reqId: string,
): Promise<{ nodes: UiRow[]; openTransfers: number; cache: { usedBytes: number; blocks?: number; hits: number; misses: number } | null }> {
  const agent = new Agent();
  try {
    const res = await undiciFetch(`${url}/ui/api/status?limit=500`, {
      headers: { authorization: `Bearer ${TOKEN}`, 'x-request-id': reqId },
      dispatcher: agent,
    });
    const body = (await res.json()) as {
      nodes: { items: UiRow[] };
      totals: { openTransfers: number };
      cache: { usedBytes: number; blocks?: number; hits: number; misses: number } | null;
    };
    return { nodes: body.nodes.items, openTransfers: body.totals.openTransfers, cache: body.cache };
  } finally {
    await agent.close();
  }
}

describe.skipIf(missing.length > 0)(`isoproxy serve --workers 2${missing.length > 0 ? ` (skipped: missing ${missing.join(', ')})` : ''}`, () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  let upstream: TestUpstream;
  let want: Array<{ size: number; sha256: string }>;
  let baseSize: number;
  const clusters: ClusterProxy[] = [];

  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-cluster-');
    const iso = await sizedIso(scratch.dir, 'cl', 3, 'cl');
    want = await expectedDigests(
      iso,
      Array.from({ length: NODES }, (_, i) => editsOf(i)),
    );
    const bytes = await readFile(iso);
    baseSize = bytes.length;
    // Larger than what loopback buffers hold: a client that reads nothing keeps its transfer open.
    const big = await readFile(await sizedIso(scratch.dir, 'big', 16, 'big'));
    upstream = await startUpstream({
      '/cl.iso': bytes,
      '/cl2.iso': bytes,
      '/cl3.iso': bytes,
      '/big.iso': big,
      '/junk.iso': patternBytes(3 * MiB, 9),
    });
  });

  afterAll(async () => {
    for (const c of clusters) await c.stop();
    await upstream?.close();
    await scratch?.cleanup();
  });

  const start = async (name: string, budget?: string, workers = 2): Promise<ClusterProxy> => {
    const c = await startCluster({ dir: join(scratch.dir, name), allow: [`${upstream.origin}/`], workers, ...(budget ? { budget } : {}) });
    clusters.push(c);
    return c;
  };
  const register = async (c: ClusterProxy, base: string): Promise<void> => {
    const puts = await Promise.all(Array.from({ length: NODES }, (_, i) => c.putNode(`c-${i}`, { bootIso: upstream.url(base), edits: editsOf(i) })));
    expect(puts.map((r) => r.status)).toEqual(Array(NODES).fill(201));
  };

  /** `n` whole GETs at once over the registered nodes, each body equal to materialize's. */
  const fetchEvery = async (c: ClusterProxy, n: number, prefix: string): Promise<Array<{ size: number; sha256: string; etag: string | null }>> => {
    const got = await Promise.all(Array.from({ length: n }, (_, k) => digestOf(c.imageUrl(`c-${k % NODES}`), `${prefix}${k}`)));
    got.forEach((g, k) => {
      expect({ size: g.size, sha256: g.sha256 }, `client ${k}`).toEqual(want[k % NODES]);
    });
    return got;
  };
  /** Every block of the base was fetched from upstream exactly once. */
  const expectEachBlockOnce = (base: string): void => {
    const blocks = upstream.blockGets(base).map((r) => r.range);
    expect(new Set(blocks).size).toBe(blocks.length);
    expect(blocks.length).toBe(Math.ceil(baseSize / MiB));
  };
  /** Which processes answered requests `<prefix>0` .. `<prefix>n-1` (their transfer lines' `worker`). */
  const servedByWhom = async (c: ClusterProxy, n: number, prefix: string): Promise<Set<unknown>> => {
    const ids = Array.from({ length: n }, (_, k) => `${prefix}${k}`);
    await eventually(() => ids.every((id) => servedBy(c.logs, id) !== undefined), 'transfer lines');
    return new Set(ids.map((id) => servedBy(c.logs, id)));
  };

  it('fetches each block of a cold base once for 100 clients on 2 workers, every body equal to materialize, one ETag per node', async () => {
    const c = await start('wave');
    await register(c, '/cl.iso');
    const got = await fetchEvery(c, 100, 'w');
    expectEachBlockOnce('/cl.iso');

    // Both serving processes (the primary's own part and the one worker) answered, and each node
    // had one ETag whichever answered.
    expect((await servedByWhom(c, 100, 'w')).size).toBe(2);
    for (let i = 0; i < NODES; i++) expect(new Set(got.filter((_, k) => k % NODES === i).map((g) => g.etag)).size).toBe(1);

    // Metrics are summed over the processes: 100 image responses, whichever process counted them.
    const metrics = await c.metrics();
    const served = [...metrics.matchAll(/^isoproxy_http_requests_total\{route="iso",status="200"\} (\d+)$/gm)].map((m) => Number(m[1]));
    expect(served).toEqual([100]);
    expect(metrics).toMatch(/^isoproxy_cluster_workers 2$/m);
    // One patch-set computation per node whichever worker answered its PUT and its GETs: the
    // primary computes them (src/cluster/primary-patch-sets.ts), and every worker's came from it.
    const summed = (name: string): number => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics)?.[1]);
    expect(summed('isoproxy_patchset_computations_total')).toBe(NODES);
    expect(summed('isoproxy_patchset_from_other_processes_total')).toBeGreaterThanOrEqual(NODES);
    // Workers start with glibc's mmap threshold fixed, addon or not (src/native/sendfile.c says why),
    // and with a capped young generation (src/cluster/worker-process.ts).
    for (const pid of c.workerPids()) {
      expect(readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0')).toContain('MALLOC_MMAP_THRESHOLD_=131072');
      expect(readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0')).toContain('--max-semi-space-size=2');
    }

    // Warm now: a second round is read from the block files, sent from them (sendfile, in the
    // workers) when the addon is built, and still equal to materialize.
    const again = await Promise.all(Array.from({ length: 2 * NODES }, (_, k) => digestOf(c.imageUrl(`c-${k % NODES}`), `r${k}`)));
    again.forEach((g, k) => {
      expect({ size: g.size, sha256: g.sha256 }, `warm client ${k}`).toEqual(want[k % NODES]);
    });
    if (addonPath()) {
      const sent = Number(/^isoproxy_sendfile_bytes_total (\d+)$/m.exec(await c.metrics())?.[1] ?? 0);
      expect(sent).toBeGreaterThan(0);
    }
    // Every stdout line was one whole JSON record (the banner aside).
    expect(c.otherLines.filter((l) => !l.startsWith('isoproxy serving on'))).toEqual([]);

    // /ui is served by the workers, whose caches write and fetch nothing: the base's figures come
    // from the primary. Every block was fetched once and is on disk, whichever worker answers.
    type Bases = { bases: Array<{ url: string; state: string; size?: number; cachedBytes?: number; upstreamBytes?: number }> };
    const seen: Bases['bases'] = [];
    await eventually(async () => {
      const res = await fetch(`${c.url}/ui/api/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
      const b = ((await res.json()) as Bases).bases.find((x) => x.url === upstream.url('/cl.iso'));
      if (b) seen.push(b);
      return b?.cachedBytes === baseSize && b.upstreamBytes === baseSize;
    }, 'the base figures from the primary on /ui');
    expect(seen.at(-1)).toMatchObject({ state: 'ready', size: baseSize, cachedBytes: baseSize, upstreamBytes: baseSize });

    // Node progress on /ui is the whole cluster's, whichever worker answers: each worker applies
    // what the other's transfers did. 120 whole GETs (12 per node), half served by each worker.
    // Eight answers on eight new connections: round-robin gives each worker four.
    for (let k = 0; k < 8; k++) {
      let rows: UiRow[] = [];
      await eventually(async () => {
        const ui = await uiStatus(c.url, `ui-${k}`);
        rows = ui.nodes.filter((n) => n.name.startsWith('c-'));
        // The cache panel is the primary's cache (workers write nothing): every block on disk;
        // its hits and misses are every process's reads, as /metrics sums them.
        const metrics = await c.metrics();
        const counted = (name: string): number => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics)?.[1] ?? -1);
        return (
          rows.length === NODES &&
          rows.every((n) => n.transfers === 12 && n.openTransfers === 0) &&
          ui.cache?.usedBytes === baseSize &&
          ui.cache.hits === counted('isoproxy_cache_hits_total') &&
          ui.cache.misses === counted('isoproxy_cache_misses_total')
        );
      }, "every transfer relayed to the answering worker, and the cache panel from the primary with every process's reads");
      for (const n of rows)
        expect({ name: n.name, servedBytes: n.servedBytes, complete: n.complete }).toEqual({
          name: n.name,
          servedBytes: 12 * baseSize,
          complete: true,
        });
    }
  }, 240_000);

  it('at --workers 3 hands connections to all three processes in turn, and still fetches each block once', async () => {
    const c = await start('three', undefined, 3);
    expect(c.workerPids()).toHaveLength(2);
    await register(c, '/cl3.iso');
    await fetchEvery(c, 30, 't');
    expectEachBlockOnce('/cl3.iso');
    expect([...(await servedByWhom(c, 30, 't'))].sort()).toEqual([1, 2, 'primary'].sort());
    expect(await c.metrics()).toMatch(/^isoproxy_cluster_workers 3$/m);
  }, 120_000);

  it('holds the byte budget while both workers fill the cache, and still serves exact bytes', async () => {
    // Smaller than the base (4 blocks), so the workers' misses make the primary evict as it writes.
    const budget = 2 * MiB;
    const c = await start('budget', '2MiB');
    await register(c, '/cl2.iso');
    let peak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, await diskBytes(c.cacheDir));
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const got = await Promise.all(Array.from({ length: 20 }, (_, k) => digestOf(c.imageUrl(`c-${k % NODES}`), `b${k}`)));
    sampling = false;
    await sampler;
    got.forEach((g, k) => {
      expect({ size: g.size, sha256: g.sha256 }).toEqual(want[k % NODES]);
    });
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(budget);
  }, 240_000);

  it('survives kill -9 of a worker mid-wave: its clients retry and succeed, the others are unaffected, and a new worker starts', async () => {
    const c = await start('kill');
    await register(c, '/cl.iso');
    const [victim] = c.workerPids();
    const wave = Promise.all(Array.from({ length: 40 }, (_, k) => digestWithRetry(c.imageUrl(`c-${k % NODES}`), `k${k}`)));
    await new Promise((r) => setTimeout(r, 150));
    process.kill(victim!, 'SIGKILL');
    const got = await wave;
    got.forEach((g, k) => {
      expect({ size: g.size, sha256: g.sha256 }, `client ${k}`).toEqual(want[k % NODES]);
    });
    // One worker forked at the start and one after the kill; the primary's own part served throughout.
    await eventually(() => c.workerPids().length === 2, 'a new worker');
    await eventually(() => c.logs.filter((l) => l.msg === 'listening').length >= 3, 'the new worker to listen');
    expect(c.logs.some((l) => l.msg === 'worker died; starting another' && l.signal === 'SIGKILL')).toBe(true);
    // Every retry was a client of the killed worker; the primary's clients got their image at the first try.
    const survivor = 'primary';
    expect(got.some((_, k) => servedBy(c.logs, `k${k}-1`) === survivor)).toBe(true);
    got.forEach((g, k) => {
      if (servedBy(c.logs, `k${k}-1`) === survivor) expect(g.attempts, `client ${k}`).toBe(1);
    });
    // And it serves.
    const after = await Promise.all(Array.from({ length: 8 }, (_, k) => digestOf(c.imageUrl(`c-${k % NODES}`), `a${k}`)));
    after.forEach((g, k) => {
      expect({ size: g.size, sha256: g.sha256 }).toEqual(want[k % NODES]);
    });
    // The killed worker's transfers, open when it died, are not left open on the survivor's /ui
    // (a `gone` notice ends them; the new worker has seen none of them).
    for (let k = 0; k < 4; k++) {
      await eventually(async () => (await uiStatus(c.url, `ui-k${k}`)).openTransfers === 0, 'no transfer left open');
    }
  }, 240_000);

  it('gives back the connections a worker sent SIGTERM alone is still handed: every client served at its first try', async () => {
    const c = await start('term');
    await register(c, '/cl.iso');
    expect((await c.putNode('big', { bootIso: upstream.url('/big.iso'), edits: {} })).status).toBe(201);
    // Two clients that ask for the large image and read nothing, one on each process: the worker
    // drains its one for up to --shutdown-deadline (2 s here) after SIGTERM.
    const stalled = await Promise.all(
      [0, 1].map(
        (k) =>
          new Promise<Socket>((resolve) => {
            const s = connect(Number(new URL(c.url).port), '127.0.0.1', () => {
              s.write(`GET /iso/big.iso HTTP/1.1\r\nhost: x\r\nx-request-id: stall${k}\r\n\r\n`);
            });
            s.on('error', () => {});
            // Readable, never read: Node buffers a little, then the kernel's buffers fill.
            s.once('readable', () => resolve(s));
          }),
      ),
    );
    const [worker] = c.workerPids();
    process.kill(worker!, 'SIGTERM');
    // Until the primary sees it exit, it hands the stopping worker its share of new connections:
    // the worker gives each back unread and the primary's own part serves it.
    const until = Date.now() + 800;
    for (let k = 0; Date.now() < until; k += 8) {
      const got = await Promise.all(Array.from({ length: 8 }, (_, j) => digestOnNewConnection(c.imageUrl(`c-${(k + j) % NODES}`), `t${k + j}`)));
      got.forEach((g, j) => {
        expect({ size: g.size, sha256: g.sha256 }, `client ${k + j}`).toEqual(want[(k + j) % NODES]);
      });
    }
    for (const s of stalled) s.destroy();
    await eventually(() => c.logs.some((l) => l.msg === 'worker died; starting another' && l.code === 0), 'the worker to exit 0');
  }, 120_000);

  it('indexes a base once, in the primary, and refuses one that is not an ISO from either worker', async () => {
    const c = await start('index');
    await register(c, '/cl.iso');
    await Promise.all(Array.from({ length: 8 }, (_, k) => digestOf(c.imageUrl(`c-${k % NODES}`), `i${k}`)));
    const indexed = c.logs.filter((l) => l.msg === 'base indexed');
    expect(indexed.map((l) => l.worker)).toEqual(['primary']);
    // Each request on a connection of its own, so round-robin hands them to both workers.
    const alone = async (path: string, reqId: string, init: { method?: string; body?: string } = {}): Promise<{ status: number; code?: string }> => {
      const agent = new Agent();
      try {
        const res = await undiciFetch(`${c.url}${path}`, {
          ...init,
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'x-request-id': reqId },
          dispatcher: agent,
        });
        const body = (await res.json()) as { error?: { code: string } };
        return { status: res.status, ...(body.error ? { code: body.error.code } : {}) };
      } finally {
        await agent.close();
      }
    };
    const junk = JSON.stringify({ bootIso: upstream.url('/junk.iso') });
    // Not an ISO: refused when put, by either worker.
    for (let k = 0; k < 6; k++) {
      expect(await alone(`/api/v1/nodes/junk-${k}`, `p${k}`, { method: 'PUT', body: junk })).toEqual({ status: 422, code: 'ISO_FORMAT' });
    }
    // Stored anyway (validate=false): every GET answers 502 ISO_FORMAT, from either worker.
    expect((await alone('/api/v1/nodes/junk?validate=false', 'stored', { method: 'PUT', body: junk })).status).toBe(201);
    for (let k = 0; k < 6; k++) expect(await alone('/iso/junk.iso', `j${k}`)).toEqual({ status: 502, code: 'ISO_FORMAT' });
    for (const prefix of ['p', 'j']) {
      await eventually(
        () => new Set(Array.from({ length: 6 }, (_, k) => servedBy(c.logs, `${prefix}${k}`))).size === 2,
        `both workers answered ${prefix}`,
      );
    }
    expect(c.logs.filter((l) => l.msg === 'base indexed').length).toBe(1);
    // A node's diff on /ui: the answering worker prepares the base's context for it, then.
    for (let k = 0; k < 4; k++) {
      const agent = new Agent();
      try {
        const res = await undiciFetch(`${c.url}/ui/api/nodes/c-1/diff`, {
          headers: { authorization: `Bearer ${TOKEN}`, 'x-request-id': `d${k}` },
          dispatcher: agent,
        });
        expect(res.status).toBe(200);
        expect(await res.text()).toMatch(/^\+.*isoproxy\.node=c-1/m);
      } finally {
        await agent.close();
      }
    }
  }, 120_000);

  it('shares the cores among the workers: each starts its share of sender threads, and says so', async () => {
    const c = await start('senders');
    const listening = c.logs.filter((l) => l.msg === 'listening');
    expect(listening.length).toBeGreaterThanOrEqual(2);
    const share = addonPath() ? senderThreads(availableParallelism(), 2) : 0;
    expect(listening.map((l) => l.senderThreads)).toEqual(listening.map(() => share));
  });

  it('drains and exits 0 on SIGTERM', async () => {
    const c = await start('term');
    expect(await c.stop()).toBe(0);
    expect(c.logs.some((l) => l.msg === 'stopped' && l.worker === 'primary')).toBe(true);
  }, 120_000);
});
