// The collectors of the service's components, defined once: a single process registers them all
// (src/service.ts); a cluster's primary registers those of what it owns (the cache's disk, the
// upstream fetches, the patch-set pool) and sums them with its workers' (src/cluster/primary.ts).

import type { BlockCache } from './cache/block-cache.js';
import type { MetricsRegistry } from './metrics.js';
import type { RemasterPool } from './remaster/pool.js';
import type { UpstreamStats } from './upstream/types.js';

type Read = () => number;

function counter(metrics: MetricsRegistry, name: string, help: string, read: Read): void {
  metrics.collect(name, help, 'counter', read);
}

function gauge(metrics: MetricsRegistry, name: string, help: string, read: Read): void {
  metrics.collect(name, help, 'gauge', read);
}

/** What the owner of the cache directory knows: its evictions, bytes and state. */
export function collectCacheDisk(metrics: MetricsRegistry, cache: BlockCache): void {
  counter(metrics, 'isoproxy_cache_evictions_total', 'Blocks evicted from the cache.', () => cache.stats().evictions);
  gauge(metrics, 'isoproxy_cache_bytes_used', 'Bytes of block files on disk.', () => cache.stats().bytesUsed);
  gauge(metrics, 'isoproxy_cache_degraded', '1 while the cache serves without writing to disk.', () => (cache.stats().degraded ? 1 : 0));
}

/** Hits and misses of the reads a serving process makes. */
export function collectCacheReads(metrics: MetricsRegistry, cache: BlockCache): void {
  counter(metrics, 'isoproxy_cache_hits_total', 'Block cache hits.', () => cache.stats().hits);
  counter(metrics, 'isoproxy_cache_misses_total', 'Block cache misses.', () => cache.stats().misses);
}

export function collectUpstream(metrics: MetricsRegistry, upstream: UpstreamStats): void {
  counter(metrics, 'isoproxy_upstream_requests_total', 'Upstream HTTP requests.', () => upstream.requests);
  counter(metrics, 'isoproxy_upstream_bytes_total', 'Bytes read from HTTP upstreams (file:// bases are not counted here).', () => upstream.bytes);
  counter(metrics, 'isoproxy_upstream_errors_total', 'Failed upstream requests.', () => upstream.errors);
  counter(metrics, 'isoproxy_upstream_retries_total', 'Upstream retries.', () => upstream.retries);
}

export function collectPatchSets(metrics: MetricsRegistry, pool: RemasterPool): void {
  counter(metrics, 'isoproxy_patchset_computations_total', 'Patch sets computed in the worker pool.', () => pool.stats.computations);
  counter(metrics, 'isoproxy_patchset_memo_hits_total', 'Patch sets served from the memo.', () => pool.stats.memoHits);
  counter(metrics, 'isoproxy_patchset_shared_total', 'Requests that joined a computation in flight.', () => pool.stats.sharedInFlight);
  counter(
    metrics,
    'isoproxy_patchset_from_other_processes_total',
    "Patch sets a cluster's primary computed for this worker.",
    () => pool.stats.fromOthers,
  );
}

/** The histogram of patch-set computations; the returned function is the pool's `onComputation`. */
export function patchSetLatency(metrics: MetricsRegistry): (seconds: number, ok: boolean) => void {
  const latency = metrics.histogram(
    'isoproxy_patchset_compute_seconds',
    'Patch-set computations in the worker pool.',
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    ['outcome'],
  );
  return (s, ok) => latency.observe(s, { outcome: ok ? 'ok' : 'error' });
}
