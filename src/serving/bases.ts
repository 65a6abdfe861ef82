// Base images by URL: opened, indexed and prepared once, shared by every node naming them, and the
// one owner of per-base state. A base's version (size + ETag/Last-Modified) is revalidated at most
// every `revalidateMs`; a new version is a new base: re-indexed, its patch sets recomputed, its
// blocks cached apart. A response in flight on the old version keeps reading old blocks or fails
// with BaseChangedError (from the upstream), never a mix of two versions under one ETag.
//
// When a version goes (replaced, evicted, closed), every `onForget` listener hears its id, so the
// patch-set memo and the block cache drop what they keep for it at the same moment.
//
// A base that cannot be opened (an unreachable upstream, a malformed image) is not kept open: the
// next request tries again. Its failure is remembered for the status page, with its error code,
// until an open of it succeeds or it is `failedTtlMs` old; at most `maxFailed` are remembered.

import { redactUrl } from '../redact.js';
import { IsoFormatError, OutOfBoundsError, UpstreamError } from '../errors.js';
import type { BlockCache, CachedSource } from '../cache/block-cache.js';
import { buildIndex } from '../iso9660/index.js';
import type { Logger } from '../logger.js';
import { prepareBase, type BaseContext } from '../remaster/base-context.js';
import type { UpstreamSource } from '../upstream/types.js';
import { sameValidator, versionKey } from '../upstream/validator.js';
import { abortable } from '../io/abort.js';
import { isMalformedBase } from './errors.js';

/** How long a base's validator is trusted before the next request checks it again. */
export const REVALIDATE_MS = 10_000;
/** Bases kept open at once (each holds an index and a few MiB of boot data). */
export const MAX_BASES = 64;
/** How long a base that failed to open is listed as failed (unless an open succeeds first). */
export const FAILED_TTL_MS = 15 * 60_000;
/** Failed bases listed at most: the oldest failure goes first. */
export const MAX_FAILED = 64;

export interface OpenBase {
  /** The version key (upstream/validator.ts): what ETags, cache blocks and patch sets hang on. */
  readonly id: string;
  readonly url: string;
  readonly upstream: UpstreamSource;
  readonly cached: CachedSource;
  /**
   * What the remaster engine needs of this version (its boot configs, FAT images, ...). Ready at
   * once when this process indexed the base on opening it; in a cluster worker, prepared at the
   * first ask (a preview: its patch sets come from the primary, which indexed it).
   */
  readonly context: () => Promise<BaseContext>;
  /** The upstream's Last-Modified in ms (0 when it sent none). */
  readonly lastModified: number;
}

export interface BasesOptions {
  readonly open: (url: string) => Promise<UpstreamSource>;
  readonly cache: Pick<BlockCache, 'source'>;
  readonly logger: Logger;
  readonly now?: () => number;
  readonly revalidateMs?: number;
  readonly maxBases?: number;
  /** How long a failure to open a base is listed (default FAILED_TTL_MS). */
  readonly failedTtlMs?: number;
  /** Failures listed at most (default MAX_FAILED). */
  readonly maxFailed?: number;
  /**
   * Whether opening a base indexes it here (default true). A cluster worker does not: its
   * primary indexes each version once for every worker before answering the open (so an image
   * that is not an ISO fails the open all the same), and computes their patch sets
   * (src/cluster/primary-patch-sets.ts). The worker then prepares a context only for a preview.
   */
  readonly indexOnOpen?: boolean;
  /** Called as this process starts indexing a version (the patch-set pool warms a thread). */
  readonly onIndexing?: () => void;
}

/**
 * Refuses an upstream without a validator: two versions of the same size would look alike, and a
 * response or a cached block could mix them. Every common server sends one.
 */
export function requireValidator(upstream: UpstreamSource, url: string): void {
  if (upstream.version.etag === undefined && upstream.version.lastModified === undefined) {
    throw new UpstreamError(
      'UPSTREAM_NO_VALIDATOR',
      url,
      'sends neither ETag nor Last-Modified, so isoproxy cannot tell its versions apart; serve it with either header',
      502,
    );
  }
}

/** What the "base indexed" log line names. */
export interface BaseLabel {
  readonly url: string;
  readonly version: string;
  readonly size: number;
}

