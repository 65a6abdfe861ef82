// A serving part of a cluster (`isoproxy serve --workers N`, N > 1): the whole HTTP service of
// src/http/server.ts over a block cache, an upstream opener, a node store and patch sets that the
// primary owns (src/cluster/primary.ts), reached over a channel. The primary runs one part itself
// (over src/cluster/local-port.ts) and forks N - 1 processes that run one each over IPC
// (`runWorker`). No part listens: the primary accepts every connection and hands it to a part in
// turn (src/cluster/listener.ts), to a forked one with the socket's descriptor over IPC. Patch sets
// are computed once for the cluster, in the primary, so every part answers a node with the same
// bytes and the same ETag. A worker's logs are JSON lines on stdout, which the primary relays
// whole. Transfers go to the primary's status view, which the page asks for snapshots
// (src/cluster/status-hub.ts). SIGTERM, SIGINT, a `shutdown` notice or the primary going away
// drain and exit.

import cluster from 'node:cluster';
import type { Config } from '../config.js';
import { createLogger } from '../logger.js';
import { ChangeListeners, type NodeChangeListener, type NodeSpec, type NodeStore } from '../registry/store.js';
import { createService } from '../service.js';
import { startServer, type RunningServer } from '../http/server.js';
import { Socket } from 'node:net';
import type { Logger } from '../logger.js';
import type { SnapshotQuery, StatusSnapshot } from '../status/types.js';
import type { UpstreamSource } from '../upstream/types.js';
import { type CacheReads, Channel, CLUSTER_URL_ENV, isConnectionMessage, type Notice, type Port, type TookMessage, type WireVersion } from './ipc.js';
import { RemoteBlockCache } from './remote-cache.js';
import { blockFilesKeptOpen } from '../cache/open-files.js';

/** The node store of the primary: reads and writes over IPC, changes announced by the primary. */
export class RemoteNodeStore implements NodeStore {
  readonly #changes = new ChangeListeners();
  constructor(private readonly channel: Channel) {}
  get(name: string): Promise<NodeSpec | undefined> {
    return this.channel.request<NodeSpec | undefined>({ op: 'store.get', name });
  }
  put(spec: NodeSpec): Promise<void> {
    return this.channel.request<void>({ op: 'store.put', spec });
  }
  delete(name: string): Promise<boolean> {
    return this.channel.request<boolean>({ op: 'store.delete', name });
  }
  list(options: { after?: string; limit: number }): Promise<{ nodes: NodeSpec[]; next?: string }> {
    return this.channel.request({ op: 'store.list', limit: options.limit, ...(options.after !== undefined ? { after: options.after } : {}) });
  }
  watch(listener: NodeChangeListener): () => void {
    return this.#changes.add(listener);
  }
  /** A change the primary announced (made by any worker). */
  changed(name?: string): void {
    this.#changes.emit(name);
  }
  async close(): Promise<void> {}
}

/** A base as the primary opened it: its version; its bytes come through the cache only. */
function remoteUpstream(v: WireVersion): UpstreamSource {
  const refuse = (): never => {
    throw new Error("a cluster worker reads base images through the primary's cache");
  };
  return {
    size: v.size,
    version: {
      url: v.url,
      size: v.size,
      ...(v.etag !== undefined ? { etag: v.etag } : {}),
      ...(v.lastModified !== undefined ? { lastModified: v.lastModified } : {}),
    },
    supportsRanges: v.supportsRanges,
    read: async () => refuse(),
    stream: () => refuse(),
    close: async () => {},
  };
}

/** A serving part of the cluster, running. */
export interface ServingPart {
  readonly running: RunningServer;
  /** Drains its transfers (within --shutdown-deadline) and closes; settles when it has. */
  stop(): Promise<void>;
  /** Settles once it has stopped, for whatever reason (a `shutdown` notice, `stop`). */
  readonly stopped: Promise<void>;
  /** Whether it has begun to stop. */
  readonly stopping: boolean;
}

/**
 * The HTTP service of a cluster process over a channel port to the owning part: a forked worker's
 * (`process`), or the primary's own serving part (src/cluster/local-port.ts). It binds no socket:
 * the primary's listener hands it connections (`running.adopt`).
 */
