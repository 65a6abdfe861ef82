import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BaseChangedError, UpstreamError } from '../../src/errors.js';
import { createUpstreamAgent, openHttpSource } from '../../src/upstream/http-source.js';
import { createUpstreamStats } from '../../src/upstream/types.js';
import { collect, patternBytes, sha256, startFixtureServer, type FixtureServer } from './fixture-server.js';

// 5 MiB + 123 bytes: several 1 MiB reads and an odd tail.
const IMAGE = patternBytes(5 * 1024 * 1024 + 123, 7);
const agent = createUpstreamAgent({ connectTimeoutMs: 2_000 });
const fast = { dispatcher: agent, retryBaseDelayMs: 5, retryMaxDelayMs: 20 };

let server: FixtureServer;
beforeAll(async () => {
  server = await startFixtureServer(IMAGE);
});
afterEach(() => {
  for (const k of Object.keys(server.misbehave)) delete (server.misbehave as Record<string, unknown>)[k];
  server.setContent(IMAGE, new Date(Date.UTC(2024, 0, 1)));
  server.log.length = 0;
});
afterAll(async () => {
  await server.close();
  await agent.close();
});

describe('openHttpSource', () => {
  it('learns size, ETag, Last-Modified and Range support from one 1-byte GET', async () => {
    const src = await openHttpSource(server.url, fast);
    expect(src.size).toBe(IMAGE.length);
    expect(src.version.etag).toBe(server.etag());
    expect(src.version.lastModified).toBeDefined();
    expect(src.supportsRanges).toBe(true);
    expect(server.log.map((e) => `${e.method} ${e.range ?? ''}`)).toEqual(['GET bytes=0-0']);
  });

  it('falls back to HEAD when the 1-byte probe is refused', async () => {
    server.misbehave.probeStatus = 403;
    const src = await openHttpSource(server.url, fast);
    expect(src.size).toBe(IMAGE.length);
    expect(src.supportsRanges).toBe(true);
    expect(server.log.map((e) => `${e.method} ${e.range ?? ''}`)).toEqual(['GET bytes=0-0', 'HEAD ']);
  });

  it('works with an upstream that refuses HEAD', async () => {
    server.misbehave.refuseHead = true;
    const src = await openHttpSource(server.url, fast);
    expect(sha256(await src.read(7, 70))).toBe(sha256(IMAGE.subarray(7, 77)));
  });

  it('returns the exact bytes of sequential and random ranges', async () => {
    const src = await openHttpSource(server.url, fast);
    expect(sha256(await collect(src.stream(0, IMAGE.length)))).toBe(sha256(IMAGE));
    for (const [off, len] of [
      [0, 1],
      [IMAGE.length - 1, 1],
      [1_000_000, 2_500_001],
      [3, 0],
    ] as const) {
      expect(sha256(await src.read(off, len))).toBe(sha256(IMAGE.subarray(off, off + len)));
    }
    // Every range GET carried the validator.
    expect(server.rangeGets().every((e) => e.ifRange === server.etag())).toBe(true);
  });

  it('reuses keep-alive connections for sequential range reads', async () => {
    const src = await openHttpSource(server.url, fast);
    const before = server.connections();
    for (let i = 0; i < 6; i++) await src.read(i * 1000, 1000);
    // undici may open a second connection while the first is being handed back; never one each.
    expect(server.connections() - before).toBeLessThanOrEqual(2);
  });

  it('continues from the byte already received after a reset mid-stream', async () => {
    const src = await openHttpSource(server.url, fast);
    server.misbehave.resetAfterBytes = 1_000_000;
    server.misbehave.resetCount = 1;
    const bytes = await collect(src.stream(100, 3_000_000));
    expect(sha256(bytes)).toBe(sha256(IMAGE.subarray(100, 3_000_100)));
    const ranges = server.rangeGets().map((e) => e.range);
    expect(ranges[0]).toBe('bytes=100-3000099');
    // The retry asks for the rest only, from wherever the reset left off.
    expect(ranges).toHaveLength(2);
    const resumed = Number(/^bytes=(\d+)-3000099$/.exec(ranges[1]!)![1]);
    expect(resumed).toBeGreaterThan(100);
    expect(resumed).toBeLessThanOrEqual(1_000_100);
  });

  it('retries 503 with backoff, then succeeds and counts the retries', async () => {
    const stats = createUpstreamStats();
    const src = await openHttpSource(server.url, { ...fast, stats });
    server.misbehave.fail503Count = 2;
    expect(sha256(await src.read(10, 1000))).toBe(sha256(IMAGE.subarray(10, 1010)));
    expect(stats.retries).toBe(2);
    expect(server.rangeGets().map((e) => e.status)).toEqual([503, 503, 206]);
  });

  it('fails with UPSTREAM_STATUS after bounded retries', async () => {
    const src = await openHttpSource(server.url, { ...fast, maxRetries: 2 });
    server.misbehave.fail503Count = 10;
    const err = await src.read(0, 10).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).code).toBe('UPSTREAM_STATUS');
    expect((err as UpstreamError).status).toBe(503);
    expect(server.rangeGets()).toHaveLength(3);
  });

  it('throws BaseChangedError when the image changes mid-download, never new bytes', async () => {
    const src = await openHttpSource(server.url, fast);
    const seen: Uint8Array[] = [];
    const err = await (async () => {
      let i = 0;
      for await (const chunk of src.stream(0, IMAGE.length)) {
        seen.push(chunk);
        if (i++ === 0) server.setContent(patternBytes(IMAGE.length, 99));
      }
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    // The response in flight finishes the old version; whatever follows must not be the new one.
    const got = await collect(
      (async function* () {
        yield* seen;
      })(),
    );
    expect(sha256(got)).toBe(sha256(IMAGE.subarray(0, got.length)));
    if (got.length < IMAGE.length) expect(err).toBeInstanceOf(BaseChangedError);
    // A new read after the change fails instead of serving the new version under the old validator.
    await expect(src.read(0, 100)).rejects.toBeInstanceOf(BaseChangedError);
  });

  it('reads an upstream that ignores Range by skipping from the start', async () => {
    server.misbehave.ignoreRange = true;
    const src = await openHttpSource(server.url, fast);
    expect(src.supportsRanges).toBe(false);
    expect(sha256(await src.read(2_000_000, 10_000))).toBe(sha256(IMAGE.subarray(2_000_000, 2_010_000)));
  });

  it('follows a bounded redirect chain and refuses a longer one', async () => {
    const chained = await startFixtureServer(IMAGE, { redirectHops: 3 });
    try {
      const src = await openHttpSource(chained.url, fast);
      expect(src.version.url).toBe(chained.url);
      expect(sha256(await src.read(5, 5000))).toBe(sha256(IMAGE.subarray(5, 5005)));
      const err = await openHttpSource(chained.url, { ...fast, maxRedirects: 2 }).catch((e: unknown) => e);
      expect((err as UpstreamError).code).toBe('UPSTREAM_REDIRECTS');
    } finally {
      await chained.close();
    }
  });

  it('rejects a 206 whose Content-Range is not the range asked for', async () => {
    const src = await openHttpSource(server.url, fast);
    server.misbehave.lieContentRangeBy = 1;
    const err = await src.read(0, 100).catch((e: unknown) => e);
    expect((err as UpstreamError).code).toBe('UPSTREAM_BAD_RANGE');
  });

  it('times out slow headers with UPSTREAM_TIMEOUT', async () => {
    // undici's header timer ticks coarsely (about every 500 ms): the server waits far longer.
    const src = await openHttpSource(server.url, { ...fast, headersTimeoutMs: 100, maxRetries: 1 });
    server.misbehave.slowHeadersMs = 3_000;
    const err = await src.read(0, 10).catch((e: unknown) => e);
    expect((err as UpstreamError).code).toBe('UPSTREAM_TIMEOUT');
  });

  it('reports an unreachable upstream with UPSTREAM_UNREACHABLE', async () => {
    const err = await openHttpSource('http://127.0.0.1:1/image.iso', { ...fast, maxRetries: 1 }).catch((e: unknown) => e);
    expect((err as UpstreamError).code).toBe('UPSTREAM_UNREACHABLE');
  });

  it('reports a missing image with its status', async () => {
    const err = await openHttpSource(`${server.origin}/missing.iso`, fast).catch((e: unknown) => e);
    expect((err as UpstreamError).code).toBe('UPSTREAM_STATUS');
    expect((err as UpstreamError).status).toBe(404);
  });

  it('aborts the upstream request at once when the reader is cancelled', async () => {
    const src = await openHttpSource(server.url, fast);
    server.misbehave.dripMs = 20;
    const ac = new AbortController();
    const closed = server.nextSocketClose();
    const it = src.stream(0, IMAGE.length, ac.signal)[Symbol.asyncIterator]();
    await it.next();
    ac.abort();
    await expect(it.next()).rejects.toThrow();
    await closed; // the server saw its socket go away
  });

  it('frees the upstream socket when the consumer stops iterating', async () => {
    const src = await openHttpSource(server.url, fast);
    server.misbehave.dripMs = 20;
    const closed = server.nextSocketClose();
    for await (const _ of src.stream(0, IMAGE.length)) break;
    await closed;
  });
});
