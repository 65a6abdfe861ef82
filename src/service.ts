// The composition root of `isoproxy serve`: config -> upstream sources, block cache, bases,
// patch-set pool, images, node sources -> the serving core (src/serving) the HTTP layer serves
// from, and the metrics registry every component reports into.
//
// Routes name sources: `imageRoutes` maps a URL prefix to the node source it serves from
// (`/iso/<node>.iso` from the admin store). A new source is added to `sources` under its name and
// given a prefix here; nothing in the HTTP layer or the core changes.

import type { Logger } from 'pino';
import { normalizeEdits } from './bootconfig/index.js';
import { createBlockCache, type BlockCache } from './cache/block-cache.js';
import type { Config } from './config.js';
import { MetricsRegistry } from './metrics.js';
import type { NodeStore } from './registry/store.js';
import { createRemasterPool, type PatchSetShare, type RemasterPool } from './remaster/pool.js';
import { createBases, REVALIDATE_MS, type BaseListing, type Bases } from './serving/bases.js';
import { createImages } from './serving/images.js';
import { createNodeDiff, type NodeDiff } from './serving/node-diff.js';
import type { NodeSource } from './serving/node-source.js';
import { createServing, STORE_SOURCE, type Serving } from './serving/serving.js';
import { createIronicSource } from './ironic/source.js';
import { createUpstreamAgent } from './upstream/http-source.js';
import { checkUpstreamAllowed, openUpstream, type UpstreamConfig } from './upstream/open.js';
import { createUpstreamStats, type UpstreamSource, type UpstreamStats } from './upstream/types.js';

/** A patch-set thread exits after this long without a computation. */
const PATCH_THREAD_IDLE_MS = 10_000;

export { REVALIDATE_MS };

/** The source name (and log/status label) of Ironic's nodes. */
export const IRONIC_SOURCE = 'ironic';

/** A URL prefix whose `<prefix>/<node>.iso` is served from the named node source. */
export interface ImageRoute {
  readonly prefix: string;
  readonly source: string;
}

export interface Service {
  readonly serving: Serving;
  /** Which prefix serves which source; the first route of the store's source names its nodes' URLs. */
  readonly imageRoutes: readonly ImageRoute[];
  /** The process's one registry: the service's collectors are in it, the HTTP layer adds its own. */
  readonly metrics: MetricsRegistry;
  /** The remaster pool's counters (tests and benchmarks read them). */
  readonly pool: RemasterPool;
  readonly cache: BlockCache;
  /** The block cache's disk budget (the status page's cache bar). */
  readonly cacheBudgetBytes: number;
  /** The bases open or being indexed now, and those that failed to open lately, for the status page (read-only). */
  bases(): BaseListing[];
  /** A node's boot-config diff, as `isoproxy preview` prints it, for the status page's hover. */
  readonly nodeDiff: NodeDiff;
  close(): Promise<void>;
}

export interface ServiceOptions {
  /** Overrides for tests: the clock, and the revalidation interval. */
  readonly now?: () => number;
  readonly revalidateMs?: number;
  /** More node sources by name, each served under its route (the store is always there). */
  readonly sources?: ReadonlyMap<string, NodeSource>;
  readonly routes?: readonly ImageRoute[];
  /**
   * The block cache and the opener of base images, when another process owns them (a cluster
   * worker, src/cluster/worker.ts): default a disk cache in config.cacheDir and openUpstream.
   */
  readonly cache?: BlockCache;
  readonly openBase?: (url: string) => Promise<UpstreamSource>;
  /** Patch sets other processes computed (a cluster's primary hands them between workers). */
  readonly sharedPatchSets?: PatchSetShare;
}

function registerCollectors(metrics: MetricsRegistry, cache: BlockCache, upstream: UpstreamStats, pool: RemasterPool, bases: Bases): void {
  const c = (name: string, help: string, read: () => number): void => {
    metrics.collect(name, help, 'counter', read);
  };
  const g = (name: string, help: string, read: () => number): void => {
    metrics.collect(name, help, 'gauge', read);
  };
  c('isoproxy_cache_hits_total', 'Block cache hits.', () => cache.stats().hits);
  c('isoproxy_cache_misses_total', 'Block cache misses.', () => cache.stats().misses);
  c('isoproxy_cache_evictions_total', 'Blocks evicted from the cache.', () => cache.stats().evictions);
  g('isoproxy_cache_bytes_used', 'Bytes of block files on disk.', () => cache.stats().bytesUsed);
  g('isoproxy_cache_degraded', '1 while the cache serves without writing to disk.', () => (cache.stats().degraded ? 1 : 0));
  c('isoproxy_upstream_requests_total', 'Upstream HTTP requests.', () => upstream.requests);
  c('isoproxy_upstream_bytes_total', 'Bytes read from HTTP upstreams (file:// bases are not counted here).', () => upstream.bytes);
  c('isoproxy_upstream_errors_total', 'Failed upstream requests.', () => upstream.errors);
  c('isoproxy_upstream_retries_total', 'Upstream retries.', () => upstream.retries);
  c('isoproxy_patchset_computations_total', 'Patch sets computed in the worker pool.', () => pool.stats.computations);
  c('isoproxy_patchset_memo_hits_total', 'Patch sets served from the memo.', () => pool.stats.memoHits);
  c('isoproxy_patchset_shared_total', 'Requests that joined a computation in flight.', () => pool.stats.sharedInFlight);
  c('isoproxy_patchset_from_other_processes_total', 'Patch sets another process of a cluster computed.', () => pool.stats.fromOthers);
  g('isoproxy_bases_open', 'Base images open.', () => bases.size());
}

