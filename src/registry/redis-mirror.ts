// What a replica remembers of the Redis node store (redis-store.ts): the specs it has read, whether
// they may be trusted without asking Redis, and since when Redis has been unreachable.
//
// The mirror is exact only while the change feed is subscribed: every message drops its name, and
// after a resubscribe every entry must be read again before it answers on its own.
// Reads race messages, so each invalidation bumps an epoch and a read that began before one does
// not fill the mirror (it may hold what the message replaced). The outage clock says how long the
// last known specs may still answer reads, and logs when an outage starts, when the bound passes
// and when Redis is back.

import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { NodeSpec } from './store.js';

/** Specs a replica remembers; a wave of thousands of nodes fits many times over. */
const MIRROR_ENTRIES = 100_000;

export interface Mirrored {
  readonly spec: NodeSpec | undefined;
  /** When Redis drops the key by TTL (ms since the epoch). */
  readonly deadlineMs?: number;
  /** The subscription it was read under: entries from before a resubscribe are only "last known". */
  readonly feed: number;
}

export class SpecMirror {
  readonly #entries = new LRUCache<string, Mirrored>({ max: MIRROR_ENTRIES });
  readonly #listeners = new Set<(name: string) => void>();
  readonly #log: Logger | undefined;
  #epoch = 0;
  #feed = 0;
  /** The change feed is subscribed: entries may answer without asking Redis. */
  trusted = false;

  constructor(log: Logger | undefined) {
    this.#log = log;
  }

  get epoch(): number {
    return this.#epoch;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The entry when it may answer a read on its own: trusted and not past its Redis TTL. */
  fresh(name: string, nowMs: number): Mirrored | undefined {
    const e = this.#entries.get(name);
    return e && this.trusted && e.feed === this.#feed && (e.deadlineMs === undefined || e.deadlineMs > nowMs) ? e : undefined;
  }

  /** The last known entry, trusted or not (for reads while Redis is away). */
  last(name: string): Mirrored | undefined {
    return this.#entries.get(name);
  }

  /** Records what a read or write saw; a read passes the epoch it began in and is dropped if a change came since. */
  remember(name: string, spec: NodeSpec | undefined, deadlineMs: number | undefined, epoch = this.#epoch): void {
    if (epoch !== this.#epoch) return;
    this.#entries.set(name, deadlineMs !== undefined ? { spec, deadlineMs, feed: this.#feed } : { spec, feed: this.#feed });
  }

  /** Our own write: what was read before it is stale. */
  wrote(name: string, spec: NodeSpec | undefined, deadlineMs: number | undefined): void {
    this.#epoch++;
    this.remember(name, spec, deadlineMs);
  }

  /** A message on the change feed: the name's spec changed somewhere. */
  changed(name: string): void {
    this.#epoch++;
    this.#entries.delete(name);
    this.#announce([name]);
  }

  /**
   * The feed is back after a gap in which messages may have been lost: no entry answers on its own
   * any more, and every name is announced. The entries stay as "last known" for reads while the
   * command connection is still reconnecting; the next read of each name replaces its entry.
   */
  resubscribed(): void {
    this.#epoch++;
    this.#feed++;
    const names = [...this.#entries.keys()];
    this.trusted = true;
    this.#log?.info({ names: names.length }, 'node change feed resubscribed; mirrored specs revalidated on their next read');
    this.#announce(names);
  }

  onChange(listener: (name: string) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  close(): void {
    this.trusted = false;
    this.#listeners.clear();
  }

  #announce(names: readonly string[]): void {
    for (const name of names) {
      for (const listener of this.#listeners) {
        try {
          listener(name);
        } catch (err) {
          this.#log?.error({ err, node: name }, 'node change listener failed');
        }
      }
    }
  }
}

/** Since when Redis is unreachable, and whether the last known specs may still answer. */
export class OutageClock {
  readonly #staleReadsMs: number;
  readonly #now: () => number;
  readonly #log: Logger | undefined;
  #since: number | undefined;
  #boundLogged = false;
  /** Reads answered from the mirror during outages, since start. */
  staleReads = 0;

  constructor(staleReadsMs: number, now: () => number, log: Logger | undefined) {
    this.#staleReadsMs = staleReadsMs;
    this.#now = now;
    this.#log = log;
  }

  get since(): number | undefined {
    return this.#since;
  }

  down(err?: unknown): void {
    if (this.#since !== undefined) return;
    this.#since = this.#now();
    this.#boundLogged = false;
    this.#log?.warn(
      { err: err instanceof Error ? err.message : err, staleReadsMs: this.#staleReadsMs },
      'redis unreachable: node lookups answer from the last known specs for a bounded time; writes fail with 503',
    );
  }

  up(): void {
    if (this.#since === undefined) return;
    this.#log?.info({ downMs: this.#now() - this.#since, staleReads: this.staleReads }, 'redis reachable again');
    this.#since = undefined;
  }

  /** True while the outage is younger than the bound (counts the stale read); logs once when it is not. */
  allowsStaleRead(): boolean {
    const age = this.#now() - (this.#since ?? this.#now());
    if (age <= this.#staleReadsMs) {
      this.staleReads++;
      return true;
    }
    if (!this.#boundLogged) {
      this.#boundLogged = true;
      this.#log?.error(
        { downMs: age, staleReadsMs: this.#staleReadsMs },
        'redis unreachable for longer than the stale-read bound: node lookups fail with 503',
      );
    }
    return false;
  }
}
