// HTTP semantics of the whole service on a real base: HEAD answers
// exactly GET's headers; the ETag is a function of (base version, edits) — the same across
// restarts of isoproxy and across fresh instances, different for different edits; 304 on
// If-None-Match; If-Range with a stale validator gets the whole image; 416; multipart ranges.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Edits } from '../../src/bootconfig/types.js';
import { missingTools, scratchDir } from '../helpers/tools.js';
import { zeroSlack } from '../remaster/fixtures.js';
import { startFixtureServer, type FixtureServer } from '../upstream/fixture-server.js';
import { expectedImage, sha256, startProxy, type ProxyUnderTest } from './harness.js';

const missing = missingTools('xorriso');

const EDITS_A: Edits = { append: ['isoproxy.node=a'] };
const EDITS_B: Edits = { append: ['isoproxy.node=b'] };

/** Headers that may differ between two responses to the same resource. */
const PER_RESPONSE = new Set(['date', 'x-request-id', 'connection', 'keep-alive']);

function comparable(res: Response): Record<string, string> {
  const out: Record<string, string> = {};
  res.headers.forEach((v, k) => {
    if (!PER_RESPONSE.has(k)) out[k] = v;
  });
  return out;
}

describe.skipIf(missing.length > 0)(`HTTP semantics over a real base${missing.length > 0 ? ` (skipped: missing ${missing.join(', ')})` : ''}`, () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  let upstream: FixtureServer;
  let proxy: ProxyUnderTest;
  let iso: string;
  let want: Buffer;

  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-service-cond-');
    iso = (await zeroSlack(scratch.dir)).iso;
    want = await expectedImage(iso, EDITS_A, join(scratch.dir, 'a.expected.iso'));
    upstream = await startFixtureServer(await readFile(iso));
    proxy = await startProxy({ dir: join(scratch.dir, 'one'), allow: [`${upstream.origin}/`] });
    expect((await proxy.putNode('a', { bootIso: upstream.url, edits: EDITS_A })).status).toBe(201);
    expect((await proxy.putNode('a-twin', { bootIso: upstream.url, edits: EDITS_A })).status).toBe(201);
    expect((await proxy.putNode('b', { bootIso: upstream.url, edits: EDITS_B })).status).toBe(201);
  });

  afterAll(async () => {
    await proxy?.close();
    await upstream?.close();
    await scratch?.cleanup();
  });

  it('answers HEAD with exactly the headers of GET, for the whole image, one range and several', async () => {
    for (const range of [undefined, 'bytes=100-4195', 'bytes=0-9,-10']) {
      const headers: Record<string, string> = range ? { range } : {};
      const get = await fetch(proxy.imageUrl('a'), { headers });
      const body = Buffer.from(await get.arrayBuffer());
      const head = await fetch(proxy.imageUrl('a'), { method: 'HEAD', headers });
      expect(head.status, range).toBe(get.status);
      expect(comparable(head), range).toEqual(comparable(get));
      expect(Number(get.headers.get('content-length')), range).toBe(body.length);
      expect(get.headers.get('accept-ranges')).toBe('bytes');
      expect(get.headers.get('content-disposition')).toBe('attachment; filename="a.iso"');
    }
  });

  it('serves one range as 206 with Content-Range, clamps an end past the image, and several as multipart/byteranges', async () => {
    const one = await fetch(proxy.imageUrl('a'), { headers: { range: `bytes=${want.length - 100}-${want.length + 262_144}` } });
    expect(one.status).toBe(206);
    expect(one.headers.get('content-range')).toBe(`bytes ${want.length - 100}-${want.length - 1}/${want.length}`);
    expect(Buffer.from(await one.arrayBuffer()).equals(want.subarray(want.length - 100))).toBe(true);

    const multi = await fetch(proxy.imageUrl('a'), { headers: { range: 'bytes=0-9,32768-32777' } });
    expect(multi.status).toBe(206);
    const type = multi.headers.get('content-type') ?? '';
    const boundary = /boundary=(\S+)/.exec(type)?.[1];
    expect(type.startsWith('multipart/byteranges')).toBe(true);
    const text = Buffer.from(await multi.arrayBuffer()).toString('latin1');
    const parts = text
      .split(`--${boundary}`)
      .slice(1, -1)
      .map((p) => p.split('\r\n\r\n')[1]!.replace(/\r\n$/, ''));
    expect(parts).toEqual([want.subarray(0, 10).toString('latin1'), want.subarray(32768, 32778).toString('latin1')]);
  });

  it('answers 416 with the size for a range wholly past the end', async () => {
    const res = await fetch(proxy.imageUrl('a'), { headers: { range: `bytes=${want.length}-` } });
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe(`bytes */${want.length}`);
    await res.arrayBuffer();
  });

  it('gives the same ETag to the same edits on the same base, and another to other edits', async () => {
    const etag = async (node: string) => (await fetch(proxy.imageUrl(node), { method: 'HEAD' })).headers.get('etag');
    const a = await etag('a');
    expect(a).toMatch(/^"[^"]+"$/);
    expect(await etag('a-twin')).toBe(a);
    expect(await etag('b')).not.toBe(a);
  });

  it('answers 304 to If-None-Match with the current ETag and to If-Modified-Since, and the whole image to If-Range with a stale one', async () => {
    const head = await fetch(proxy.imageUrl('a'), { method: 'HEAD' });
    const etag = head.headers.get('etag')!;
    const cached = await fetch(proxy.imageUrl('a'), { headers: { 'if-none-match': etag } });
    expect(cached.status).toBe(304);
    expect(cached.headers.get('etag')).toBe(etag);
    expect((await cached.arrayBuffer()).byteLength).toBe(0);

    const stale = await fetch(proxy.imageUrl('a'), { headers: { range: 'bytes=0-1023', 'if-range': '"some-older-version"' } });
    expect(stale.status).toBe(200);
    expect(stale.headers.get('content-range')).toBeNull();
    expect(sha256(Buffer.from(await stale.arrayBuffer()))).toBe(sha256(want));

    const fresh = await fetch(proxy.imageUrl('a'), { headers: { range: 'bytes=0-1023', 'if-range': etag } });
    expect(fresh.status).toBe(206);
    expect(Buffer.from(await fresh.arrayBuffer()).equals(want.subarray(0, 1024))).toBe(true);

    const since = await fetch(proxy.imageUrl('a'), { headers: { 'if-modified-since': head.headers.get('last-modified')! } });
    expect(since.status).toBe(304);
    const before = new Date(Date.parse(head.headers.get('last-modified')!) - 1000).toUTCString();
    const modified = await fetch(proxy.imageUrl('a'), { method: 'HEAD', headers: { 'if-modified-since': before } });
    expect(modified.status).toBe(200);

    const otherEtag = (await fetch(proxy.imageUrl('b'), { method: 'HEAD' })).headers.get('etag')!;
    const changed = await fetch(proxy.imageUrl('a'), { headers: { 'if-none-match': otherEtag } });
    expect(changed.status).toBe(200);
    await changed.arrayBuffer();
  });

  it('keeps the ETag across a restart on the same data and cache, and in a fresh instance with the node registered anew', async () => {
    const before = (await fetch(proxy.imageUrl('a'), { method: 'HEAD' })).headers.get('etag');
    const lastModified = (await fetch(proxy.imageUrl('a'), { method: 'HEAD' })).headers.get('last-modified');
    await proxy.close();
    proxy = await startProxy({ dir: join(scratch.dir, 'one'), allow: [`${upstream.origin}/`] });
    const again = await fetch(proxy.imageUrl('a'));
    expect(again.headers.get('etag')).toBe(before);
    expect(again.headers.get('last-modified')).toBe(lastModified);
    expect(sha256(Buffer.from(await again.arrayBuffer()))).toBe(sha256(want));

    const other = await startProxy({ dir: join(scratch.dir, 'two'), allow: [`${upstream.origin}/`] });
    try {
      expect((await other.putNode('elsewhere', { bootIso: upstream.url, edits: EDITS_A })).status).toBe(201);
      expect((await fetch(other.imageUrl('elsewhere'), { method: 'HEAD' })).headers.get('etag')).toBe(before);
    } finally {
      await other.close();
    }
  });
});
