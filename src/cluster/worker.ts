// A serving process of a cluster (`isoproxy serve --workers N`, N > 1): the whole HTTP service of
// src/http/server.ts over a cache, an upstream opener and a node store that the primary owns
// (src/cluster/primary.ts). Connections come from the primary (Node's cluster module). Patch sets
// are computed here, deterministically from (base version, edits), once for the cluster: another
// worker's are handed over by the primary (src/cluster/patch-sets.ts), so every worker answers a
// node with the same bytes and the same ETag. Logs are JSON lines on stdout, which the primary relays
// whole. Its transfers go to the primary's status view, which its page asks for snapshots
// (src/cluster/status-hub.ts). SIGTERM, SIGINT, a `shutdown` notice or the primary going away drain
// and exit.

import cluster from 'node:cluster';
import type { Config } from '../config.js';
import { createLogger } from '../logger.js';
import { ChangeListeners, type NodeChangeListener, type NodeSpec, type NodeStore } from '../registry/store.js';
import { createService } from '../service.js';
import { startServer } from '../http/server.js';
import type { SnapshotQuery, StatusSnapshot } from '../status/types.js';
import type { UpstreamSource } from '../upstream/types.js';
import { Channel, type Notice, type WireVersion } from './ipc.js';
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

export async function runWorker(config: Config): Promise<number> {
  const id = cluster.worker?.id ?? 0;
  const logger = createLogger({ level: config.logLevel, format: 'json' }).child({ worker: id });
  let store: RemoteNodeStore | undefined;
  let stop: () => void = () => {};
  let renderOwn: () => string = () => '';
  const channel = new Channel(
    process as unknown as ConstructorParameters<typeof Channel>[0],
    async (req) => {
      if (req.op === 'metrics') return renderOwn();
      throw new Error(`a worker does not answer ${req.op}`);
    },
    (n: Notice) => {
      if (n.op === 'changed') store?.changed(n.name);
      else if (n.op === 'shutdown') stop();
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
  const running = await startServer(config, {
    store,
    service,
    logger,
    renderMetrics: () => channel.request<string>({ op: 'metrics' }),
    remoteStatus: {
      relay: (batch) => channel.notify({ op: 'status', batch }),
      snapshot: (query: SnapshotQuery, bases, cache) =>
        channel.request<StatusSnapshot>({ op: 'status.snapshot', query, bases, ...(cache ? { cache } : {}) }),
      sourceOf: (name) => channel.request<string | undefined>({ op: 'status.source', name }),
    },
  });
  channel.notify({ op: 'listening', url: running.url });

  await new Promise<void>((resolve) => {
    let stopping = false;
    stop = () => {
      if (stopping) return;
      stopping = true;
      void running.close().then(resolve, resolve);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    // The primary is gone (killed): no new connections, no block fetches, no store. Draining
    // would only fail; a new primary may already be listening. Leave now.
    process.on('disconnect', () => {
      if (stopping) return;
      logger.warn('primary went away; exiting');
      running.server.closeAllConnections();
      logger.flush?.();
      setTimeout(() => process.exit(1), 50);
    });
  });
  await service.close().catch(() => {});
  channel.close();
  logger.flush?.();
  if (process.connected) process.disconnect();
  // Whatever still holds the loop (a stuck socket) must not keep a drained worker alive.
  setTimeout(() => process.exit(0), 2000).unref();
  return 0;
}
