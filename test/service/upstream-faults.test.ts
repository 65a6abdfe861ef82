// The whole service when the upstream misbehaves: the base image replaced
// while a response is in flight (that response fails short, never with bytes of two versions; the
// next one is the new image under a new ETag), connections reset mid-body (retried transparently,
// or a clean failure), an upstream that ignores Range, one that is not there, and bases that are
// not ISOs or have nothing to edit — each with a clear JSON error.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Edits } from '../../src/bootconfig/types.js';
import { freePort, missingTools, scratchDir } from '../helpers/tools.js';
import { patternBytes } from '../upstream/fixture-server.js';
import { downloadByRanges, eventually, expectedImage, getPartial, MiB, sha256, startProxy, TOKEN, type ProxyUnderTest } from './harness.js';
import { noBootIso, sizedIso } from './images.js';
import { startUpstream, type TestUpstream } from './upstream.js';

const missing = missingTools('xorriso');
const EDITS: Edits = { append: ['isoproxy.node=faulty'], remove: ['isoproxy.drop'] };

/** Byte offset where a Range header starts. */
const rangeStart = (range: string | undefined): number => Number(/^bytes=(\d+)-/.exec(range ?? '')?.[1] ?? -1);

describe.skipIf(missing.length > 0)(
  `the service when the upstream misbehaves${missing.length > 0 ? ` (skipped: missing ${missing.join(', ')})` : ''}`,
  () => {
    let scratch: { dir: string; cleanup: () => Promise<void> };
    let upstream: TestUpstream;
    let noRanges: TestUpstream;
    let noValidators: TestUpstream;
    let proxy: ProxyUnderTest;
    let deadPort: number;
    const isos: Record<string, string> = {};
    const expected: Record<string, Buffer> = {};

    beforeAll(async () => {
      scratch = await scratchDir('isoproxy-service-faults-');
      isos.v1 = await sizedIso(scratch.dir, 'v1', 5, 'one');
      isos.v2 = await sizedIso(scratch.dir, 'v2', 5, 'two');
      isos.small = await sizedIso(scratch.dir, 'small', 2, 'small');
      isos.noboot = await noBootIso(scratch.dir);
      expected.v1 = await expectedImage(isos.v1, EDITS, join(scratch.dir, 'v1.expected.iso'));
      expected.v2 = await expectedImage(isos.v2, EDITS, join(scratch.dir, 'v2.expected.iso'));
      expected.small = await expectedImage(isos.small, EDITS, join(scratch.dir, 'small.expected.iso'));
      const small = await readFile(isos.small);
      upstream = await startUpstream({
        '/changing.iso': await readFile(isos.v1),
        '/resetting.iso': small,
        '/cold.iso': small,
        '/junk.iso': patternBytes(2 * MiB, 5),
        '/noboot.iso': await readFile(isos.noboot),
      });
      noRanges = await startUpstream({ '/plain.iso': small, '/plain-crowd.iso': small });
      noRanges.ignoreRange = true;
      noValidators = await startUpstream({ '/anonymous.iso': small });
      noValidators.omitValidators = true;
      // Nothing listens there: an unreachable upstream.
      deadPort = await freePort();
      // Revalidate the base version every 100 ms, so the changed-upstream test need not wait 10 s.
      const allow = [`${upstream.origin}/`, `${noRanges.origin}/`, `${noValidators.origin}/`, `http://127.0.0.1:${deadPort}/`];
      proxy = await startProxy({ dir: scratch.dir, allow, revalidateMs: 100 });
    });

    afterAll(async () => {
      await proxy?.close();
      await upstream?.close();
      await noRanges?.close();
      await noValidators?.close();
      await scratch?.cleanup();
    });

    it('refuses an upstream that sends neither ETag nor Last-Modified: versions could not be told apart', async () => {
      expect((await proxy.putNode('anonymous', { bootIso: noValidators.url('/anonymous.iso'), edits: EDITS })).status).toBe(201);
      const res = await fetch(proxy.imageUrl('anonymous'));
      expect(res.status).toBe(502);
      expect(await res.json()).toMatchObject({
        error: { code: 'UPSTREAM_NO_VALIDATOR', message: expect.stringMatching(/neither ETag nor Last-Modified/) },
      });
    });

    it('fails a response in flight when the base changes upstream, with only bytes of the old image, then serves the new image under a new ETag', async () => {
      expect((await proxy.putNode('changing', { bootIso: upstream.url('/changing.iso'), edits: EDITS })).status).toBe(201);
      expect(expected.v2!.length).toBe(expected.v1!.length); // same size: only the validator tells the versions apart
      const head = await fetch(proxy.imageUrl('changing'), { method: 'HEAD' });
      const oldEtag = head.headers.get('etag');
      expect(head.status).toBe(200);

      // Hold every upstream fetch of bytes past 3 MiB (filler, read by no index): the response
      // below gets its headers and first blocks, then waits for a held block.
      upstream.hold = (r) => r.method === 'GET' && r.path === '/changing.iso' && rangeStart(r.range) >= 3 * MiB;
      const inFlight = getPartial(proxy.imageUrl('changing'));
      await eventually(() => upstream.held() >= 1, 'a block fetch held at the upstream');
      upstream.set('/changing.iso', await readFile(isos.v2!));
      upstream.hold = undefined;
      upstream.release();

      const got = await inFlight;
      expect(got.status).toBe(200);
      expect(got.etag).toBe(oldEtag);
      expect(got.declared).toBe(expected.v1!.length);
      expect(got.bytes.length).toBeLessThan(got.declared);
      expect(got.error).toBeDefined();
      expect(got.bytes.equals(expected.v1!.subarray(0, got.bytes.length))).toBe(true);

      // Within a few revalidation intervals the service sees the new version.
      let newEtag: string | null = oldEtag;
      await eventually(async () => {
        newEtag = (await fetch(proxy.imageUrl('changing'), { method: 'HEAD' })).headers.get('etag');
        return newEtag !== oldEtag;
      }, 'the new ETag');
      const next = await getPartial(proxy.imageUrl('changing'));
      expect(next.error).toBeUndefined();
      expect(next.etag).toBe(newEtag);
      expect(sha256(next.bytes)).toBe(sha256(expected.v2!));
      expect(proxy.logs.some((l) => l.msg === 'base image changed upstream; re-indexing')).toBe(true);
    });

    it('retries upstream connections reset mid-body and serves the exact image', async () => {
      upstream.resetAfterBytes = 100_000;
      upstream.resets = 3;
      expect((await proxy.putNode('resetting', { bootIso: upstream.url('/resetting.iso'), edits: EDITS })).status).toBe(201);
      const got = await getPartial(proxy.imageUrl('resetting'));
      expect(upstream.resets).toBe(0);
      expect(got.status).toBe(200);
      // Transparent retry is what the upstream layer promises for resets within its retry budget.
      expect(got.error).toBeUndefined();
      expect(sha256(got.bytes)).toBe(sha256(expected.small!));
      expect(await proxy.metrics()).toMatch(/^isoproxy_upstream_retries_total [1-9]/m);
    });

    it('fails cleanly, never with wrong bytes, when the upstream resets every block fetch without progress', async () => {
      const etagOf = async () => (await fetch(proxy.imageUrl('resetting'), { method: 'HEAD' })).headers.get('etag');
      const before = await etagOf();
      // Every fetch of the last block (filler, read by no index) resets before its first byte, so
      // retries make no progress; the blocks before it are served.
      upstream.resetAfterBytes = 0;
      upstream.resets = 1000;
      upstream.resetOnly = (r) => r.path === '/resetting.iso' && rangeStart(r.range) >= 2 * MiB;
      upstream.set('/resetting.iso', await readFile(isos.small!)); // a new version: nothing of it cached
      // Index the new version first (the HEAD), so the failure comes mid-body, after the 200 went out.
      await eventually(async () => (await etagOf()) !== before, 'the new version indexed');
      try {
        const got = await getPartial(proxy.imageUrl('resetting'));
        expect(got.status).toBe(200);
        expect(got.error).toBeDefined();
        expect(got.bytes.length).toBeLessThan(expected.small!.length);
        expect(got.bytes.equals(expected.small!.subarray(0, got.bytes.length))).toBe(true);
        const logged = (): boolean =>
          proxy.logs.some((l) => l.msg === 'transfer failed' && l.node === 'resetting' && /^UPSTREAM_/.test(String(l.code)));
        await eventually(logged, 'the failed transfer logged with its upstream code');
      } finally {
        upstream.resets = 0;
        upstream.resetOnly = undefined;
      }
    });

    it('answers a status and a code, not an empty reply, when the first block of a range cannot be read, and HEAD agrees', async () => {
      expect((await proxy.putNode('cold', { bootIso: upstream.url('/cold.iso'), edits: EDITS })).status).toBe(201);
      // The index read the first block; every fetch of the last one resets before its first byte.
      upstream.resetAfterBytes = 0;
      upstream.resets = 1000;
      upstream.resetOnly = (r) => r.path === '/cold.iso' && rangeStart(r.range) >= 2 * MiB;
      try {
        const range = { range: `bytes=${2 * MiB + 100}-${2 * MiB + 5000}`, 'x-request-id': 'cold-range-1' };
        const res = await fetch(proxy.imageUrl('cold'), { headers: range });
        expect(res.status).toBeGreaterThanOrEqual(502);
        expect(res.status).toBeLessThanOrEqual(504);
        expect(((await res.json()) as { error: { code: string } }).error.code).toMatch(/^UPSTREAM_/);
        const head = await fetch(proxy.imageUrl('cold'), { method: 'HEAD', headers: { range: range.range } });
        expect(head.status).toBe(res.status);
        await eventually(() => proxy.logs.some((l) => l.reqId === 'cold-range-1' && l.status === res.status), 'the real status logged');
        expect(proxy.logs.some((l) => l.reqId === 'cold-range-1' && l.status === 206)).toBe(false);
      } finally {
        upstream.resets = 0;
        upstream.resetOnly = undefined;
      }
    });

    it('serves exact images from an upstream that ignores Range', async () => {
      expect((await proxy.putNode('plain', { bootIso: noRanges.url('/plain.iso'), edits: EDITS })).status).toBe(201);
      const whole = await getPartial(proxy.imageUrl('plain'));
      expect(whole.error).toBeUndefined();
      expect(sha256(whole.bytes)).toBe(sha256(expected.small!));
      expect(sha256(await downloadByRanges(proxy.imageUrl('plain'), expected.small!.length, MiB))).toBe(sha256(expected.small!));
      expect(noRanges.log.every((r) => r.status === 200)).toBe(true);
    });

    it('reads an upstream that ignores Range once, front to back, for 20 concurrent clients', async () => {
      expect((await proxy.putNode('plain-crowd', { bootIso: noRanges.url('/plain-crowd.iso'), edits: EDITS })).status).toBe(201);
      const results = await Promise.all(Array.from({ length: 20 }, () => getPartial(proxy.imageUrl('plain-crowd'))));
      for (const r of results) {
        expect(r.error).toBeUndefined();
        expect(sha256(r.bytes)).toBe(sha256(expected.small!));
      }
      const gets = noRanges.log.filter((r) => r.method === 'GET' && r.path === '/plain-crowd.iso');
      // Besides the one-byte probes (answered with 200 and cut short), one fill of the whole file.
      expect(gets.filter((r) => r.range !== 'bytes=0-0').length).toBe(1);
    });

    it('answers 502 with a JSON error naming the upstream when it cannot be reached', async () => {
      const url = `http://127.0.0.1:${deadPort}/gone.iso`;
      const put = await proxy.putNode('unreachable', { bootIso: url, edits: EDITS });
      expect(put.status).toBe(201);
      expect(await put.json()).toMatchObject({ etag: null, etagError: { code: expect.stringMatching(/^UPSTREAM_/) } });
      const res = await fetch(proxy.imageUrl('unreachable'));
      expect(res.status).toBe(502);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toMatch(/^UPSTREAM_/);
      expect(body.error.message).toContain(url);
    });

    it('refuses at PUT a base that is not an ISO image with 422 ISO_FORMAT, and stores nothing', async () => {
      const put = await proxy.putNode('junk-put', { bootIso: upstream.url('/junk.iso'), edits: EDITS });
      expect(put.status).toBe(422);
      expect(await put.json()).toMatchObject({ error: { code: 'ISO_FORMAT' } });
      expect((await fetch(`${proxy.url}/api/v1/nodes/junk-put`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
      expect((await fetch(proxy.imageUrl('junk-put'))).status).toBe(404);
    });

    it('answers 502 ISO_FORMAT for an upstream file that is not an ISO image', async () => {
      // Stored anyway (validate=false), as for a base that is not published yet.
      const put = await fetch(`${proxy.url}/api/v1/nodes/junk?validate=false`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ bootIso: upstream.url('/junk.iso'), edits: EDITS }),
      });
      expect(put.status).toBe(201);
      const res = await fetch(proxy.imageUrl('junk'));
      expect(res.status).toBe(502);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('ISO_FORMAT');
      expect(body.error.message).toMatch(/at byte \d+/);
    });

    it('answers a JSON error naming the cause for a valid ISO with no boot config to edit', async () => {
      const put = await proxy.putNode('noboot', { bootIso: upstream.url('/noboot.iso'), edits: EDITS });
      expect(put.status).toBe(201);
      expect(await put.json()).toMatchObject({ etag: null, etagError: { code: 'NO_KERNEL_LINES' } });
      const res = await fetch(proxy.imageUrl('noboot'));
      const body = (await res.json()) as { error: { code: string; message: string } };
      // A RemasterError from the worker pool keeps its class across the thread boundary: 422.
      expect(res.status).toBe(422);
      expect(body.error.code).toBe('NO_KERNEL_LINES');
      expect(body.error.message).toMatch(/no kernel command line found/);
    });
  },
);
