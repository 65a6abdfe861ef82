// The primary of `isoproxy serve --workers N` (N > 1), one of the N serving processes. It accepts
// every connection and hands each in turn to a serving part (src/cluster/listener.ts): its own, or
// one of the N - 1 worker processes it forks (src/cluster/worker.ts). Its own part reaches the rest
// of this process over an in-process channel, as a worker does over IPC, so the two serve alike.
// It owns what must exist once:
// - the block cache: its directory, index, byte budget and every write and eviction, and every
//   upstream fetch, so a missing block is fetched once (the cache's single-flight) whatever the
//   number of processes; serving parts read block files directly, ask here only on a miss, and
//   report the blocks they read, which the LRU marks recently used;
// - the node store (one file, one writer): parts read and write it over their channels, and hear
//   of every change, so their in-memory specs stay current;
// - one log stream: workers' stdout and stderr are pipes read here line by line and written
//   whole, so lines of different processes never interleave mid-line;
// - /metrics: at scrape time every part's exposition and the cache's are summed;
// - lifecycle: a worker that dies is forked again (with a growing delay if it keeps dying), its
//   share of new connections going to the others meanwhile; SIGTERM or SIGINT stops accepting
//   and asks every part to drain (within --shutdown-deadline), then closes.
// One process fewer than a primary that only owns: at --workers 2 on a 2-core machine, two
// serving processes rather than three, each with its ~45 MiB of Node's binary and runtime.

import { requireSendfileAddon } from '../native/sendfile.js';
import cluster, { type Worker } from 'node:cluster';
import type { Config } from '../config.js';
import { createBlockCache } from '../cache/block-cache.js';
import { reapplyHeapGrowth } from '../heap-growth.js';
import { createLogger } from '../logger.js';
import { formatLogLine, resolveLogFormat } from '../log-pretty.js';
import { openNodeStore } from '../registry/open-store.js';
import { MetricsRegistry } from '../metrics.js';
import type { NodeSpec } from '../registry/store.js';
import type { CacheInfo } from '../status/types.js';
import { createUpstreamAgent } from '../upstream/http-source.js';
import type { UpstreamConfig } from '../upstream/open.js';
import { createUpstreamStats } from '../upstream/types.js';
import { type CacheReads, Channel, CLUSTER_URL_ENV, WORKER_ENV, type Port, type Request } from './ipc.js';
import { ClusterListener, handOverTo, watchHandovers, type WorkerHandover } from './listener.js';
import { localPorts } from './local-port.js';
import { startServingPart, type ServingPart } from './worker.js';
import type { Socket } from 'node:net';
import { sumExpositions } from './metrics-sum.js';
import { createPrimaryPatchSets } from './primary-patch-sets.js';
import { createPrimaryVersions, MAX_VERSIONS } from './primary-versions.js';
import { collectCacheDisk, collectPatchSets, collectUpstream, patchSetLatency } from '../service-metrics.js';
import { StatusHub } from './status-hub.js';
import { relayLines } from './log-relay.js';
import { workerEnv, workerExecArgv } from './worker-process.js';
import { blockFilesKeptOpen } from '../cache/open-files.js';

const RESTART_MIN_MS = 100;
const RESTART_MAX_MS = 10_000;
/** The status view's id of the primary's own serving part (forked workers count from 1). */
const OWN_PART_ID = 0;
/** A worker that lived this long before dying is restarted at once again. */
const STABLE_MS = 30_000;
/** How long a status snapshot waits for each part's cache reads. */
const READS_WAIT_MS = 1000;

/** The promise's value, or undefined when it fails or takes longer than `ms`. */
function withinMs<T>(ms: number, p: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, ms, undefined);
  });
  return Promise.race([p.catch(() => undefined), late]).finally(() => clearTimeout(timer));
}