/**
 * A version's context, prepared at the first call and kept; a failure is not kept (the next call
 * tries again: an upstream that came back). A read past the end of a structure is reported as
 * the malformed ISO it is.
 */
export function baseContext(cached: CachedSource, label: BaseLabel, logger: Logger): () => Promise<BaseContext> {
  let ready: Promise<BaseContext> | undefined;
  const prepare = async (): Promise<BaseContext> => {
    const started = performance.now();
    const index = await buildIndex(cached);
    const ctx = await prepareBase(index, cached);
    logger.info(
      {
        base: redactUrl(label.url),
        version: label.version,
        size: label.size,
        files: index.files.length,
        metadataBytes: index.bytesRead,
        ms: Math.round(performance.now() - started),
        fats: ctx.fats.length,
        warnings: ctx.warnings.length,
      },
      'base indexed',
    );
    return ctx;
  };
  return () => {
    if (!ready) {
      const p = prepare().catch((err: unknown) => {
        if (ready === p) ready = undefined;
        throw asFormatError(err);
      });
      ready = p;
    }
    return ready;
  };
}

/** Why a version goes: replaced upstream (never read again), or evicted to bound what is open. */
export type ForgetReason = 'replaced' | 'evicted';

export interface Bases {
  /** The current version of the base at `url`. Rejects when `signal` aborts (the open goes on for others). */
  current(url: string, signal?: AbortSignal): Promise<OpenBase>;
  /** The current version when it is open and was checked within the revalidation interval; else undefined (ask `current`). */
  currentNow(url: string): OpenBase | undefined;
  /** Called with the id of every version that goes away, and why. */
  onForget(listener: (id: string, why: ForgetReason) => void): void;
  /** Bases open (or opening) now. */
  size(): number;
  /** A read-only view of the bases open or opening now, and of those that failed to open lately, for the status page. */
  list(): BaseListing[];
  close(): Promise<void>;
}

/**
 * One base as list() shows it: `open` once its current version is indexed, `failed` when its last
 * open failed and none is under way (neither while it is being indexed).
 */
export interface BaseListing {
  readonly url: string;
  readonly open?: OpenBase;
  readonly failed?: BaseFailure;
}

/** Why a base could not be opened, and when (ms since the epoch). */
export interface BaseFailure {
  /** The error's stable code (UPSTREAM_*, ISO_FORMAT, ...); INTERNAL for an error without one. */
  readonly code: string;
  readonly at: number;
}

/** The stable code of an error that failed an open. */
function failureCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(code) ? code : 'INTERNAL';
}

interface Entry {
  current: Promise<OpenBase>;
  /** The value of `current` once it resolved (list() is synchronous). */
  settled?: OpenBase;
  checkedAt: number;
  revalidating?: Promise<OpenBase>;
}

/**
 * A read past the end of a structure while indexing is the image's fault, not ours: report it as
 * the malformed ISO it is (502 ISO_FORMAT), not as an internal error.
 */
export function asFormatError(err: unknown): unknown {
  if (err instanceof OutOfBoundsError) return new IsoFormatError('image', err.offset, err.message, { cause: err });
  return err;
}

