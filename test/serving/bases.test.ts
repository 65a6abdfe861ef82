// The bases' list as the status page reads it: a base that fails to open is listed as failed with
// its error code until an open of it succeeds or the failure ages out, and the list of failures is
// bounded. Upstreams are in memory (the demo ISO, or an error); the cache is a pass-through.

import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { CachedSource } from '../../src/cache/block-cache.js';
import { demoIsoSpec } from '../../src/demo/demo-iso.js';
import { IsoFormatError, UpstreamError } from '../../src/errors.js';
import { writeIso } from '../../src/iso9660/writer.js';
import { createBases, REVALIDATE_MS } from '../../src/serving/bases.js';
import type { UpstreamSource } from '../../src/upstream/types.js';
import { versionKey } from '../../src/upstream/validator.js';

const ISO = writeIso(demoIsoSpec());

function memoryUpstream(url: string, bytes: Uint8Array, etag = '"v1"'): UpstreamSource {
  const version = { url, size: bytes.length, etag };
  return {
    size: bytes.length,
    version,
    supportsRanges: true,
    read: async (offset, length) => bytes.slice(offset, offset + length),
    stream: async function* (offset, length) {
      yield bytes.slice(offset, offset + length);
    },
    close: async () => {},
  };
}

const passThrough = {
  source: (upstream: UpstreamSource): CachedSource => ({
    size: upstream.size,
    version: upstream.version,
    versionKey: versionKey(upstream.version),
    read: (offset, length, signal) => upstream.read(offset, length, signal),
    stream: (offset, length, signal) => upstream.stream(offset, length, signal),
  }),
};

function clock() {
  let t = Date.UTC(2026, 0, 1);
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

describe('bases that fail to open', () => {
  it('are listed as failed with their code until an open succeeds', async () => {
    const c = clock();
    let reachable = false;
    const bases = createBases({
      open: async (url) => {
        if (url.endsWith('bad.iso')) return memoryUpstream(url, new Uint8Array(64 * 1024)); // no volume descriptors
        if (!reachable) throw new UpstreamError('UPSTREAM_UNREACHABLE', url, 'connect ECONNREFUSED');
        return memoryUpstream(url, ISO);
      },
      cache: passThrough,
      logger: pino({ level: 'silent' }),
      now: c.now,
    });
    await expect(bases.current('http://mirror/a.iso')).rejects.toMatchObject({ code: 'UPSTREAM_UNREACHABLE' });
    await expect(bases.current('http://mirror/bad.iso')).rejects.toMatchObject({ code: 'ISO_FORMAT' });
    expect(bases.list()).toEqual([
      { url: 'http://mirror/a.iso', failed: { code: 'UPSTREAM_UNREACHABLE', at: c.now() } },
      { url: 'http://mirror/bad.iso', failed: { code: 'ISO_FORMAT', at: c.now() } },
    ]);
    expect(bases.size()).toBe(0);

    reachable = true;
    const open = await bases.current('http://mirror/a.iso');
    expect(bases.list()).toEqual([
      { url: 'http://mirror/a.iso', open },
      { url: 'http://mirror/bad.iso', failed: expect.any(Object) },
    ]);
    await bases.close();
  });

  it('are forgotten when their failure ages out, and at most maxFailed are kept', async () => {
    const c = clock();
    const bases = createBases({
      open: async (url) => {
        throw new UpstreamError('UPSTREAM_STATUS', url, 'answered 404', 404);
      },
      cache: passThrough,
      logger: pino({ level: 'silent' }),
      now: c.now,
      failedTtlMs: 60_000,
      maxFailed: 3,
    });
    for (let i = 0; i < 5; i++) {
      await expect(bases.current(`http://mirror/${i}.iso`)).rejects.toThrow();
      c.advance(1000);
    }
    // The oldest two went to keep three.
    expect(bases.list().map((b) => [b.url, b.failed?.code])).toEqual([
      ['http://mirror/2.iso', 'UPSTREAM_STATUS'],
      ['http://mirror/3.iso', 'UPSTREAM_STATUS'],
      ['http://mirror/4.iso', 'UPSTREAM_STATUS'],
    ]);
    // A retry that fails again is news: it moves to the end and its clock starts again.
    await expect(bases.current('http://mirror/2.iso')).rejects.toThrow();
    c.advance(58_500);
    expect(bases.list().map((b) => b.url)).toEqual(['http://mirror/4.iso', 'http://mirror/2.iso']);
    c.advance(2_000);
    expect(bases.list()).toEqual([]);
    await bases.close();
  });

  it('say when they start indexing a version, before its first read, and not for one already open', async () => {
    // The patch-set pool warms a thread then (src/service.ts): the index and the thread's start overlap.
    const events: string[] = [];
    const bases = createBases({
      open: async (url) => {
        const up = memoryUpstream(url, ISO);
        return {
          ...up,
          read: (o, l, s) => {
            if (events.at(-1) !== 'read') events.push('read');
            return up.read(o, l, s);
          },
        };
      },
      cache: passThrough,
      logger: pino({ level: 'silent' }),
      onIndexing: () => events.push('indexing'),
    });
    await bases.current('http://mirror/a.iso');
    await bases.current('http://mirror/a.iso');
    expect(events).toEqual(['indexing', 'read']);
    await bases.close();
  });

  it('in a cluster worker, index nothing, and list a base whose new version the opener refuses as failed', async () => {
    // The worker's opener is its primary, which indexes each version before answering (here a
    // stand-in that throws what the primary would send back for an image that is not an ISO).
    const c = clock();
    let replaced = false;
    let reads = 0;
    const forgotten: string[] = [];
    const bases = createBases({
      open: async (url) => {
        if (replaced) throw new IsoFormatError('primary volume descriptor', 32768, 'not an ISO 9660 image');
        const up = memoryUpstream(url, ISO);
        return {
          ...up,
          read: (o, l, s) => {
            reads++;
            return up.read(o, l, s);
          },
        };
      },
      cache: passThrough,
      logger: pino({ level: 'silent' }),
      now: c.now,
      indexOnOpen: false,
    });
    bases.onForget((id, why) => forgotten.push(`${id} ${why}`));
    const open = await bases.current('http://mirror/a.iso');
    expect(reads).toBe(0);
    // A preview (the status page's diff) prepares the context when it asks for one.
    expect((await open.context()).configs.length).toBeGreaterThan(0);
    expect(reads).toBeGreaterThan(0);

    replaced = true;
    c.advance(REVALIDATE_MS);
    await expect(bases.current('http://mirror/a.iso')).rejects.toMatchObject({ code: 'ISO_FORMAT' });
    expect(forgotten).toEqual([`${open.id} replaced`]);
    expect(bases.list()).toEqual([{ url: 'http://mirror/a.iso', failed: { code: 'ISO_FORMAT', at: c.now() } }]);
    expect(bases.size()).toBe(0);
    await bases.close();
  });
});
