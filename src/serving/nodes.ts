// Nodes: which spec a request is served from, and the admin side of the node store.
//
// - lookup: a node by (source, name), with expiry (410 past expiresAt). Specs from a source that
//   announces its changes (NodeSource.onChange) are kept in memory until it says otherwise, so a
//   BMC's thousands of range requests do not each ask a shared store; other sources are asked
//   every time.
// - put: validation (name, upstream allowlist, edits, expiry in the future), then, unless the caller opts out, the
//   image itself is resolved before anything is stored: a base that is not a usable ISO is
//   refused (422) rather than stored broken. An unreachable base is stored with the reason beside
//   its null ETag: it may come up later.
// - put and delete drop what was kept for the node (the spec memo, and the resolver's own state).

import { LRUCache } from 'lru-cache';
import type { Edits } from '../bootconfig/types.js';
import { IsoproxyError, NotFoundError } from '../errors.js';
import { NodeExpiredError } from '../registry/errors.js';
import { isExpired, isValidNodeName, type NodeSpec, type NodeStore } from '../registry/store.js';
import { InvalidBaseError, isMalformedBase, NodeValidationError } from './errors.js';
import type { NodeSource } from './node-source.js';
import type { ImageResolver, NodeImage, NodeRef } from './types.js';

/** Specs kept in memory per process (a few hundred bytes each). */
const MAX_MEMO_SPECS = 10_000;
/** How long a PUT or GET waits for a node's image (and ETag) by default. */
export const DEFAULT_IMAGE_TIMEOUT_MS = 10_000;

/** What a client gives for a node (the HTTP layer has checked its shape). */
export interface NodeInput {
  readonly bootIso: string;
  readonly edits: Edits;
  /** RFC 3339, normalized to ISO 8601 UTC. */
  readonly expiresAt?: string;
}

/** Checks the serving core does not make itself (the upstream allowlist, the edit grammar). */
export interface NodePolicy {
  /** Throws when a node may not name this URL. */
  checkUpstreamAllowed(url: string): void;
  /** Throws EditValidationError when edits are invalid. */
  validateEdits(edits: Edits): void;
}

/** The ETag a node is served with now, or null with the reason. */
export interface ImageStatus {
  readonly etag: string | null;
  readonly etagError?: { readonly code: string; readonly message: string };
}

export interface PutResult {
  readonly spec: NodeSpec;
  readonly created: boolean;
  readonly image: ImageStatus;
}

export interface NodesOptions {
  readonly sources: ReadonlyMap<string, NodeSource>;
  /** The store the admin API manages, and the source name its nodes are served under. */
  readonly store: NodeStore;
  readonly storeSource: string;
  readonly images: ImageResolver;
  readonly policy: NodePolicy;
  readonly now: () => Date;
  readonly imageTimeoutMs?: number;
}

export interface Nodes {
  /** The spec to serve `ref` from. Throws NotFoundError (unknown source or node) and NodeExpiredError. */
  lookup(ref: NodeRef, signal?: AbortSignal): Promise<NodeSpec>;
  /** The spec `lookup` would give, when it is kept in memory and not expired; else undefined (ask `lookup`). */
  lookupNow(ref: NodeRef): NodeSpec | undefined;
  /** A stored node (the admin view: expired nodes included). */
  get(name: string): Promise<NodeSpec | undefined>;
  put(name: string, input: NodeInput, options?: { validate?: boolean; signal?: AbortSignal }): Promise<PutResult>;
  delete(name: string): Promise<boolean>;
  list(options: { after?: string; limit: number }): Promise<{ nodes: NodeSpec[]; next?: string }>;
  isExpired(spec: NodeSpec): boolean;
  /** The ETag a stored node is served with, waiting at most the image timeout. */
  imageStatus(spec: NodeSpec, signal?: AbortSignal): Promise<ImageStatus>;
  /** Drops what is kept for a node (its spec memo and the resolver's state). */
  invalidate(ref: NodeRef): void;
}

function describeError(err: unknown): { code: string; message: string } {
  return err instanceof IsoproxyError ? { code: err.code, message: err.message } : { code: 'INTERNAL', message: 'internal error' };
}

