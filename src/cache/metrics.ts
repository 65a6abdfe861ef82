// Prometheus text exposition (version 0.0.4) of the block cache's and the upstreams' counters, for
// the composition root to append to /metrics. Names follow Prometheus conventions: counters end
// in _total, sizes in _bytes. Output order is fixed.

import type { UpstreamStats } from '../upstream/types.js';
import type { CacheStats } from './block-cache.js';

interface Metric {
  readonly name: string;
  readonly type: 'counter' | 'gauge';
  readonly help: string;
  readonly value: number;
}

export function cacheMetricsText(cache: CacheStats, upstream?: UpstreamStats): string {
  const metrics: Metric[] = [
    { name: 'isoproxy_cache_hits_total', type: 'counter', help: 'Block reads served from the disk cache.', value: cache.hits },
    { name: 'isoproxy_cache_misses_total', type: 'counter', help: 'Block reads that needed upstream bytes.', value: cache.misses },
    { name: 'isoproxy_cache_evictions_total', type: 'counter', help: 'Blocks evicted to stay within the budget.', value: cache.evictions },
    { name: 'isoproxy_cache_bytes_used', type: 'gauge', help: 'Bytes of block files on disk.', value: cache.bytesUsed },
    { name: 'isoproxy_cache_blocks', type: 'gauge', help: 'Block files on disk.', value: cache.blocks },
    { name: 'isoproxy_cache_degraded', type: 'gauge', help: '1 while misses are served without writing to disk.', value: cache.degraded ? 1 : 0 },
    { name: 'isoproxy_cache_errors_total', type: 'counter', help: 'Failed block fetches, disk errors and corrupt blocks.', value: cache.errors },
    { name: 'isoproxy_cache_upstream_bytes_total', type: 'counter', help: 'Bytes the cache fetched from upstream.', value: cache.upstreamBytes },
    { name: 'isoproxy_cache_upstream_fetches_total', type: 'counter', help: 'Upstream fetches started by the cache.', value: cache.upstreamRequests },
  ];
  if (upstream) {
    metrics.push(
      { name: 'isoproxy_upstream_requests_total', type: 'counter', help: 'HTTP requests sent upstream (probes, ranges, redirects).', value: upstream.requests },
      { name: 'isoproxy_upstream_bytes_total', type: 'counter', help: 'Body bytes received from upstream.', value: upstream.bytes },
      { name: 'isoproxy_upstream_retries_total', type: 'counter', help: 'Upstream requests retried after resets, timeouts or 5xx.', value: upstream.retries },
      { name: 'isoproxy_upstream_errors_total', type: 'counter', help: 'Upstream reads that failed after retries.', value: upstream.errors },
    );
  }
  return metrics.map((m) => `# HELP ${m.name} ${m.help}\n# TYPE ${m.name} ${m.type}\n${m.name} ${m.value}\n`).join('');
}
