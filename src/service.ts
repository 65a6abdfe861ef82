// The composition root of `isoproxy serve`: config -> upstream sources, block cache, base index,
// patch-set pool, node store -> the ImageResolver the HTTP layer serves from.
//
// One base image (URL) is opened, indexed and prepared once and shared by every node naming it.
// Its version (size + ETag/Last-Modified) is revalidated at most every REVALIDATE_MS; a new
// version is a new base: re-indexed, its patch sets recomputed, its blocks cached apart. A
// response in flight on the old version keeps reading old blocks or fails with BaseChangedError
// (from the upstream) — never a mix of two versions under one ETag.

import type { Logger } from 'pino';
import { createBlockCache, type BlockCache, type CachedSource, type StreamStats } from './cache/block-cache.js';
import type { Config } from './config.js';
import { normalizeEdits } from './bootconfig/index.js';
import { NotFoundError, UpstreamError } from './errors.js';
import type { ImageResolver, NodeImage } from './http/types.js';
import { buildIndex } from './iso9660/index.js';
import { MetricsRegistry } from './metrics.js';
import { streamVirtual } from './overlay/virtual-image.js';
import { prepareBase, type BaseContext } from './remaster/base-context.js';
import { createRemasterPool, type RemasterPool } from './remaster/pool.js';
import type { NodeSpec, NodeStore } from './registry/store.js';
import { LRUCache } from 'lru-cache';
import { createUpstreamAgent } from './upstream/http-source.js';
import { checkUpstreamAllowed, openUpstream, type UpstreamConfig } from './upstream/open.js';
import { createUpstreamStats, type UpstreamSource } from './upstream/types.js';
import { sameValidator, versionKey } from './upstream/validator.js';

/** How long a base's validator is trusted before the next request checks it again. */
export const REVALIDATE_MS = 10_000;
/** Bases kept open at once (each holds an index and a few MiB of boot data). */
const MAX_BASES = 64;

export interface ServiceStats {
  /** Prometheus text lines contributed by the cache, upstream and remaster pool. */
  metricsText(): string;
}

export interface Service {
  readonly resolver: ImageResolver;
  readonly stats: ServiceStats;
  /** Validates a node's boot ISO URL against the allowlist; throws an IsoproxyError with a clear message. */
  checkUpstreamAllowed(url: string): void;
  /** Validates edits; throws EditValidationError. */
  validateEdits(edits: unknown): void;
  /** The remaster pool's counters (tests and benchmarks read them). */
  readonly pool: RemasterPool;
  readonly cache: BlockCache;
  close(): Promise<void>;
}

interface OpenBase {
  readonly id: string;
  readonly upstream: UpstreamSource;
  readonly cached: CachedSource;
  readonly ctx: BaseContext;
  readonly lastModified: number;
}

interface BaseEntry {
  current: Promise<OpenBase>;
  checkedAt: number;
  revalidating?: Promise<OpenBase>;
}

export interface ServiceOptions {
  /** Overrides for tests: the clock, and the revalidation interval. */
  readonly now?: () => number;
  readonly revalidateMs?: number;
}

