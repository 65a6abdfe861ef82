// `isoproxy serve --workers 2` under a cache budget smaller than the image: the blocks the workers
// keep reading stay on disk while cold blocks come and go. Workers read block files they know
// without asking the primary, so the primary's LRU only hears of those reads through the workers'
// reports (src/cluster/read-reports.ts); this test counts the upstream's requests for the hot
// block to show it is fetched once.
//
// Without the reports the same test fails, and must: the hot block's last use the primary sees
// is its fetch in the first round. Each later round writes one cold block into a budget of four
// (block 0, read for the index, is the other early one), so by the fourth cold write the hot
// block is the least recently used one the primary knows and is evicted; the next hot read finds
// its file unlinked (the worker's fstat sees no link) and asks the primary, which fetches it from
// upstream again. Over eight rounds that is two or more fetches of the hot block (seen: 2 when the
// worker's wiring of the reports was taken out, 1 with it).

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPORT_INTERVAL_MS } from '../../src/cluster/read-reports.js';
import { missingTools, scratchDir } from '../helpers/tools.js';
import { eventually, MiB } from '../service/harness.js';
import { sizedIso } from '../service/images.js';
import { startUpstream, type TestUpstream } from '../service/upstream.js';
import { servedBy, startCluster, type ClusterProxy } from './cluster-proc.js';

const missing = missingTools('xorriso');
const KiB = 1024;
/** The block the clients keep reading. */
const HOT = 3;
const ROUNDS = 8;

describe.skipIf(missing.length > 0)(`LRU across workers${missing.length > 0 ? ` (skipped: missing ${missing.join(', ')})` : ''}`, () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  let upstream: TestUpstream;
  let base: Buffer;
  let cluster: ClusterProxy | undefined;

  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-lru-');
    base = await readFile(await sizedIso(scratch.dir, 'lru', 10, 'lru'));
    upstream = await startUpstream({ '/lru.iso': base });
  });

  afterAll(async () => {
    await cluster?.stop();
    await upstream?.close();
    await scratch?.cleanup();
  });

  it('keeps the block the workers read most on disk while cold blocks are read into a budget smaller than the image', async () => {
    // Four 1 MiB blocks of an 11-block image.
    const c = await startCluster({ dir: join(scratch.dir, 'c'), allow: [`${upstream.origin}/`], workers: 2, budget: '4MiB' });
    cluster = c;
    expect((await c.putNode('n', { bootIso: upstream.url('/lru.iso'), edits: { append: ['isoproxy.lru=1'] } })).status).toBe(201);
    const blocks = Math.ceil(base.length / MiB);
    expect(blocks).toBeGreaterThan(8);

    // 128 KiB inside a block: past the small reads a worker keeps in memory, one block (no
    // readahead), and starting where no read ended (not taken for a sequential reader).
    let seq = 0;
    const readBlock = async (block: number): Promise<string> => {
      const start = block * MiB + 512 * KiB;
      const end = start + 128 * KiB - 1;
      const reqId = `r${seq++}`;
      const res = await fetch(c.imageUrl('n'), { headers: { range: `bytes=${start}-${end}`, 'x-request-id': reqId } });
      expect(res.status).toBe(206);
      // The filler's bytes: no edit reaches them.
      expect(Buffer.from(await res.arrayBuffer()).equals(base.subarray(start, end + 1))).toBe(true);
      return reqId;
    };
    const hotGets = (): number => upstream.blockGets('/lru.iso').filter((r) => r.range?.startsWith(`bytes=${HOT * MiB}-`)).length;
    const cold = Array.from({ length: blocks - 2 }, (_, i) => i + 1).filter((b) => b !== HOT);

    const hotIds: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Four connections at once: Node's round-robin hands two to each worker.
      hotIds.push(...(await Promise.all([HOT, HOT, HOT, HOT].map(readBlock))));
      // The workers' reports reach the primary before the next write makes it evict.
      await new Promise((r) => setTimeout(r, REPORT_INTERVAL_MS + 250));
      await readBlock(cold[round % cold.length]!);
    }

    // The cold reads did make the primary evict: more cold blocks were fetched than fit.
    const fetched = new Set(upstream.blockGets('/lru.iso').map((r) => r.range));
    expect(fetched.size).toBeGreaterThan(4);
    expect(hotGets()).toBe(1);
    // Both workers read the hot block (so both reported it).
    await eventually(() => hotIds.every((id) => servedBy(c.logs, id) !== undefined), 'transfer lines');
    expect(new Set(hotIds.map((id) => servedBy(c.logs, id))).size).toBe(2);
  }, 120_000);
});
