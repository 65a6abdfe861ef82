// The base versions a cluster's primary serves (src/cluster/primary.ts): each opened here, once
// per version whatever the number of serving parts, one upstream per version shared by every
// part's reads, indexed (its context prepared) before any part is told of it; at most
// MAX_VERSIONS open, the least recently used going first; a URL that now serves another version
// drops the one it served. Block reads and misses of the parts go through the version's cached source.

import type { BlockCache, BlockOnDisk, CachedSource } from '../cache/block-cache.js';
import { BaseChangedError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { BaseContext } from '../remaster/base-context.js';
import { baseContext, requireValidator } from '../serving/bases.js';
import { openUpstream, type UpstreamConfig } from '../upstream/open.js';
import type { UpstreamSource } from '../upstream/types.js';
import { versionKey } from '../upstream/validator.js';
import type { WireVersion } from './ipc.js';
import { MAX_BLOCKS_PER_BATCH } from './read-reports.js';

/** A base's version probed less than this long ago is given to the next part that asks. */
const OPEN_REUSE_MS = 1000;
/** Base versions kept open (as src/serving/bases.ts keeps bases). */
export const MAX_VERSIONS = 64;

interface Version {
  readonly vk: string;
  readonly upstream: UpstreamSource;
  readonly cached: CachedSource;
  readonly wire: WireVersion;
  /** Its index and boot configs, for the patch sets computed here (prepared at the first). */
  readonly context: () => Promise<BaseContext>;
  usedAt: number;
}

export interface PrimaryVersionsOptions {
  readonly cache: BlockCache;
  readonly upstreamConfig: UpstreamConfig;
  readonly blockSize: number;
  readonly logger: Logger;
  /** A version that goes: what else is kept of it goes too (its patch sets). */
  readonly onDrop: (vk: string) => void;
}

export interface PrimaryVersions {
  /** Opens (or reuses) the version a URL serves now. */
  openBase(url: string): Promise<WireVersion>;
  /** The context of a version served now; BASE_CHANGED if it is no longer. */
  contextOf(vk: string): Promise<BaseContext>;
  /** A block's bytes, read through the cache. */
  blockBytes(vk: string, index: number): Promise<Uint8Array>;
  /** A block's file, fetched first if missing (its bytes only when the cache could not keep it). */
  ensureBlock(vk: string, index: number): Promise<BlockOnDisk | { bytes: Uint8Array }>;
  /** Blocks a part read from their files: recently used in the cache's LRU. */
  markRead(vk: unknown, indexes: unknown): void;
  /** Drops every version (shutdown). */
  dropAll(): void;
}

export function createPrimaryVersions(options: PrimaryVersionsOptions): PrimaryVersions {
  const { cache, upstreamConfig, blockSize, logger, onDrop } = options;
  const versions = new Map<string, Version>();
  const byUrl = new Map<string, { vk?: string; at: number; opening?: Promise<WireVersion> }>();
  const dropVersion = (v: Version): void => {
    versions.delete(v.vk);
    cache.forgetSource(v.vk);
    onDrop(v.vk);
    void v.upstream.close().catch(() => {});
  };
  // A version's index and boot configs, made here once for every serving part (they index
  // nothing), before any part is told of it: an upstream without a validator, or an image that is
  // not an ISO, fails the part's open as it would in a single process, and nothing of it is kept.
  const indexVersion = async (url: string, vk: string, upstream: UpstreamSource): Promise<Version> => {
    try {
      requireValidator(upstream, url);
      const { version } = upstream;
      const wire: WireVersion = {
        url: version.url,
        size: version.size,
        supportsRanges: upstream.supportsRanges,
        ...(version.etag !== undefined ? { etag: version.etag } : {}),
        ...(version.lastModified !== undefined ? { lastModified: version.lastModified } : {}),
      };
      const cached = cache.source(upstream);
      const context = baseContext(cached, { url, version: vk, size: upstream.size }, logger);
      // No patch-set thread is warmed beside the index, as a single process does (src/service.ts):
      // here the thread's 20-30 MiB then overlapped the index's peak, +22 MiB summed RSS in a
      // two-worker cold wave, for 20-40 ms off the first node of a new base.
      await context();
      return { vk, upstream, cached, wire, context, usedAt: Date.now() };
    } catch (err) {
      // The same version may be open under another URL: its state stays.
      if (!versions.has(vk)) cache.forgetSource(vk);
      await upstream.close().catch(() => {});
      throw err;
    }
  };
  /** The version a URL served until now, when it now serves version `vk`: gone upstream. */
  const dropReplaced = (entry: { vk?: string }, vk: string): void => {
    const old = entry.vk !== undefined && entry.vk !== vk ? versions.get(entry.vk) : undefined;
    if (old) dropVersion(old);
  };
  const openBase = (url: string): Promise<WireVersion> => {
    const entry = byUrl.get(url) ?? { at: 0 };
    byUrl.set(url, entry);
    const known = entry.vk !== undefined ? versions.get(entry.vk) : undefined;
    if (known && Date.now() - entry.at < OPEN_REUSE_MS) {
      known.usedAt = Date.now();
      return Promise.resolve(known.wire);
    }
    entry.opening ??= (async () => {
      const upstream = await openUpstream(url, upstreamConfig);
      const vk = versionKey(upstream.version);
      let v = versions.get(vk);
      if (v) {
        await upstream.close().catch(() => {});
      } else {
        let fresh: Version;
        try {
          fresh = await indexVersion(url, vk, upstream);
        } catch (err) {
          // The URL now serves something that cannot be served: the version it served before is
          // gone upstream all the same (a single process forgets it before re-indexing).
          dropReplaced(entry, vk);
          entry.vk = undefined;
          throw err;
        }
        // The same version may have been opened meanwhile under another URL.
        v = versions.get(vk);
        if (v) {
          void fresh.upstream.close().catch(() => {});
        } else {
          v = fresh;
          versions.set(vk, v);
          // Only a version that could be indexed takes an open one's place.
          if (versions.size > MAX_VERSIONS) dropVersion([...versions.values()].sort((a, b) => a.usedAt - b.usedAt)[0]!);
        }
      }
      // A new version replaces the old one: streams still on it fail as BASE_CHANGED.
      dropReplaced(entry, vk);
      entry.vk = vk;
      entry.at = Date.now();
      v.usedAt = entry.at;
      return v.wire;
    })().finally(() => {
      entry.opening = undefined;
    });
    return entry.opening;
  };
  const versionOf = (vk: string): Version => {
    const v = versions.get(vk);
    if (!v) throw new BaseChangedError('', `base version ${vk} is no longer served (changed upstream or evicted); retry`);
    v.usedAt = Date.now();
    return v;
  };
  const blockBytes = (vk: string, index: number): Promise<Uint8Array> => {
    const v = versionOf(vk);
    const start = index * blockSize;
    if (!Number.isSafeInteger(index) || index < 0 || start >= v.wire.size) throw new RangeError(`block ${index} is outside the image`);
    return v.cached.read(start, Math.min(blockSize, v.wire.size - start));
  };
  // A block's file for a serving part, fetched first if missing: no bytes cross to the part, and
  // none are read here for a block already on disk. Nothing aborts the fetch: other parts' readers
  // may want it, and the cache's fetch budget bounds it.
  const ensureBlock = async (vk: string, index: number): Promise<BlockOnDisk | { bytes: Uint8Array }> => {
    const v = versionOf(vk);
    // Both check the index against the image.
    return v.cached.ensure ? v.cached.ensure(index) : { bytes: await blockBytes(vk, index) };
  };
  // Blocks a part read from their files: recently used, as if read here. Blocks of a version no
  // longer served here are left to age out.
  const markRead = (vk: unknown, indexes: unknown): void => {
    if (typeof vk !== 'string' || !Array.isArray(indexes)) return;
    const v = versions.get(vk);
    if (!v) return;
    v.usedAt = Date.now();
    cache.touch(
      vk,
      indexes.slice(0, MAX_BLOCKS_PER_BATCH).filter((i): i is number => Number.isSafeInteger(i) && i >= 0),
    );
  };
  return {
    openBase,
    contextOf: async (vk) => versionOf(vk).context(),
    blockBytes,
    ensureBlock,
    markRead,
    dropAll: () => {
      for (const v of [...versions.values()]) dropVersion(v);
    },
  };
}
