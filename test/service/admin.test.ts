// The admin API and refusals of the whole service: nodes
// registered over HTTP get a URL and the ETag their image is then served with; unknown nodes 404,
// expired ones 410 (with a pinned clock, so expiry is a step, not a wait), a bad or missing token
// 401, an upstream outside the allowlist and invalid edits 400 at PUT; /metrics shows the cache,
// upstream and patch-set counters after traffic; one log line per transfer; paged lists from the
// file store, kept across a restart.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Edits } from '../../src/bootconfig/types.js';
import { missingTools, scratchDir } from '../helpers/tools.js';
import { zeroSlack } from '../remaster/fixtures.js';
import { expectedImage, sha256, startProxy, TOKEN, type ProxyUnderTest } from './harness.js';
import { startUpstream, type TestUpstream } from './upstream.js';

const missing = missingTools('xorriso');
const EDITS: Edits = { append: ['isoproxy.node=admin'] };
const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);

/** The value of one unlabelled Prometheus sample. */
function sample(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`no sample ${name} in /metrics`);
  return Number(m[1]);
}

describe.skipIf(missing.length > 0)(
  `the admin API of the whole service${missing.length > 0 ? ` (skipped: missing ${missing.join(', ')})` : ''}`,
  () => {
    let scratch: { dir: string; cleanup: () => Promise<void> };
    let upstream: TestUpstream;
    let proxy: ProxyUnderTest;
    let want: Buffer;
    let baseSize: number;
    let clock = T0;

    beforeAll(async () => {
      scratch = await scratchDir('isoproxy-service-admin-');
      const iso = (await zeroSlack(scratch.dir)).iso;
      want = await expectedImage(iso, EDITS, join(scratch.dir, 'expected.iso'));
      baseSize = (await readFile(iso)).length;
      upstream = await startUpstream({ '/isos/zero.iso': await readFile(iso), '/other/zero.iso': await readFile(iso) });
      proxy = await startProxy({ dir: scratch.dir, allow: [`${upstream.origin}/isos/`], now: () => new Date(clock) });
    });

    afterAll(async () => {
      await proxy?.close();
      await upstream?.close();
      await scratch?.cleanup();
    });

    it('registers a node over the API and serves its image under the URL and ETag the API gave', async () => {
      const put = await proxy.putNode('n1', { bootIso: upstream.url('/isos/zero.iso'), edits: EDITS });
      expect(put.status).toBe(201);
      const view = (await put.json()) as { url: string; etag: string; expired: boolean };
      expect(view.url).toBe(proxy.imageUrl('n1'));
      expect(view.expired).toBe(false);
      const res = await fetch(view.url);
      expect(res.headers.get('etag')).toBe(view.etag);
      expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(sha256(want));
      const get = await fetch(`${proxy.url}/api/v1/nodes/n1`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(await get.json()).toMatchObject({ name: 'n1', url: view.url, etag: view.etag });
    });

    it('answers 404 with a JSON error for a node nobody registered', async () => {
      for (const method of ['GET', 'HEAD']) {
        const res = await fetch(proxy.imageUrl('nobody'), { method });
        expect(res.status, method).toBe(404);
        if (method === 'GET') expect(await res.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
      }
    });

    it('serves a node until its expiresAt, then answers 410', async () => {
      const put = await proxy.putNode('once', {
        bootIso: upstream.url('/isos/zero.iso'),
        edits: EDITS,
        expiresAt: new Date(T0 + 3_600_000).toISOString(),
      });
      expect(put.status).toBe(201);
      const before = await fetch(proxy.imageUrl('once'), { method: 'HEAD' });
      expect(before.status).toBe(200);
      clock = T0 + 2 * 3_600_000;
      try {
        const after = await fetch(proxy.imageUrl('once'));
        expect(after.status).toBe(410);
        expect(await after.json()).toMatchObject({ error: { code: expect.any(String), message: expect.stringContaining('once') } });
        expect((await fetch(proxy.imageUrl('once'), { method: 'HEAD' })).status).toBe(410);
        const view = await fetch(`${proxy.url}/api/v1/nodes/once`, { headers: { authorization: `Bearer ${TOKEN}` } });
        expect(await view.json()).toMatchObject({ expired: true, etag: null });
      } finally {
        clock = T0;
      }
    });

    it('answers 401 to the admin API without the right bearer token, and stores nothing', async () => {
      const wrong = await proxy.putNode('sneaky', { bootIso: upstream.url('/isos/zero.iso'), edits: EDITS }, 'not-the-token-0123456789');
      expect(wrong.status).toBe(401);
      expect(wrong.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await wrong.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
      expect((await fetch(`${proxy.url}/api/v1/nodes`)).status).toBe(401);
      expect((await fetch(proxy.imageUrl('sneaky'))).status).toBe(404);
    });

    it('refuses at PUT an upstream outside the allowlist, and invalid edits, with 400', async () => {
      const outside = [
        upstream.url('/other/zero.iso'),
        'http://elsewhere.example/zero.iso',
        'file:///etc/passwd',
        `${upstream.origin}/isos/../other/zero.iso`,
      ];
      for (const bootIso of outside) {
        const res = await proxy.putNode('outside', { bootIso, edits: EDITS });
        expect(res.status, bootIso).toBe(400);
        expect(await res.json(), bootIso).toMatchObject({ error: { code: 'UPSTREAM_NOT_ALLOWED' } });
      }
      const badEdit = await proxy.putNode('outside', { bootIso: upstream.url('/isos/zero.iso'), edits: { append: ['two words'] } });
      expect(badEdit.status).toBe(400);
      expect(await badEdit.json()).toMatchObject({ error: { code: 'INVALID_EDIT' } });
      expect((await fetch(proxy.imageUrl('outside'))).status).toBe(404);
      expect(upstream.log.some((r) => r.path.startsWith('/other/'))).toBe(false);
    });

    it('shows cache, upstream, patch-set and request counters in /metrics after traffic', async () => {
      for (let i = 0; i < 3; i++) await (await fetch(proxy.imageUrl('n1'), { headers: { range: 'bytes=0-65535' } })).arrayBuffer();
      const text = await proxy.metrics();
      expect(sample(text, 'isoproxy_cache_hits_total')).toBeGreaterThan(0);
      expect(sample(text, 'isoproxy_cache_misses_total')).toBeGreaterThan(0);
      expect(sample(text, 'isoproxy_cache_bytes_used')).toBeGreaterThan(0);
      expect(sample(text, 'isoproxy_upstream_requests_total')).toBeGreaterThan(0);
      // The whole base, once (a single 1 MiB block here), plus the one-byte probes.
      expect(sample(text, 'isoproxy_upstream_bytes_total')).toBeGreaterThanOrEqual(baseSize);
      expect(sample(text, 'isoproxy_upstream_bytes_total')).toBeLessThan(baseSize + 100);
      expect(sample(text, 'isoproxy_patchset_computations_total')).toBe(1);
      expect(sample(text, 'isoproxy_patchset_memo_hits_total')).toBeGreaterThan(0);
      expect(sample(text, 'isoproxy_bases_open')).toBe(1);
      expect(text).toMatch(/^isoproxy_patchset_compute_seconds_count\{outcome="ok"\} 1$/m);
      expect(text).toMatch(/^isoproxy_http_requests_total\{route="iso",status="206"\} 3$/m);
      expect(text).toMatch(/^isoproxy_http_requests_total\{route="iso",status="404"\} [1-9]/m);
      expect(sample(text, 'isoproxy_http_bytes_served_total')).toBeGreaterThanOrEqual(3 * 65536 + want.length);
    });

    it('logs one line per transfer with request id, node, range, bytes and duration', async () => {
      const res = await fetch(proxy.imageUrl('n1'), { headers: { range: 'bytes=2048-4095', 'x-request-id': 'wave-17.req-1' } });
      expect(res.headers.get('x-request-id')).toBe('wave-17.req-1');
      await res.arrayBuffer();
      const line = proxy.logs.find((l) => l.msg === 'transfer' && l.reqId === 'wave-17.req-1');
      expect(line).toMatchObject({ node: 'n1', range: 'bytes=2048-4095', status: 206, bytes: 2048, expectedBytes: 2048, outcome: 'complete' });
      expect(typeof line?.durationMs).toBe('number');
      // The cache's figures for this transfer: the block was read when the base was indexed, so a hit.
      expect(line).toMatchObject({ cacheHitRatio: 1, upstreamBytes: 0 });
    });

    it('lists nodes in pages from the file store, and keeps them across a restart', async () => {
      for (const n of ['p1', 'p2', 'p3'])
        expect((await proxy.putNode(n, { bootIso: upstream.url('/isos/zero.iso'), edits: EDITS })).status).toBe(201);
      const auth = { authorization: `Bearer ${TOKEN}` };
      const names: string[] = [];
      let after: string | undefined;
      for (let page = 0; page < 20; page++) {
        const res = await fetch(`${proxy.url}/api/v1/nodes?limit=2${after ? `&after=${after}` : ''}`, { headers: auth });
        const body = (await res.json()) as { nodes: Array<{ name: string; url: string }>; next?: string };
        expect(body.nodes.length).toBeLessThanOrEqual(2);
        names.push(...body.nodes.map((n) => n.name));
        if (body.next === undefined) break;
        after = body.next;
      }
      expect(names).toEqual([...names].sort());
      expect(names).toEqual(expect.arrayContaining(['n1', 'once', 'p1', 'p2', 'p3']));
      await proxy.close();
      proxy = await startProxy({ dir: scratch.dir, allow: [`${upstream.origin}/isos/`], now: () => new Date(clock) });
      const again = await fetch(`${proxy.url}/api/v1/nodes?limit=1000`, { headers: auth });
      expect(((await again.json()) as { nodes: Array<{ name: string }> }).nodes.map((n) => n.name)).toEqual(names);
      expect((await fetch(proxy.imageUrl('p2'), { method: 'HEAD' })).status).toBe(200);
    });
  },
);