export async function createService(config: Config, store: NodeStore, logger: Logger, options: ServiceOptions = {}): Promise<Service> {
  const upstreamStats = createUpstreamStats();
  // Made at the first http(s) base: a cluster's worker opens bases through its primary and
  // never needs one (nor undici, which it would load).
  let agent: ReturnType<typeof createUpstreamAgent> | undefined;
  const upstreamConfig: UpstreamConfig = {
    allowedPrefixes: config.allowedUpstreams,
    allowedDirs: config.allowedDirs,
    http: {
      get dispatcher() {
        agent ??= createUpstreamAgent();
        return agent;
      },
      stats: upstreamStats,
      logger,
    },
  };
  // Enough open block files that random ranges over a 1 GiB base do not reopen them per request,
  // well inside a default soft limit of 1024 descriptors beside a few hundred BMC sockets.
  const maxOpenFiles = Math.min(512, Math.ceil(config.cacheBudgetBytes / config.blockSizeBytes));
  const cache =
    options.cache ??
    (await createBlockCache({
      dir: config.cacheDir,
      budgetBytes: config.cacheBudgetBytes,
      blockSize: config.blockSizeBytes,
      maxOpenFiles,
      logger,
      upstreamStats,
    }));
  const metrics = new MetricsRegistry();
  const latency = metrics.histogram(
    'isoproxy_patchset_compute_seconds',
    'Patch-set computations in the worker pool.',
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    ['outcome'],
  );
  const pool = createRemasterPool({
    workers: config.remasterThreads,
    // Threads start when a patch set is asked for and go when idle: a wave's transfers use
    // memoized patch sets, and an idle thread holds 20-30 MiB. The first computation after a
    // quiet spell waits for a thread to start (tens of milliseconds), once per new node.
    idleThreadsExitMs: PATCH_THREAD_IDLE_MS,
    onComputation: (s, ok) => latency.observe(s, { outcome: ok ? 'ok' : 'error' }),
    ...(options.sharedPatchSets ? { shared: options.sharedPatchSets } : {}),
  });
  const bases = createBases({
    open: options.openBase ?? ((url) => openUpstream(url, upstreamConfig)),
    cache,
    logger,
    ...(options.now ? { now: options.now } : {}),
    ...(options.revalidateMs !== undefined ? { revalidateMs: options.revalidateMs } : {}),
  });
  // One owner of per-base state: a version that goes takes its memoized patch sets and the cache's
  // per-version state with it; a replaced version's blocks will never be read again.
  bases.onForget((id, why) => {
    pool.forgetBase(id);
    cache.forgetSource(id, { dropBlocks: why === 'replaced' });
  });
  registerCollectors(metrics, cache, upstreamStats, pool, bases);

  const fileLimits = { maxFiles: config.maxFilesPerNode, maxTotalBytes: config.maxFileBytesPerNode };
  // Ironic's node data as a second source, under /ironic/: its bases pass the same allowlist.
  const sources = new Map(options.sources ?? []);
  const routes = [...(options.routes ?? [{ prefix: '/iso', source: STORE_SOURCE }])];
  if (config.ironic && !sources.has(IRONIC_SOURCE)) {
    const ironic = createIronicSource({ ...config.ironic, checkUpstreamAllowed: (url) => checkUpstreamAllowed(url, upstreamConfig) }, logger);
    // Ironic cannot announce changes (it has no notifications): its source caches for a TTL and
    // sees changes only when asked, so the serving core must ask it on every request rather than
    // keep specs until told (which is what offering onChange would promise).
    sources.set(IRONIC_SOURCE, { kind: ironic.kind, lookup: (name, signal) => ironic.lookup(name, signal), close: () => ironic.close() });
    if (!routes.some((r) => r.source === IRONIC_SOURCE)) routes.push({ prefix: '/ironic', source: IRONIC_SOURCE });
  }

  const serving = createServing({
    store,
    sources,
    images: createImages({ bases, pool, fileLimits }),
    policy: {
      checkUpstreamAllowed: (url) => checkUpstreamAllowed(url, upstreamConfig),
      validateEdits: (edits) => {
        normalizeEdits(edits, { fileLimits });
      },
    },
    ...(options.now ? { now: () => new Date(options.now!()) } : {}),
  });

  return {
    serving,
    imageRoutes: routes,
    metrics,
    pool,
    cache,
    cacheBudgetBytes: config.cacheBudgetBytes,
    bases: () => bases.list(),
    nodeDiff: createNodeDiff({ sources: serving.sources, bases, pool, fileLimits }),
    async close() {
      await serving.close();
      await bases.close();
      await pool.close();
      await cache.close();
      await agent?.close();
    },
  };
}