export async function startServingPart(config: Config, port: Port, options: { readonly logger: Logger; readonly url: string }): Promise<ServingPart> {
  const { logger } = options;
  let store: RemoteNodeStore | undefined;
  let renderOwn: () => string = () => '';
  let ownReads = (): CacheReads => ({ hits: 0, misses: 0 });
  // A `shutdown` notice may come while the part is still starting: it stops once started.
  let stop: (() => Promise<void>) | undefined;
  let shutdownAsked = false;
  const channel = new Channel(
    port,
    async (req) => {
      if (req.op === 'metrics') return renderOwn();
      if (req.op === 'cache.reads') return ownReads();
      throw new Error(`a worker does not answer ${req.op}`);
    },
    (n: Notice) => {
      if (n.op === 'changed') store?.changed(n.name);
      else if (n.op === 'shutdown') {
        shutdownAsked = true;
        void stop?.();
      }
    },
  );
  store = new RemoteNodeStore(channel);
  const cache = new RemoteBlockCache({
    dir: config.cacheDir,
    blockSize: config.blockSizeBytes,
    fetchBlock: (vk, index) => channel.request<Uint8Array>({ op: 'block', vk, index }),
    ensureBlock: (vk, index) => channel.request({ op: 'ensure', vk, index }),
    prefetch: (vk, indexes) => channel.notify({ op: 'prefetch', vk, indexes }),
    reportReads: (vk, indexes) => channel.notify({ op: 'read', vk, indexes }),
    checkedIdentity: (vk, index) => channel.request<string | undefined>({ op: 'checked', vk, index }),
    sourceStats: (vks) => channel.request({ op: 'cache.sources', vks }),
    maxOpenFiles: blockFilesKeptOpen(config.cacheBudgetBytes, config.blockSizeBytes),
  });
  const service = await createService(config, store, logger, {
    cache,
    openBase: async (url) => remoteUpstream(await channel.request<WireVersion>({ op: 'open', url })),
    remotePatchSets: (vk, edits, node) => channel.request({ op: 'patchset', vk, edits, ...(node !== undefined ? { node } : {}) }),
  });
  renderOwn = () => service.metrics.render();
  ownReads = () => {
    const { hits, misses } = cache.stats();
    return { hits, misses };
  };
  const running = await startServer(config, {
    store,
    service,
    logger,
    handed: { url: options.url },
    renderMetrics: () => channel.request<string>({ op: 'metrics' }),
    remoteStatus: {
      relay: (batch) => channel.notify({ op: 'status', batch }),
      snapshot: (query: SnapshotQuery, bases, cache) =>
        channel.request<StatusSnapshot>({ op: 'status.snapshot', query, bases, ...(cache ? { cache } : {}) }),
      sourceOf: (name) => channel.request<string | undefined>({ op: 'status.source', name }),
    },
  });
  let markStopped: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    markStopped = resolve;
  });
  let stopping: Promise<void> | undefined;
  stop = () => {
    stopping ??= (async () => {
      await running.close().catch(() => {});
      await service.close().catch(() => {});
      channel.close();
    })().finally(markStopped);
    return stopping;
  };
  if (shutdownAsked) void stop();
  else channel.notify({ op: 'ready' });
  return {
    running,
    stop: () => stop!(),
    stopped,
    get stopping() {
      return stopping !== undefined;
    },
  };
}

/** A forked serving process: its part over IPC, with the connections the primary sends it. */
export async function runWorker(config: Config): Promise<number> {
  const id = cluster.worker?.id ?? 0;
  const logger = createLogger({ level: config.logLevel, format: 'json' }).child({ worker: id });
  const url = process.env[CLUSTER_URL_ENV];
  if (url === undefined) throw new Error(`a cluster worker needs ${CLUSTER_URL_ENV} (set by its primary)`);
  const port = process as unknown as Port;
  const part = await startServingPart(config, port, { logger, url });
  // In time for the first connection: the primary sends none before the part's `ready`
  // notice, which cannot arrive before this turn ends.
  process.on('message', (m: unknown, handle: unknown) => {
    if (!isConnectionMessage(m)) return;
    const socket = handle instanceof Socket ? handle : undefined;
    // Until the primary is sure to read this answer, the connection is the primary's to give to
    // another part should this process die: it is served here once the answer is written to the
    // channel (the callback), not when it is queued. A part that is stopping (this process was
    // sent SIGTERM alone) gives it back: the primary hands it to another part instead of the
    // client meeting a closed connection. A socket given back is closed here at once, in this
    // turn: Node has already asked to read it, and a request read here would be lost to the
    // primary. (This closes this process's descriptor only; the primary keeps its own.)
    const serve = socket !== undefined && !part.stopping;
    if (!serve) socket?.destroy();
    const answer: TookMessage = { isoproxy: 'took', id: m.id, ok: serve };
    port.send(answer, undefined, undefined, (err: Error | null) => {
      if (!serve) return;
      // A closed channel: the primary is gone ('disconnect' below), and the connection with it.
      if (err) socket.destroy();
      else part.running.adopt(socket);
    });
  });
  const stop = (): void => void part.stop();
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // The primary is gone (killed): no new connections, no block fetches, no store. Draining
  // would only fail; a new primary may already be listening. Leave now.
  process.on('disconnect', () => {
    if (part.stopping) return;
    logger.warn('primary went away; exiting');
    part.running.server.closeAllConnections();
    part.running.direct?.closeAll();
    logger.flush?.();
    setTimeout(() => process.exit(1), 50);
  });
  await part.stopped;
  logger.flush?.();
  if (process.connected) process.disconnect();
  // Whatever still holds the loop (a stuck socket) must not keep a drained worker alive.
  setTimeout(() => process.exit(0), 2000).unref();
  return 0;
}
