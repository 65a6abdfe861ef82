import { describe, expect, it } from 'vitest';
import { cacheMetricsText } from '../../src/cache/metrics.js';

describe('cacheMetricsText', () => {
  it('writes every counter in Prometheus text format, in a fixed order', () => {
    const text = cacheMetricsText(
      { hits: 5, misses: 2, evictions: 1, bytesUsed: 4096, blocks: 2, upstreamBytes: 8192, upstreamRequests: 2, errors: 0, retries: 3, degraded: false },
      { requests: 4, bytes: 8192, retries: 3, errors: 0 },
    );
    expect(text).toContain('# TYPE isoproxy_cache_hits_total counter\nisoproxy_cache_hits_total 5\n');
    expect(text).toContain('isoproxy_cache_degraded 0\n');
    expect(text).toContain('isoproxy_upstream_retries_total 3\n');
    expect(text.indexOf('isoproxy_cache_hits_total')).toBeLessThan(text.indexOf('isoproxy_upstream_requests_total'));
    expect(text.endsWith('\n')).toBe(true);
  });
});