export async function runPrimary(config: Config, _argv: readonly string[]): Promise<number> {
  // Workers would each refuse to start and be forked again: say it once, before any is.
  requireSendfileAddon(config.sendfile);
  const tty = resolveLogFormat(config.logFormat) === 'pretty';
  const prettyLine = (line: string): string => formatLogLine(line);
  // One writer to stdout in this process: the logger and the relayed lines share its queue.
  const logger = createLogger({
    level: config.logLevel,
    destination: {
      write: (s: string) => {
        process.stdout.write(tty ? prettyLine(s.trimEnd()) : s);
      },
    },
  }).child({ worker: 'primary' });
  // The one node store of all processes: the file store, or a shared one (--store redis://...).
  const store = await openNodeStore(config.store, { dataDir: config.dataDir, env: process.env, logger });
  const upstreamStats = createUpstreamStats();
  const agent = createUpstreamAgent();
  const upstreamConfig: UpstreamConfig = {
    allowedPrefixes: config.allowedUpstreams,
    allowedDirs: config.allowedDirs,
    http: { dispatcher: agent, stats: upstreamStats, logger },
  };
  const cache = await createBlockCache({
    dir: config.cacheDir,
    budgetBytes: config.cacheBudgetBytes,
    blockSize: config.blockSizeBytes,
    maxOpenFiles: blockFilesKeptOpen(config.cacheBudgetBytes, config.blockSizeBytes),
    logger,
    upstreamStats,
  });
  // What only the primary knows; workers report their reads, requests and transfers.
  const own = new MetricsRegistry();
  collectCacheDisk(own, cache);
  collectUpstream(own, upstreamStats);
  const workersUp = own.gauge('isoproxy_cluster_workers', 'Serving processes running.');
  const restarts = own.counter('isoproxy_cluster_worker_restarts_total', 'Serving processes forked again after they died.');

  const status = new StatusHub({
    store,
    logger,
    cache,
    cacheBudgetBytes: config.cacheBudgetBytes,
    ...(config.stallAfterMs !== undefined ? { stallAfterMs: config.stallAfterMs } : {}),
  });

  // ---- bases: opened here, one upstream per version, shared by every part's reads
  const patchSets = createPrimaryPatchSets({
    threads: config.remasterThreads,
    contextOf: (vk) => versions.contextOf(vk),
    onComputation: patchSetLatency(own),
    onThreadRunning: reapplyHeapGrowth,
  });
  collectPatchSets(own, patchSets.pool);
  const versions = createPrimaryVersions({
    cache,
    upstreamConfig,
    blockSize: config.blockSizeBytes,
    logger,
    onDrop: (vk) => patchSets.forget(vk),
  });
  const { openBase, blockBytes, ensureBlock, markRead } = versions;
  const prefetching = new Set<string>();
  const prefetch = (vk: string, indexes: readonly number[]): void => {
    for (const index of indexes.slice(0, 16)) {
      const key = `${vk}/${index}`;
      if (prefetching.has(key)) continue;
      prefetching.add(key);
      Promise.resolve()
        .then(() => ensureBlock(vk, index))
        .catch(() => {})
        .finally(() => prefetching.delete(key));
    }
  };

  // ---- serving parts: this process's own, and N - 1 forked workers; connections come from here
  const channels = new Map<number, Channel>();
  let shuttingDown = false;
  const renderAll = async (): Promise<string> => {
    const texts = await Promise.all([...channels.values()].map((c) => c.request<string>({ op: 'metrics' }).catch(() => '')));
    workersUp.set(channels.size);
    return sumExpositions([...texts, own.render()]);
  };
  /**
   * The status page's cache panel: the asking part's view of this cache, with the hits and misses
   * of every serving part summed, as /metrics sums them (each part counts its own reads).
   */
  const withEveryPartsReads = async (view: CacheInfo | undefined): Promise<CacheInfo | undefined> => {
    if (typeof view !== 'object' || view === null) return undefined;
    // A part whose loop is stuck must not stall every page: it counts for nothing this time.
    const reads = await Promise.all([...channels.values()].map((c) => withinMs(READS_WAIT_MS, c.request<CacheReads>({ op: 'cache.reads' }))));
    let hits = 0;
    let misses = 0;
    for (const r of reads) {
      hits += Number.isSafeInteger(r?.hits) ? r!.hits : 0;
      misses += Number.isSafeInteger(r?.misses) ? r!.misses : 0;
    }
    return { ...view, hits, misses };
  };
  const handle = async (req: Request): Promise<unknown> => {
    switch (req.op) {
      case 'open':
        return openBase(req.url);
      case 'block':
        return blockBytes(req.vk, req.index);
      case 'ensure':
        return ensureBlock(req.vk, req.index);
      case 'store.get':
        return store.get(req.name);
      case 'store.put':
        return store.put(req.spec as NodeSpec);
      case 'store.delete':
        return store.delete(req.name);
      case 'store.list':
        return store.list({ limit: req.limit, ...(req.after !== undefined ? { after: req.after } : {}) });
      case 'metrics':
        return renderAll();
      case 'checked':
        return cache.checkedIdentity?.(req.vk, req.index);
      case 'cache.sources':
        return {
          sources: Object.fromEntries(req.vks.slice(0, MAX_VERSIONS).map((vk) => [vk, cache.sourceStats(vk)])),
          cache: cache.stats(),
        };
      case 'patchset':
        return patchSets.patchSet(req.vk, req.edits, req.node);
      case 'status.snapshot':
        return status.snapshot(req.query, req.bases, await withEveryPartsReads(req.cache));
      case 'status.source':
        return status.sourceOf(req.name);
    }
  };
  store.watch?.((name) => {
    for (const c of channels.values()) c.notify(name !== undefined ? { op: 'changed', name } : { op: 'changed' });
  });
  /** The channel to a serving part: its requests, and its notices (`ready`: it takes connections). */
  const openChannel = (id: number, port: Port, ready: () => void): Channel => {
    const channel = new Channel(port, handle, (n) => {
      if (n.op === 'prefetch') prefetch(n.vk, n.indexes);
      else if (n.op === 'read') markRead(n.vk, n.indexes);
      else if (n.op === 'status') status.apply(id, n.batch);
      else if (n.op === 'ready' && !shuttingDown) ready();
    });
    channels.set(id, channel);
    return channel;
  };

  const listener = new ClusterListener();
  // This process's own part, over an in-process port: the same requests and copies as a worker's.
  const [ownerEnd, partEnd] = localPorts();
  let part: ServingPart;
  const takeHere = (socket: Socket): void => part.running.adopt(socket);
  const closeOwnChannel = (): void => {
    channels.get(OWN_PART_ID)?.close();
    ownerEnd.close();
  };
  let url: string;
  try {
    url = await listener.listen(config.port, config.host);
    openChannel(OWN_PART_ID, ownerEnd, () => listener.add(OWN_PART_ID, takeHere));
    part = await startServingPart(config, partEnd, { logger, url });
  } catch (err) {
    // The port is taken (or not ours to bind), or the part could not start: nothing was forked,
    // so this is the whole answer, and nothing may keep the process alive after it.
    listener.close();
    closeOwnChannel();
    status.close();
    await Promise.all([patchSets.close(), cache.close(), agent.close(), store.close()]);
    throw err;
  }
  const publicUrl = config.publicUrl.replace(/:0$/, `:${new URL(url).port}`);
  console.log(`isoproxy serving on ${url} with ${config.workers} serving processes (node URLs: ${publicUrl}/iso/<node>.iso)`);

  cluster.setupPrimary({ silent: true, serialization: 'advanced', execArgv: workerExecArgv(process.execArgv, process.env.NODE_OPTIONS) });
  const workers = new Map<number, Worker>();
  const handovers = new Map<number, WorkerHandover>();
  let restartDelay = RESTART_MIN_MS;
  const fork = (): void => {
    const worker = cluster.fork({ [WORKER_ENV]: '1', [CLUSTER_URL_ENV]: url, ...workerEnv(process.env) });
    const startedAt = Date.now();
    relayLines(worker.process.stdout, process.stdout, tty ? prettyLine : undefined);
    relayLines(worker.process.stderr, process.stderr);
    const handover = handOverTo(worker.process, takeHere);
    const channel = openChannel(worker.id, worker, () => listener.add(worker.id, handover.take));
    workers.set(worker.id, worker);
    handovers.set(worker.id, handover);
    logger.info({ pid: worker.process.pid, id: worker.id }, 'worker started');
    worker.on('exit', (code, signal) => {
      listener.remove(worker.id);
      channel.close();
      channels.delete(worker.id);
      workers.delete(worker.id);
      handovers.delete(worker.id);
      status.workerGone(worker.id);
      if (shuttingDown) return;
      restarts.inc();
      restartDelay = Date.now() - startedAt > STABLE_MS ? RESTART_MIN_MS : Math.min(RESTART_MAX_MS, restartDelay * 2);
      logger.warn({ pid: worker.process.pid, id: worker.id, code, signal, restartInMs: restartDelay }, 'worker died; starting another');
      setTimeout(() => {
        if (!shuttingDown) fork();
      }, restartDelay);
    });
  };
  // A hung worker (its loop blocked) would strand its share of every new connection: it is
  // killed, its connections go to the other parts, and it is forked again.
  const stopWatching = watchHandovers(handovers, (id, waitedMs) => {
    const worker = workers.get(id);
    if (!worker || shuttingDown) return;
    logger.error({ pid: worker.process.pid, id, waitedMs, untaken: handovers.get(id)?.pending }, 'worker answers no connection; killing it');
    listener.remove(id);
    worker.process.kill('SIGKILL');
  });
  for (let i = 1; i < config.workers; i++) fork();
  restartDelay = RESTART_MIN_MS;

  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      shuttingDown = true;
      logger.info({ signal, workers: channels.size }, 'shutting down');
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  // No new connections; every part drains its transfers (its own deadline), then stops; a stuck
  // worker is killed.
  listener.close();
  stopWatching();
  const exited = [...workers.values()].map(
    (w) =>
      new Promise<void>((resolve) => {
        if (w.isDead()) return resolve();
        w.once('exit', () => resolve());
        channels.get(w.id)?.notify({ op: 'shutdown' });
      }),
  );
  const timer = setTimeout(() => {
    for (const w of workers.values()) w.process.kill('SIGKILL');
  }, config.shutdownDeadlineMs + 5000);
  await Promise.all([...exited, part.stop()]);
  clearTimeout(timer);
  closeOwnChannel();
  status.close();
  versions.dropAll();
  await patchSets.close();
  await cache.close();
  await agent.close();
  await store.close();
  logger.info('stopped');
  return 0;
}
