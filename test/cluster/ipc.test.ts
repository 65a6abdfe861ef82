// The pieces of the cluster that need no processes: summing the processes' /metrics texts,
// errors crossing IPC as the classes the HTTP layer maps to statuses, and a worker's view of the
// primary's per-version cache figures.

import { describe, expect, it } from 'vitest';
import { fromWire, toWire } from '../../src/cluster/ipc.js';
import { sumExpositions } from '../../src/cluster/metrics-sum.js';
import { RemoteBlockCache } from '../../src/cluster/remote-cache.js';
import type { CacheStats } from '../../src/cache/block-cache.js';
import type { Figures } from '../../src/cluster/primary-figures.js';
import type { UpstreamSource } from '../../src/upstream/types.js';
import { BaseChangedError, IsoFormatError, UpstreamError } from '../../src/errors.js';
import { errorStatus } from '../../src/http/errors.js';
import { MetricsRegistry } from '../../src/metrics.js';

describe('sumExpositions', () => {
  it('adds every series of every process, keeps one HELP and TYPE per family, in first-seen order', () => {
    const worker = (n: number): string => {
      const m = new MetricsRegistry();
      m.counter('isoproxy_http_requests_total', 'HTTP requests.', ['route', 'status']).inc({ route: 'iso', status: '206' }, n);
      m.histogram('isoproxy_transfer_duration_seconds', 'Durations.', [0.1, 1]).observe(n / 10);
      m.gauge('isoproxy_transfers_active', 'Active.').set(n);
      return m.render();
    };
    const primary = new MetricsRegistry();
    primary.collect('isoproxy_cache_bytes_used', 'Bytes on disk.', 'gauge', () => 4096);
    const text = sumExpositions([worker(1), worker(5), primary.render()]);
    expect(text).toContain('isoproxy_http_requests_total{route="iso",status="206"} 6\n');
    expect(text).toContain('isoproxy_transfer_duration_seconds_bucket{le="0.1"} 1\n');
    expect(text).toContain('isoproxy_transfer_duration_seconds_bucket{le="1"} 2\n');
    expect(text).toContain('isoproxy_transfer_duration_seconds_count 2\n');
    expect(text).toContain('isoproxy_transfers_active 6\n');
    expect(text).toContain('isoproxy_cache_bytes_used 4096\n');
    expect(text.match(/^# TYPE isoproxy_http_requests_total counter$/gm)).toHaveLength(1);
    expect(text.indexOf('isoproxy_http_requests_total')).toBeLessThan(text.indexOf('isoproxy_cache_bytes_used'));
  });
});

describe('errors across IPC', () => {
  it('keep their class, code and status mapping', () => {
    const wire = (e: unknown) => fromWire(structuredClone(toWire(e)));
    const timeout = wire(new UpstreamError('UPSTREAM_TIMEOUT', 'http://u/x.iso', 'block 3 not fetched within 30000 ms', undefined));
    expect(timeout).toBeInstanceOf(UpstreamError);
    expect(errorStatus(timeout)).toBe(504);
    expect((timeout as UpstreamError).url).toBe('http://u/x.iso');
    expect(errorStatus(wire(new UpstreamError('UPSTREAM_STATUS', 'http://u/x.iso', 'answered 500', 500)))).toBe(502);
    expect(errorStatus(wire(new BaseChangedError('http://u/x.iso', 'new ETag')))).toBe(503);
    const format = wire(new IsoFormatError('volume descriptor', 32768, 'bad'));
    expect(format).toBeInstanceOf(IsoFormatError);
    expect(errorStatus(format)).toBe(502);
    expect(wire(new DOMException('gone', 'AbortError')).name).toBe('AbortError');
  });
});

describe("a worker's cache figures", () => {
  it('come from the primary, asked at most once a second in the background, for the versions the worker serves', async () => {
    const asked: string[][] = [];
    const primary: CacheStats = {
      hits: 900,
      misses: 100,
      evictions: 3,
      bytesUsed: 5 * 1024 * 1024,
      blocks: 5,
      upstreamBytes: 8 * 1024 * 1024,
      upstreamRequests: 8,
      errors: 1,
      retries: 2,
      degraded: false,
    };
    let answer: Figures = { sources: {}, cache: primary };
    const cache = new RemoteBlockCache({
      dir: '/nonexistent',
      blockSize: 1024 * 1024,
      fetchBlock: () => Promise.reject(new Error('not used')),
      prefetch: () => {},
      sourceStats: async (vks) => {
        asked.push([...vks]);
        return answer;
      },
    });
    const upstream = { size: 10, version: { url: 'http://u/a.iso', size: 10, etag: '"a"' } } as unknown as UpstreamSource;
    const vk = cache.source(upstream).versionKey;
    answer = { sources: { [vk]: { cachedBytes: 7, upstreamBytes: 10 } }, cache: primary };
    // The first read has no answer yet (the status page reads synchronously); the next one does.
    expect(cache.sourceStats(vk)).toEqual({ cachedBytes: 0, upstreamBytes: 0 });
    expect(cache.viewStats().bytesUsed).toBe(0);
    await new Promise((r) => setTimeout(r, 10));
    expect(cache.sourceStats(vk)).toEqual({ cachedBytes: 7, upstreamBytes: 10 });
    // The page's view: the primary's cache, with this worker's own reads as hits and misses (none
    // yet); /metrics keeps this process's own stats, so the sum over processes counts the primary once.
    expect(cache.viewStats()).toEqual({ ...primary, hits: 0, misses: 0 });
    expect(cache.stats().bytesUsed).toBe(0);
    expect(asked).toEqual([[vk]]);
    await cache.close();
  });
});