export function createNodes(options: NodesOptions): Nodes {
  const { sources, store, storeSource, images, policy, now } = options;
  const timeoutMs = options.imageTimeoutMs ?? DEFAULT_IMAGE_TIMEOUT_MS;
  const memo = new LRUCache<string, NodeSpec>({ max: MAX_MEMO_SPECS });
  // Bumped by every invalidation: a lookup that started before one must not store what it read.
  let generation = 0;
  const keyOf = (ref: NodeRef): string => `${ref.source}\u0000${ref.name}`;

  function invalidate(ref: NodeRef): void {
    generation += 1;
    memo.delete(keyOf(ref));
    images.forget?.(ref);
  }

  for (const [name, source] of sources) {
    source.onChange?.((node) => {
      if (node !== undefined) {
        invalidate({ source: name, name: node });
        return;
      }
      generation += 1;
      for (const key of [...memo.keys()]) if (key.startsWith(`${name}\u0000`)) memo.delete(key);
    });
  }

  async function read(ref: NodeRef, signal?: AbortSignal): Promise<NodeSpec | undefined> {
    const source = sources.get(ref.source);
    if (!source) throw new NotFoundError(`no node source ${JSON.stringify(ref.source)}`);
    if (!source.onChange) return source.lookup(ref.name, signal);
    const key = keyOf(ref);
    const hit = memo.get(key);
    if (hit) return hit;
    const before = generation;
    const spec = await source.lookup(ref.name, signal);
    if (spec && generation === before) memo.set(key, spec);
    return spec;
  }

  /** Resolves a spec's image with the caller's signal and the image timeout, whichever ends first. */
  async function tryImage(ref: NodeRef, spec: NodeSpec, signal?: AbortSignal): Promise<{ image: NodeImage } | { error: unknown }> {
    const timeout = AbortSignal.timeout(timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    try {
      return { image: await images.image(ref, spec, combined) };
    } catch (err) {
      if (timeout.aborted && !signal?.aborted) return { error: new IsoproxyError('ETAG_TIMEOUT', `no ETag within ${timeoutMs} ms`) };
      return { error: err };
    }
  }

  const statusOf = (r: { image: NodeImage } | { error: unknown }): ImageStatus =>
    'image' in r ? { etag: r.image.etag } : { etag: null, etagError: describeError(r.error) };

  function validate(name: string, input: NodeInput): void {
    if (!isValidNodeName(name)) throw new NodeValidationError('INVALID_NAME', 'node names are 1 to 128 of [A-Za-z0-9._-], not "." or ".."');
    try {
      policy.checkUpstreamAllowed(input.bootIso);
    } catch (err) {
      if (!(err instanceof IsoproxyError)) throw err;
      throw new NodeValidationError('UPSTREAM_NOT_ALLOWED', err.message, { cause: err });
    }
    policy.validateEdits(input.edits);
    // A node that is expired when it is stored would only ever answer 410: a client's mistake.
    if (input.expiresAt !== undefined && Date.parse(input.expiresAt) <= now().getTime()) {
      throw new NodeValidationError('EXPIRES_IN_PAST', `expiresAt ${input.expiresAt} is not in the future`);
    }
  }

  return {
    lookupNow(ref) {
      // Only a source that announces its changes has its specs kept (read() above).
      if (!sources.get(ref.source)?.onChange) return undefined;
      const spec = memo.get(keyOf(ref));
      return spec && !isExpired(spec, now()) ? spec : undefined;
    },

    async lookup(ref, signal) {
      const spec = await read(ref, signal);
      if (!spec) throw new NotFoundError(`unknown node ${JSON.stringify(ref.name)}`);
      if (isExpired(spec, now())) {
        invalidate(ref);
        throw new NodeExpiredError(ref.name, spec.expiresAt ?? '');
      }
      return spec;
    },

    get: (name) => store.get(name),

    async put(name, input, putOptions = {}) {
      validate(name, input);
      const stamp = now().toISOString();
      const existing = await store.get(name);
      const spec: NodeSpec = {
        name,
        bootIso: input.bootIso,
        edits: input.edits,
        ...(input.expiresAt !== undefined ? { expiresAt: input.expiresAt } : {}),
        createdAt: existing?.createdAt ?? stamp,
        updatedAt: stamp,
      };
      const ref = { source: storeSource, name };
      const resolved = await tryImage(ref, spec, putOptions.signal);
      if (putOptions.validate !== false && 'error' in resolved && isMalformedBase(resolved.error)) {
        throw new InvalidBaseError(spec.bootIso, resolved.error);
      }
      await store.put(spec);
      // The node's image depends on its spec: drop whatever was kept for the old one.
      invalidate(ref);
      return { spec, created: existing === undefined, image: statusOf(resolved) };
    },

    async delete(name) {
      const existed = await store.delete(name);
      invalidate({ source: storeSource, name });
      return existed;
    },

    list: (listOptions) => store.list(listOptions),

    isExpired: (spec) => isExpired(spec, now()),

    async imageStatus(spec, signal) {
      const ref = { source: storeSource, name: spec.name };
      if (isExpired(spec, now())) {
        invalidate(ref);
        return { etag: null, etagError: { code: 'NODE_EXPIRED', message: `node expired at ${spec.expiresAt}` } };
      }
      return statusOf(await tryImage(ref, spec, signal));
    },

    invalidate,
  };
}
