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
import { reapplyHeapGrowth } from './heap-growth.js';
import { MetricsRegistry } from './metrics.js';
import type { NodeStore } from './registry/store.js';
import { createRemasterPool, PATCH_THREAD_IDLE_MS, type RemasterPool, type RemotePatchSets } from './remaster/pool.js';
import { collectCacheDisk, collectCacheReads, collectPatchSets, collectUpstream, patchSetLatency } from './service-metrics.js';
import { createBases, REVALIDATE_MS, type BaseListing } from './serving/bases.js';
import { createImages } from './serving/images.js';
import { createNodeDiff, type NodeDiff } from './serving/node-diff.js';
import type { NodeSource } from './serving/node-source.js';
import { createServing, STORE_SOURCE, type Serving } from './serving/serving.js';
import { createIronicSource } from './ironic/source.js';
import { createUpstreamAgent } from './upstream/http-source.js';
import { checkUpstreamAllowed, openUpstream, type UpstreamConfig } from './upstream/open.js';
import { createUpstreamStats, type UpstreamSource } from './upstream/types.js';
import { blockFilesKeptOpen } from './cache/open-files.js';

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
  /** Where patch sets are computed instead of this process's threads (a cluster's primary). */
  readonly remotePatchSets?: RemotePatchSets;
}

export async function createService(config: Config, store: NodeStore, logger: Logger, options: ServiceOptions = {}): Promise<Service> {
  const upstreamStats = createUpstreamStats();
  // A process that opens its bases itself makes it now, as a cluster's primary does: made at the
  // first http(s) base, loading undici took 45 ms of the first PUT on a new base (a fresh process's
  // CPU profile). A cluster's worker opens bases through its primary and never needs one (nor
  // undici, which it would load): made there at a first use, if any.
  let agent: ReturnType<typeof createUpstreamAgent> | undefined = options.openBase === undefined ? createUpstreamAgent() : undefined;
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
  const maxOpenFiles = blockFilesKeptOpen(config.cacheBudgetBytes, config.blockSizeBytes);
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
  const pool = createRemasterPool({
    workers: config.remasterThreads,
    // Threads start when a patch set is asked for and go when idle.
    idleThreadsExitMs: PATCH_THREAD_IDLE_MS,
    onComputation: patchSetLatency(metrics),
    onThreadRunning: reapplyHeapGrowth,
    ...(options.remotePatchSets ? { remote: options.remotePatchSets } : {}),
  });
  const bases = createBases({
    open: options.openBase ?? ((url) => openUpstream(url, upstreamConfig)),
    // Where patch sets are computed elsewhere, so are bases indexed.
    indexOnOpen: options.remotePatchSets === undefined,
    onIndexing: () => void pool.warmUp(),
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
  collectCacheReads(metrics, cache);
  collectCacheDisk(metrics, cache);
  collectUpstream(metrics, upstreamStats);
  collectPatchSets(metrics, pool);
  metrics.collect('isoproxy_bases_open', 'Base images open.', 'gauge', () => bases.size());

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
