// A fake ImageResolver over in-memory images for the HTTP tests: deterministic pseudo-random
// bytes, chunked reads that honour the abort signal, counters for started/finished iterations (to
// assert a client abort ran the iterator's finally), and failure injection mid-stream. It stands
// where src/serving/images.ts does (spec -> image); node lookup, expiry and invalidation are the
// real serving core's. `fakeSource` serves the nodes added here as if they were stored.

import { NotFoundError } from '../../src/errors.js';
import type { NodeSpec, NodeStore } from '../../src/registry/store.js';
import type { NodeSource } from '../../src/serving/node-source.js';
import type { ImageResolver, NodeImage, NodeRef } from '../../src/serving/types.js';
import { patternBytes } from '../upstream/fixture-server.js';

/** Deterministic pseudo-random bytes from a seed: the same image every run. */
export function pseudoRandomBytes(size: number, seed = 0x9e3779b9): Uint8Array {
  return patternBytes(size, seed);
}

export interface FakeNodeOptions {
  /** The image bytes; or `size` for a generated image whose byte i is i & 0xff. */
  readonly data?: Uint8Array;
  readonly size?: number;
  /** Throw after this many bytes have been yielded by one read. */
  readonly failAfterBytes?: number;
  /** What that throw throws (default: a plain Error, as a bug would). */
  readonly failWith?: Error;
  readonly etag?: string;
  readonly lastModified?: Date;
  /** Reads report these stats (as a reader over the block cache would). */
  readonly stats?: { cacheHits: number; cacheMisses: number; upstreamBytes: number };
}

export class FakeResolver implements ImageResolver {
  readonly nodes = new Map<string, FakeNodeOptions>();
  readonly forgotten: string[] = [];
  readsStarted = 0;
  readsFinished = 0;
  /** Chunk size of reads. */
  chunkBytes = 64 * 1024;
  /** When set, image() throws this. */
  failImage?: Error;

  add(name: string, options: FakeNodeOptions): this {
    this.nodes.set(name, options);
    return this;
  }

  forget(ref: NodeRef): void {
    this.forgotten.push(ref.name);
  }

  async image(ref: NodeRef, _spec?: NodeSpec): Promise<NodeImage> {
    const node = ref.name;
    if (this.failImage) throw this.failImage;
    const o = this.nodes.get(node);
    if (!o) throw new NotFoundError(`no node ${node}`);
    const size = o.data ? o.data.length : (o.size ?? 0);
    const self = this;
    return {
      node,
      size,
      etag: o.etag ?? `"base1-${node}"`,
      lastModified: o.lastModified ?? new Date(Date.UTC(2026, 0, 2, 3, 4, 5)),
      read(start: number, end: number, signal: AbortSignal) {
        const gen = (async function* () {
          self.readsStarted += 1;
          let yielded = 0;
          try {
            for (let pos = start; pos <= end; pos += self.chunkBytes) {
              if (signal.aborted) throw signal.reason;
              const stop = Math.min(end + 1, pos + self.chunkBytes);
              if (o.failAfterBytes !== undefined && yielded >= o.failAfterBytes) throw o.failWith ?? new Error('injected mid-stream failure');
              let chunk: Uint8Array;
              if (o.data) {
                chunk = o.data.subarray(pos, stop);
              } else {
                chunk = new Uint8Array(stop - pos);
                for (let i = 0; i < chunk.length; i++) chunk[i] = (pos + i) & 0xff;
              }
              yielded += chunk.length;
              // A macrotask between chunks, as a real reader (file or socket) has.
              await new Promise((r) => setImmediate(r));
              yield chunk;
            }
          } finally {
            self.readsFinished += 1;
          }
        })();
        return o.stats ? Object.assign(gen, { stats: () => o.stats! }) : gen;
      },
    };
  }
}

/**
 * A node source over a store that also knows the nodes added to the fake resolver (with a spec
 * made up for them), so a test can serve an image without registering its node first.
 */
export function fakeSource(store: NodeStore, resolver: FakeResolver): NodeSource {
  const stamp = '2026-01-01T00:00:00.000Z';
  return {
    kind: 'fake',
    async lookup(name) {
      const stored = await store.get(name);
      if (stored) return stored;
      return resolver.nodes.has(name)
        ? { name, bootIso: 'http://images.example/fake.iso', edits: {}, createdAt: stamp, updatedAt: stamp }
        : undefined;
    },
    onChange: (listener) => {
      store.watch?.(listener);
    },
  };
}
