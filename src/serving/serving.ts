// The serving core: node -> image, end to end. Requests come in as (source, node name); the core
// finds the node's spec in that source (nodes.ts), refuses unknown and expired nodes, and turns the
// spec into a virtual image (the injected ImageResolver: images.ts in production). The HTTP layer
// parses requests and maps what this returns, or throws, to responses; it never reads a store.
//
// Sources plug in by name: the composition root passes a map of NodeSource by name and says
// which one is the admin store's (its nodes are the ones the admin API puts and deletes).
// Transfers are observed through one hub (transfers.ts) that the log line, metrics and a status
// page all subscribe to.

import type { NodeStore } from '../registry/store.js';
import type { NodeSource } from './node-source.js';
import { createNodes, type NodePolicy, type Nodes } from './nodes.js';
import { STORE_SOURCE, storeSource } from './store-source.js';
import { createTransferHub, type TransferHub } from './transfers.js';
import type { ImageResolver, NodeImage, NodeRef } from './types.js';

export { STORE_SOURCE };

export interface ServingOptions {
  /** The store the admin API manages; served as the source named `storeSource`. */
  readonly store: NodeStore;
  /** Default "store". */
  readonly storeSource?: string;
  /** More node sources by name (Ironic, ...). */
  readonly sources?: ReadonlyMap<string, NodeSource>;
  readonly images: ImageResolver;
  readonly policy: NodePolicy;
  readonly now?: () => Date;
  /** How long the admin API waits for a node's image (its ETag) before answering without it. */
  readonly imageTimeoutMs?: number;
}

export interface Serving {
  /** The image to serve for `ref`. Throws NotFoundError, NodeExpiredError and the resolver's errors. */
  image(ref: NodeRef, signal?: AbortSignal): Promise<NodeImage>;
  /**
   * The image `image` would give, when it is at hand without waiting (the spec kept, the base open
   * and checked, the image built): what a BMC's next range of a node it reads needs. Else
   * undefined, and `image` decides, errors included. Optional (a test's core may leave it out).
   */
  imageNow?(ref: NodeRef): NodeImage | undefined;
  readonly nodes: Nodes;
  readonly transfers: TransferHub;
  /** The name of the admin store's source. */
  readonly storeSource: string;
  /** Every source by name. */
  readonly sources: ReadonlyMap<string, NodeSource>;
  /** Closes the sources other than the store (whose owner closes it). */
  close(): Promise<void>;
}

export function createServing(options: ServingOptions): Serving {
  const storeName = options.storeSource ?? STORE_SOURCE;
  const sources = new Map(options.sources ?? []);
  if (sources.has(storeName)) throw new Error(`node source ${storeName} is the store's name`);
  sources.set(storeName, storeSource(options.store, storeName));
  const nodes = createNodes({
    sources,
    store: options.store,
    storeSource: storeName,
    images: options.images,
    policy: options.policy,
    now: options.now ?? (() => new Date()),
    ...(options.imageTimeoutMs !== undefined ? { imageTimeoutMs: options.imageTimeoutMs } : {}),
  });
  return {
    async image(ref, signal) {
      const spec = await nodes.lookup(ref, signal);
      return options.images.image(ref, spec, signal);
    },
    imageNow(ref) {
      const spec = nodes.lookupNow(ref);
      return spec ? options.images.imageNow?.(ref, spec) : undefined;
    },
    nodes,
    transfers: createTransferHub(),
    storeSource: storeName,
    sources,
    async close() {
      for (const [name, s] of sources) if (name !== storeName) await s.close?.();
    },
  };
}
