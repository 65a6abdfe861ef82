// A node's and a base's life through the whole service: edits changed by a new PUT take effect at
// once (new ETag, new bytes), DELETE ends it; a base replaced upstream by something broken is
// refused clearly; an upstream down at revalidation fails requests until it is back; a download by ranges across a base change never gets a range whose bytes
// disagree with its ETag; a client that goes away frees its transfer; file:// bases from an
// allowed directory; HTTP/1.0 clients get Content-Length bodies.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Edits } from '../../src/bootconfig/types.js';
import { missingTools, run, scratchDir } from '../helpers/tools.js';
import { patternBytes } from '../upstream/fixture-server.js';
import { eventually, expectedImage, getPartial, MiB, sha256, startProxy, TOKEN, type ProxyUnderTest } from './harness.js';
import { sizedIso } from './images.js';
import { startUpstream, type TestUpstream } from './upstream.js';

const missing = missingTools('xorriso', 'curl');
const EDITS_A: Edits = { append: ['isoproxy.node=a'] };
const EDITS_B: Edits = { append: ['isoproxy.node=b'], remove: ['quiet'] };
const rangeStart = (range: string | undefined): number => Number(/^bytes=(\d+)-/.exec(range ?? '')?.[1] ?? -1);

const skipped = missing.length > 0 ? ` (skipped: missing ${missing.join(', ')})` : '';