export async function createService(config: Config, store: NodeStore, logger: Logger, options: ServiceOptions = {}): Promise<Service> {
  const now = options.now ?? Date.now;
  const revalidateMs = options.revalidateMs ?? REVALIDATE_MS;
  const upstreamStats = createUpstreamStats();
  const agent = createUpstreamAgent();
  const upstreamConfig: UpstreamConfig = {
    allowedPrefixes: config.allowedUpstreams,
    allowedDirs: config.allowedDirs,
    http: { dispatcher: agent, stats: upstreamStats, logger },
  };
  // Enough open block files that random ranges over a 1 GiB base do not reopen them per request,
  // well inside a default soft limit of 1024 descriptors beside a few hundred BMC sockets.
  const maxOpenFiles = Math.min(512, Math.ceil(config.cacheBudgetBytes / config.blockSizeBytes));
  const cache = await createBlockCache({ dir: config.cacheDir, budgetBytes: config.cacheBudgetBytes, blockSize: config.blockSizeBytes, maxOpenFiles, logger, upstreamStats });
  const metrics = new MetricsRegistry();
  const latency = metrics.histogram('isoproxy_patchset_compute_seconds', 'Patch-set computations in the worker pool.', [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], ['outcome']);
  const pool = createRemasterPool({ workers: config.workers, onComputation: (s, ok) => latency.observe(s, { outcome: ok ? 'ok' : 'error' }) });
  const bases = new Map<string, BaseEntry>();

  async function openBase(url: string): Promise<OpenBase> {
    const upstream = await openUpstream(url, upstreamConfig);
    try {
      // Without a validator two versions of the same size look alike: a response or a cached
      // block could mix them. Refuse rather than risk it (every common server sends one).
      if (upstream.version.etag === undefined && upstream.version.lastModified === undefined) {
        throw new UpstreamError('UPSTREAM_NO_VALIDATOR', url, 'sends neither ETag nor Last-Modified, so isoproxy cannot tell its versions apart; serve it with either header', 502);
      }
      const cached = cache.source(upstream);
      const started = performance.now();
      const index = await buildIndex(cached);
      const ctx = await prepareBase(index, cached);
      const id = versionKey(upstream.version);
      const lm = upstream.version.lastModified ? Date.parse(upstream.version.lastModified) : NaN;
      logger.info({ base: url, version: id, size: upstream.size, files: index.files.length, metadataBytes: index.bytesRead, ms: Math.round(performance.now() - started), fats: ctx.fats.length, warnings: ctx.warnings.length }, 'base indexed');
      return { id, upstream, cached, ctx, lastModified: Number.isNaN(lm) ? 0 : lm };
    } catch (err) {
      await upstream.close().catch(() => {});
      throw err;
    }
  }

  /** The current version of a base: opened once, revalidated at most every revalidateMs. */
  async function base(url: string): Promise<OpenBase> {
    let entry = bases.get(url);
    if (!entry) {
      if (bases.size >= MAX_BASES) evictOldestBase();
      const current = openBase(url);
      entry = { current, checkedAt: now() };
      bases.set(url, entry);
      current.catch(() => { if (bases.get(url)?.current === current) bases.delete(url); });
      return current;
    }
    const open = await entry.current;
    if (now() - entry.checkedAt < revalidateMs) return open;
    entry.revalidating ??= revalidate(url, entry, open).finally(() => { entry!.revalidating = undefined; });
    return entry.revalidating;
  }

  async function revalidate(url: string, entry: BaseEntry, open: OpenBase): Promise<OpenBase> {
    const probe = await openUpstream(url, upstreamConfig);
    entry.checkedAt = now();
    if (sameValidator(probe.version, open.upstream.version)) {
      await probe.close();
      return open;
    }
    await probe.close();
    logger.warn({ base: url, old: open.id, size: probe.version.size }, 'base image changed upstream; re-indexing');
    pool.forgetBase(open.id);
    // Streams still reading the old version fail cleanly on their next upstream fetch.
    void open.upstream.close().catch(() => {});
    const next = openBase(url);
    entry.current = next;
    // A new version that cannot be opened (not an ISO, gone) must not stick: the next request
    // opens the base afresh instead of failing forever on this rejected promise.
    next.catch(() => { if (bases.get(url) === entry && entry.current === next) bases.delete(url); });
    return next;
  }

  function evictOldestBase(): void {
    const [oldestUrl, oldest] = [...bases.entries()].sort((a, b) => a[1].checkedAt - b[1].checkedAt)[0]!;
    bases.delete(oldestUrl);
    void oldest.current.then((b) => { pool.forgetBase(b.id); return b.upstream.close(); }).catch(() => {});
  }

  /**
   * The last image resolved per node, reused while the node's spec and its base version are the
   * same: a BMC reads an image in thousands of small ranges, and each would otherwise validate the
   * edits and hash them again.
   */
  const resolved = new LRUCache<string, { spec: NodeSpec; base: OpenBase; image: NodeImage }>({ max: 10_000 });

  const resolver: ImageResolver = {
    async image(node: string): Promise<NodeImage> {
      const spec = await store.get(node);
      if (!spec) throw new NotFoundError(`unknown node ${JSON.stringify(node)}`);
      const b = await base(spec.bootIso);
      const hit = resolved.get(node);
      if (hit && hit.spec === spec && hit.base === b) return hit.image;
      const image = await resolve(node, spec, b);
      resolved.set(node, { spec, base: b, image });
      return image;
    },
    forget(node: string) {
      // Drops the node's resolved image. Patch sets stay memoized by (base, edits): they age out
      // of the pool's LRU, and a node that comes back with the same edits reuses its own.
      resolved.delete(node);
    },
  };

  async function resolve(node: string, spec: NodeSpec, b: OpenBase): Promise<NodeImage> {
    const edits = normalizeEdits(spec.edits);
    const { patchSet } = await pool.patchSet(b.id, b.ctx, edits, node);
    const updated = Date.parse(spec.updatedAt);
    const lastModified = new Date(Math.floor(Math.max(b.lastModified, Number.isNaN(updated) ? 0 : updated) / 1000) * 1000);
    return {
      node,
      size: patchSet.size,
      etag: `"${b.id.slice(0, 16)}-${patchSet.digest.slice(0, 32)}"`,
      lastModified,
      read: (start, end, signal) => {
        // Per-transfer cache figures for the transfer's log line.
        const stats: StreamStats = { hits: 0, misses: 0, upstreamBytes: 0 };
        const chunks = streamVirtual(patchSet, (offset, length, s) => b.cached.stream(offset, length, s, stats), start, end, signal);
        return {
          [Symbol.asyncIterator]: () => chunks,
          stats: () => ({ cacheHits: stats.hits, cacheMisses: stats.misses, upstreamBytes: stats.upstreamBytes }),
        };
      },
    };
  }

  function counterLines(name: string, help: string, value: number, type = 'counter'): string {
    return `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${value}\n`;
  }

  return {
    resolver,
    pool,
    cache,
    checkUpstreamAllowed: (url) => checkUpstreamAllowed(url, upstreamConfig),
    validateEdits: (edits) => { normalizeEdits(edits as Parameters<typeof normalizeEdits>[0]); },
    stats: {
      metricsText() {
        const c = cache.stats();
        const p = pool.stats;
        return [
          counterLines('isoproxy_cache_hits_total', 'Block cache hits.', c.hits),
          counterLines('isoproxy_cache_misses_total', 'Block cache misses.', c.misses),
          counterLines('isoproxy_cache_evictions_total', 'Blocks evicted from the cache.', c.evictions),
          counterLines('isoproxy_cache_bytes_used', 'Bytes of block files on disk.', c.bytesUsed, 'gauge'),
          counterLines('isoproxy_cache_degraded', '1 while the cache serves without writing to disk.', c.degraded ? 1 : 0, 'gauge'),
          counterLines('isoproxy_upstream_requests_total', 'Upstream HTTP requests.', upstreamStats.requests),
          counterLines('isoproxy_upstream_bytes_total', 'Bytes read from upstream.', upstreamStats.bytes),
          counterLines('isoproxy_upstream_errors_total', 'Failed upstream requests.', upstreamStats.errors),
          counterLines('isoproxy_upstream_retries_total', 'Upstream retries.', upstreamStats.retries),
          counterLines('isoproxy_patchset_computations_total', 'Patch sets computed in the worker pool.', p.computations),
          counterLines('isoproxy_patchset_memo_hits_total', 'Patch sets served from the memo.', p.memoHits),
          counterLines('isoproxy_patchset_shared_total', 'Requests that joined a computation in flight.', p.sharedInFlight),
          counterLines('isoproxy_bases_open', 'Base images open.', bases.size, 'gauge'),
          metrics.render(),
        ].join('');
      },
    },
    async close() {
      const open = await Promise.allSettled([...bases.values()].map((e) => e.current));
      bases.clear();
      for (const o of open) if (o.status === 'fulfilled') await o.value.upstream.close().catch(() => {});
      await pool.close();
      await cache.close();
      await agent.close();
    },
  };
}