export function createBases(options: BasesOptions): Bases {
  const now = options.now ?? Date.now;
  const revalidateMs = options.revalidateMs ?? REVALIDATE_MS;
  const maxBases = options.maxBases ?? MAX_BASES;
  const { logger } = options;
  const failedTtlMs = options.failedTtlMs ?? FAILED_TTL_MS;
  const maxFailed = Math.max(0, options.maxFailed ?? MAX_FAILED);
  const indexOnOpen = options.indexOnOpen ?? true;
  const entries = new Map<string, Entry>();
  /** The last failure to open each base, oldest first (a new failure moves to the end). */
  const failures = new Map<string, BaseFailure>();
  const forgetListeners: Array<(id: string, why: ForgetReason) => void> = [];

  function forget(open: OpenBase, why: ForgetReason): void {
    for (const l of forgetListeners) l(open.id, why);
    void open.upstream.close().catch(() => {});
  }

  async function openBase(url: string): Promise<OpenBase> {
    const upstream = await options.open(url);
    try {
      requireValidator(upstream, url);
      const cached = options.cache.source(upstream);
      const id = versionKey(upstream.version);
      const context = baseContext(cached, { url, version: id, size: upstream.size }, logger);
      if (indexOnOpen) {
        options.onIndexing?.();
        await context();
      }
      const lm = upstream.version.lastModified ? Date.parse(upstream.version.lastModified) : NaN;
      return { id, url, upstream, cached, context, lastModified: Number.isNaN(lm) ? 0 : lm };
    } catch (err) {
      await upstream.close().catch(() => {});
      throw asFormatError(err);
    }
  }

  /** Starts opening a version; one that cannot be opened does not stick (the next request tries again). */
  function start(url: string, entry: Entry | undefined): Promise<OpenBase> {
    const next = openBase(url);
    const e: Entry = entry ?? { current: next, checkedAt: now() };
    e.current = next;
    e.settled = undefined;
    entries.set(url, e);
    next.then(
      (open) => {
        if (e.current === next) e.settled = open;
        failures.delete(url);
      },
      (err: unknown) => noteFailure(url, err),
    );
    next.catch(() => {
      if (entries.get(url) === e && e.current === next) entries.delete(url);
    });
    return next;
  }

  function noteFailure(url: string, err: unknown): void {
    failures.delete(url);
    failures.set(url, { code: failureCode(err), at: now() });
    pruneFailures();
  }

  function pruneFailures(): void {
    const cutoff = now() - failedTtlMs;
    for (const [url, f] of failures) {
      if (failures.size > maxFailed || f.at <= cutoff) failures.delete(url);
      else break; // oldest first: the rest are newer
    }
  }

  function list(): BaseListing[] {
    pruneFailures();
    const out: BaseListing[] = [...entries].map(([url, e]) => (e.settled ? { url, open: e.settled } : { url }));
    for (const [url, failed] of failures) if (!entries.has(url)) out.push({ url, failed });
    return out;
  }

  async function revalidate(url: string, entry: Entry, open: OpenBase): Promise<OpenBase> {
    let probe: UpstreamSource;
    try {
      probe = await options.open(url);
    } catch (err) {
      // An opener that indexes (a cluster's primary) found a new version that is not a usable
      // ISO: the version served until now is gone upstream, as when this process re-indexes one.
      if (isMalformedBase(err)) {
        logger.warn({ base: redactUrl(url), old: open.id }, 'base image changed upstream into one that cannot be served');
        forget(open, 'replaced');
        if (entries.get(url) === entry) entries.delete(url);
        noteFailure(url, err);
      }
      throw err;
    }
    entry.checkedAt = now();
    await probe.close().catch(() => {});
    if (sameValidator(probe.version, open.upstream.version)) return open;
    logger.warn({ base: redactUrl(url), old: open.id, size: probe.version.size }, 'base image changed upstream; re-indexing');
    // Streams still reading the old version fail cleanly on their next upstream fetch.
    forget(open, 'replaced');
    return start(url, entry);
  }

  function evictOldest(): void {
    const [url, oldest] = [...entries.entries()].sort((a, b) => a[1].checkedAt - b[1].checkedAt)[0]!;
    entries.delete(url);
    void oldest.current.then(
      (open) => forget(open, 'evicted'),
      () => {},
    );
  }

  async function current(url: string): Promise<OpenBase> {
    const entry = entries.get(url);
    if (!entry) {
      if (entries.size >= maxBases) evictOldest();
      return start(url, undefined);
    }
    const open = await entry.current;
    if (now() - entry.checkedAt < revalidateMs) return open;
    entry.revalidating ??= revalidate(url, entry, open).finally(() => {
      entry.revalidating = undefined;
    });
    return entry.revalidating;
  }

  const currentNow = (url: string): OpenBase | undefined => {
    const e = entries.get(url);
    return e?.settled && now() - e.checkedAt < revalidateMs ? e.settled : undefined;
  };

  return {
    current: (url, signal) => {
      // The common case, a base open and recently checked, without an abort listener per request.
      const open = currentNow(url);
      return open ? Promise.resolve(open) : abortable(current(url), signal);
    },
    currentNow,
    onForget: (listener) => {
      forgetListeners.push(listener);
    },
    size: () => entries.size,
    list,
    async close() {
      const open = await Promise.allSettled([...entries.values()].map((e) => e.current));
      entries.clear();
      for (const o of open) if (o.status === 'fulfilled') await o.value.upstream.close().catch(() => {});
    },
  };
}