describe.skipIf(missing.length > 0)(`node and base lifecycle through the whole service${skipped}`, () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  let upstream: TestUpstream;
  let proxy: ProxyUnderTest;
  const isos: Record<string, string> = {};
  const expected: Record<string, Buffer> = {};

  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-service-life-');
    isos.one = await sizedIso(scratch.dir, 'one', 3, 'one');
    isos.two = await sizedIso(scratch.dir, 'two', 3, 'two');
    expected.oneA = await expectedImage(isos.one, EDITS_A, join(scratch.dir, 'oneA.iso'));
    expected.oneB = await expectedImage(isos.one, EDITS_B, join(scratch.dir, 'oneB.iso'));
    expected.twoA = await expectedImage(isos.two, EDITS_A, join(scratch.dir, 'twoA.iso'));
    const one = await readFile(isos.one);
    upstream = await startUpstream({
      '/edits.iso': one,
      '/flaky.iso': one,
      '/swap.iso': one,
      '/abort.iso': one,
      '/down.iso': one,
      '/shutdown.iso': one,
    });
    const config = { dir: scratch.dir, allow: [`${upstream.origin}/`], revalidateMs: 100 };
    proxy = await startProxy(config);
  });

  afterAll(async () => {
    await proxy?.close();
    await upstream?.close();
    await scratch?.cleanup();
  });

  it('applies new edits from a second PUT at once (new ETag, new bytes), and DELETE ends the node', async () => {
    expect((await proxy.putNode('e', { bootIso: upstream.url('/edits.iso'), edits: EDITS_A })).status).toBe(201);
    const first = await getPartial(proxy.imageUrl('e'));
    expect(sha256(first.bytes)).toBe(sha256(expected.oneA!));
    const put = await proxy.putNode('e', { bootIso: upstream.url('/edits.iso'), edits: EDITS_B });
    expect(put.status).toBe(200);
    const view = (await put.json()) as { etag: string };
    expect(view.etag).not.toBe(first.etag);
    const second = await getPartial(proxy.imageUrl('e'));
    expect(second.etag).toBe(view.etag);
    expect(sha256(second.bytes)).toBe(sha256(expected.oneB!));
    const del = await fetch(`${proxy.url}/api/v1/nodes/e`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(del.status).toBe(204);
    expect((await fetch(proxy.imageUrl('e'), { method: 'HEAD' })).status).toBe(404);
  });

  it('refuses a base replaced upstream by a file that is not an ISO with 502 ISO_FORMAT, and serves again once it is fixed', async () => {
    expect((await proxy.putNode('f', { bootIso: upstream.url('/flaky.iso'), edits: EDITS_A })).status).toBe(201);
    expect((await fetch(proxy.imageUrl('f'), { method: 'HEAD' })).status).toBe(200);
    upstream.set('/flaky.iso', patternBytes(2 * MiB, 9));
    await eventually(async () => (await fetch(proxy.imageUrl('f'), { method: 'HEAD' })).status === 502, 'the broken version refused');
    const res = await fetch(proxy.imageUrl('f'));
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ error: { code: 'ISO_FORMAT' } });
    // Fixing the file upstream brings the node back: a failed new version does not stick.
    upstream.set('/flaky.iso', await readFile(isos.one!));
    await eventually(async () => (await fetch(proxy.imageUrl('f'), { method: 'HEAD' })).status === 200, 'the fixed base served again');
    expect(sha256((await getPartial(proxy.imageUrl('f'))).bytes)).toBe(sha256(expected.oneA!));
  });

  it('answers 502 while the upstream is down at revalidation, and serves again once it is back', async () => {
    expect((await proxy.putNode('d', { bootIso: upstream.url('/down.iso'), edits: EDITS_A })).status).toBe(201);
    expect(sha256((await getPartial(proxy.imageUrl('d'))).bytes)).toBe(sha256(expected.oneA!));
    upstream.failWith = 503;
    try {
      await eventually(async () => (await fetch(proxy.imageUrl('d'), { method: 'HEAD' })).status === 502, 'the revalidation failure answered');
    } finally {
      upstream.failWith = undefined;
    }
    await eventually(async () => (await fetch(proxy.imageUrl('d'), { method: 'HEAD' })).status === 200, 'the base served again');
    const got = await getPartial(proxy.imageUrl('d'));
    expect(got.error).toBeUndefined();
    expect(sha256(got.bytes)).toBe(sha256(expected.oneA!));
  });

  it('never answers a range with bytes of another version than its ETag names, while the base changes between ranges', async () => {
    expect((await proxy.putNode('s', { bootIso: upstream.url('/swap.iso'), edits: EDITS_A })).status).toBe(201);
    const oldEtag = (await fetch(proxy.imageUrl('s'), { method: 'HEAD' })).headers.get('etag');
    const byEtag = new Map<string, Buffer>([[oldEtag!, expected.oneA!]]);
    const step = 256 * 1024;
    const size = expected.oneA!.length;
    expect(expected.twoA!.length).toBe(size);
    let swapped = false;
    let newSeen = false;
    let failures = 0;
    // Passes until the new version shows: at least three, and for up to 10 s, since a pass over
    // cached ranges can take less than the 100 ms after which the base is revalidated.
    const deadline = Date.now() + 10_000;
    for (let pass = 0; !newSeen && (pass < 3 || Date.now() < deadline); pass++) {
      for (let at = 0; at < size; at += step) {
        if (!swapped && at >= size / 2) {
          upstream.set('/swap.iso', await readFile(isos.two!));
          swapped = true;
        }
        const end = Math.min(size, at + step) - 1;
        const res = await fetch(proxy.imageUrl('s'), { headers: { range: `bytes=${at}-${end}` } });
        const etag = res.headers.get('etag');
        let body: Buffer;
        try {
          body = Buffer.from(await res.arrayBuffer());
        } catch {
          failures++; // a short body: the clean failure of a response whose base changed under it
          continue;
        }
        if (res.status === 503) {
          failures++;
          continue;
        }
        expect(res.status, `${at}-${end}`).toBe(206);
        if (!byEtag.has(etag!)) {
          byEtag.set(etag!, expected.twoA!);
          newSeen = true;
        }
        expect(body.equals(byEtag.get(etag!)!.subarray(at, end + 1)), `${at}-${end} under ${etag}`).toBe(true);
      }
    }
    expect(newSeen).toBe(true);
    expect(byEtag.size).toBe(2);
    // How many ranges failed is timing; that none carried wrong bytes is the point.
    expect(failures).toBeGreaterThanOrEqual(0);
  });

  it('ends the transfer at once when the client goes away mid-body (logged aborted, none active)', async () => {
    // Fetches past 2 MiB wait at the upstream from the start (the index needs only the first
    // block; readahead asks for the rest): the response below then waits for a held block.
    upstream.hold = (r) => r.path === '/abort.iso' && rangeStart(r.range) >= 2 * MiB;
    try {
      expect((await proxy.putNode('ab', { bootIso: upstream.url('/abort.iso'), edits: EDITS_A })).status).toBe(201);
      const controller = new AbortController();
      const res = await fetch(proxy.imageUrl('ab'), { signal: controller.signal });
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      await reader.read();
      await eventually(() => upstream.held() >= 1, 'a block fetch held at the upstream');
      expect(proxy.running.app.activeTransfers()).toBe(1);
      controller.abort();
      await reader.read().catch(() => {});
      await eventually(() => proxy.running.app.activeTransfers() === 0, 'no active transfer');
      await eventually(
        () => proxy.logs.some((l) => l.msg === 'transfer' && l.node === 'ab' && l.outcome === 'aborted'),
        'the aborted transfer logged',
      );
      expect(await proxy.metrics()).toMatch(/^isoproxy_transfers_active 0$/m);
    } finally {
      upstream.hold = undefined;
      upstream.release();
    }
  });

  it('serves a file:// base from an allowed directory, and refuses one outside it', async () => {
    const local = await startProxy({ dir: join(scratch.dir, 'local'), allow: [], allowDirs: [scratch.dir] });
    try {
      expect((await local.putNode('file', { bootIso: pathToFileURL(isos.one!).href, edits: EDITS_A })).status).toBe(201);
      const got = await getPartial(local.imageUrl('file'));
      expect(sha256(got.bytes)).toBe(sha256(expected.oneA!));
      expect((await local.putNode('etc', { bootIso: 'file:///etc/hostname', edits: EDITS_A })).status).toBe(400);
      expect((await local.putNode('dots', { bootIso: `${pathToFileURL(scratch.dir).href}/../../etc/hostname`, edits: EDITS_A })).status).toBe(400);
    } finally {
      await local.close();
    }
  });

  it('answers an HTTP/1.0 client with a Content-Length body of the exact image', async () => {
    expect((await proxy.putNode('old', { bootIso: upstream.url('/edits.iso'), edits: EDITS_A })).status).toBe(201);
    const out = join(scratch.dir, 'http10.iso');
    const { stdout } = await run('curl', ['-sS', '-f', '--http1.0', '-D', '-', '-o', out, proxy.imageUrl('old')]);
    expect(stdout).toMatch(/^HTTP\/1\.[01] 200/);
    expect(stdout.toLowerCase()).toContain(`content-length: ${expected.oneA!.length}`);
    expect(stdout.toLowerCase()).not.toContain('transfer-encoding');
    expect(sha256(await readFile(out))).toBe(sha256(expected.oneA!));
  });

  it('lets a transfer in flight finish when the server shuts down, and refuses new connections meanwhile', async () => {
    const dir = join(scratch.dir, 'shutdown');
    const own = await startProxy({ dir, allow: [`${upstream.origin}/`] });
    let closed: Promise<void> | undefined;
    upstream.hold = (r) => r.path === '/shutdown.iso' && rangeStart(r.range) >= 2 * MiB;
    try {
      expect((await own.putNode('sd', { bootIso: upstream.url('/shutdown.iso'), edits: EDITS_A })).status).toBe(201);
      const inFlight = getPartial(own.imageUrl('sd'));
      await eventually(() => upstream.held() >= 1 && own.running.app.activeTransfers() === 1, 'a transfer waiting on a held block');
      closed = own.close();
      // The listener is closed at once: a new connection is refused.
      await eventually(async () => {
        try {
          await fetch(`${own.url}/healthz`, { headers: { connection: 'close' } });
          return false;
        } catch {
          return true;
        }
      }, 'new connections refused');
      upstream.hold = undefined;
      upstream.release();
      const got = await inFlight;
      expect(got.error).toBeUndefined();
      expect(sha256(got.bytes)).toBe(sha256(expected.oneA!));
      await closed;
      expect(own.logs.some((l) => l.msg === 'waiting for transfers')).toBe(true);
      expect(own.logs.some((l) => l.msg === 'shutdown deadline passed; closing transfers')).toBe(false);
    } finally {
      upstream.hold = undefined;
      upstream.release();
      await (closed ?? own.close());
    }
  });
});
