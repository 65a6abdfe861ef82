// The shared node store for replicas behind a load balancer: node specs in Redis, with the same
// semantics as the file store (file-store.ts) and a change feed so every replica hears of a PUT or
// DELETE made through any other at once.
//
// Layout, under a key prefix (default `isoproxy:`):
//   <prefix>node:<name>   the spec as JSON; SET replaces it atomically. A spec with expiresAt gets
//                         a Redis TTL of expiresAt (or now, if later) plus `retentionMs`, so the
//                         service still answers 410 Gone for a while after expiry, then forgets.
//   <prefix>nodes         a sorted set of names, all with score 0, so ZRANGEBYLEX pages in byte
//                         order (node names are ASCII: the file store's code-unit order). A name
//                         whose spec aged out by TTL is dropped from it lazily, by a script that
//                         checks the key is still absent (a PUT racing the cleanup keeps its name).
//   <prefix>changes       a pub/sub channel: each write publishes the node's name inside the same
//                         MULTI as the write, so a message never precedes the data it announces.
//
// Each replica keeps a mirror of the specs it has read (bounded LRU). While its subscriber
// connection is up, the mirror is exact: a message drops the name and tells `onChange` listeners,
// so a range request costs a map lookup, not a Redis round trip. When the subscriber reconnects it
// may have missed messages, so no mirrored spec answers again before it is read again, and every
// mirrored name is announced (redis-mirror.ts).
//
// Redis down: reads answer from the mirror (the last known specs) for at most `staleReadsMs`
// after the outage began, logged when it starts, when the bound passes and when Redis is back;
// past the bound, and for names never read, they throw StoreUnavailableError. Writes fail at once
// with StoreUnavailableError (the offline queue is off, so nothing is replayed later behind the
// caller's back). The HTTP layer maps it to 503 with Retry-After.
//
// The stored form of a spec, and the checks on what is read back, are in redis-spec.ts.

import type { Logger } from 'pino';
import { createClient, ErrorReply, type RedisClientType } from 'redis';
import { IsoproxyError, ServiceUnavailableError } from '../errors.js';
import { StoreError } from './errors.js';
import { OutageClock, SpecMirror } from './redis-mirror.js';
import { checkSpec, decodeSpec, MAX_SPEC_BYTES, storedSpec } from './redis-spec.js';
import { isValidNodeName, type NodeSpec, type NodeStore } from './store.js';

export { checkSpec } from './redis-spec.js';

export const DEFAULT_PREFIX = 'isoproxy:';
export const DEFAULT_STALE_READS_MS = 5 * 60_000;
export const DEFAULT_RETENTION_MS = 24 * 3_600_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_COMMAND_TIMEOUT_MS = 2_000;
/** What a client is told to wait before retrying a write while Redis is away. */
const RETRY_AFTER_S = 5;

/** Redis cannot be reached (or cannot serve right now): reads past the stale bound and every write. */
export class StoreUnavailableError extends ServiceUnavailableError {
  /** The store's URL, without credentials. */
  readonly store: string;
  constructor(store: string, message: string, retryAfterS = RETRY_AFTER_S, options?: { cause?: unknown }) {
    super('STORE_UNAVAILABLE', `node store ${store}: ${message}`, retryAfterS, options);
    this.store = store;
  }
}

export interface RedisStoreOptions {
  /** redis://[user@]host:port/db or rediss://...; never with a password (see `password`). */
  readonly url: string;
  readonly password?: string;
  readonly prefix?: string;
  /** How long reads may answer from the mirror after Redis became unreachable. */
  readonly staleReadsMs?: number;
  /** How long a spec is kept past its expiresAt, so the node answers 410 rather than 404. */
  readonly retentionMs?: number;
  readonly connectTimeoutMs?: number;
  readonly commandTimeoutMs?: number;
  readonly logger?: Logger;
  /** The clock (tests pin it). */
  readonly now?: () => number;
}

export interface RedisStoreStatus {
  /** Both connections (commands and change feed) are up. */
  readonly connected: boolean;
  /** When reads started answering from the mirror because Redis was unreachable. */
  readonly unreachableSince?: Date;
  /** Reads answered from the mirror during outages, since start. */
  readonly staleReads: number;
  readonly mirrored: number;
}

type Client = RedisClientType;

// Drops a name from the index only while its spec key is absent: atomic against a concurrent PUT.
const DROP_IF_GONE = "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.call('ZREM', KEYS[2], ARGV[1]) end return 0";

/** Replies that mean "this Redis cannot serve now" (loading after a restart, a read-only replica after failover). */
const UNAVAILABLE_REPLY = /^(LOADING|READONLY|MASTERDOWN|BUSY|TRYAGAIN|CLUSTERDOWN|OOM)\b/;

function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export class RedisNodeStore implements NodeStore {
  readonly kind = 'redis';
  /** The URL without credentials: safe in logs and error messages. */
  readonly url: string;
  readonly #client: Client;
  readonly #sub: Client;
  readonly #prefix: string;
  readonly #channel: string;
  readonly #retentionMs: number;
  readonly #log: Logger | undefined;
  readonly #now: () => number;
  readonly #mirror: SpecMirror;
  readonly #outage: OutageClock;
  #closed = false;

  private constructor(client: Client, sub: Client, options: RedisStoreOptions) {
    this.#client = client;
    this.#sub = sub;
    this.url = options.url;
    this.#prefix = options.prefix ?? DEFAULT_PREFIX;
    this.#channel = `${this.#prefix}changes`;
    this.#retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
    this.#log = options.logger?.child({ store: this.url });
    this.#now = options.now ?? Date.now;
    this.#mirror = new SpecMirror(this.#log);
    this.#outage = new OutageClock(options.staleReadsMs ?? DEFAULT_STALE_READS_MS, this.#now, this.#log);
  }

  /** Connects (both the command and the change-feed connection) and subscribes; fails after connectTimeoutMs. */
  static async open(options: RedisStoreOptions): Promise<RedisNodeStore> {
    if (/^rediss?:\/\/[^/@]*:[^/@]*@/.test(options.url))
      throw new StoreError(options.url.replace(/:[^/@:]*@/, ':***@'), 'the URL must not hold a password');
    const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const client = createClient({
      url: options.url,
      ...(options.password !== undefined ? { password: options.password } : {}),
      // A write while Redis is away fails now with a 503, instead of waiting in a queue and
      // landing minutes later after the caller gave up.
      disableOfflineQueue: true,
      commandOptions: { timeout: options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS },
      socket: {
        connectTimeout: connectTimeoutMs,
        // Never give up (a replica outlives a Redis restart); back off to one attempt a second.
        reconnectStrategy: (retries: number) => Math.min(50 * 2 ** Math.min(retries, 5), 1000) + Math.floor(Math.random() * 100),
      },
    });
    // The change feed needs its own connection: a subscribed connection runs no other commands.
    const sub = client.duplicate() as unknown as Client;
    // Listeners stay for the client's life: node-redis hands out a prototype proxy of the client,
    // and removing the last listener through it detaches the proxy's listener table from the
    // client's, so listeners added later would never be called.
    let lastError: unknown;
    let store: RedisNodeStore | undefined;
    client.on('error', (err: unknown) => {
      if (store) store.#clientError(err);
      else lastError = err;
    });
    sub.on('error', (err: unknown) => {
      if (store) store.#feedLost(err);
      else lastError = err;
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        Promise.all([client.connect(), sub.connect()]),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('timeout')), connectTimeoutMs);
        }),
      ]);
    } catch (err) {
      client.destroy();
      sub.destroy();
      const why = lastError instanceof Error ? lastError.message : err instanceof Error ? err.message : String(err);
      throw new StoreUnavailableError(options.url, `not reachable within ${connectTimeoutMs} ms (${why})`, RETRY_AFTER_S, {
        cause: lastError ?? err,
      });
    } finally {
      clearTimeout(timer);
    }
    const opened = new RedisNodeStore(client, sub, options);
    store = opened;
    opened.#watch();
    try {
      await sub.subscribe(opened.#channel, (name) => opened.#mirror.changed(name));
    } catch (err) {
      await opened.close();
      throw opened.#failure('subscribe', err);
    }
    opened.#mirror.trusted = true;
    opened.#log?.info(
      { prefix: opened.#prefix, staleReadsMs: options.staleReadsMs ?? DEFAULT_STALE_READS_MS, retentionMs: opened.#retentionMs },
      'node store connected',
    );
    return opened;
  }

  /** Calls `listener(name)` whenever a node's spec may have changed (any replica's write, or a reconnect). Returns an unsubscribe. */
  onChange(listener: (name: string) => void): () => void {
    return this.#mirror.onChange(listener);
  }

  /** The NodeStore side of onChange: the serving core keeps specs in memory until this says otherwise. */
  watch(listener: (name?: string) => void): () => void {
    return this.#mirror.onChange(listener);
  }

  status(): RedisStoreStatus {
    return {
      connected: this.#client.isReady && this.#sub.isReady,
      ...(this.#outage.since !== undefined ? { unreachableSince: new Date(this.#outage.since) } : {}),
      staleReads: this.#outage.staleReads,
      mirrored: this.#mirror.size,
    };
  }

  async get(name: string): Promise<NodeSpec | undefined> {
    this.#checkOpen();
    if (!isValidNodeName(name)) return undefined;
    const fresh = this.#mirror.fresh(name, this.#now());
    if (fresh) return fresh.spec;
    const epoch = this.#mirror.epoch;
    let text: unknown;
    let expireAt: unknown;
    try {
      // The key's own expiry time, read atomically with it, so the mirror forgets the spec when Redis does.
      [text, expireAt] = await this.#client.multi().get(this.#key(name)).pExpireTime(this.#key(name)).exec();
      this.#reachable();
    } catch (err) {
      return this.#stale(name, err);
    }
    const spec = typeof text === 'string' ? this.#parse(text, name) : undefined;
    // A change announced while this read was in flight may be newer than what it returned.
    this.#mirror.remember(name, spec, typeof expireAt === 'number' && expireAt > 0 ? expireAt : undefined, epoch);
    return spec;
  }

  async put(spec: NodeSpec): Promise<void> {
    this.#checkOpen();
    if (checkSpec(spec) === undefined) throw new StoreError(this.url, `refusing to store an invalid node spec for ${JSON.stringify(spec.name)}`);
    const clean = storedSpec(spec);
    const json = JSON.stringify(clean);
    if (Buffer.byteLength(json) > MAX_SPEC_BYTES) throw new StoreError(this.url, `node ${spec.name}: spec is larger than ${MAX_SPEC_BYTES} bytes`);
    const deadlineMs = this.#deadline(spec);
    const tx = this.#client
      .multi()
      .set(this.#key(spec.name), json, deadlineMs !== undefined ? { expiration: { type: 'PXAT', value: deadlineMs } } : {})
      .zAdd(this.#indexKey(), { score: 0, value: spec.name })
      .publish(this.#channel, spec.name);
    await this.#write(`put ${spec.name}`, () => tx.exec());
    this.#mirror.wrote(spec.name, clean, deadlineMs);
  }

  async delete(name: string): Promise<boolean> {
    this.#checkOpen();
    if (!isValidNodeName(name)) return false;
    const tx = this.#client.multi().del(this.#key(name)).zRem(this.#indexKey(), name).publish(this.#channel, name);
    const replies = await this.#write(`delete ${name}`, () => tx.exec());
    this.#mirror.wrote(name, undefined, undefined);
    return Number(replies[0]) > 0;
  }

  async list(options: { after?: string; limit: number }): Promise<{ nodes: NodeSpec[]; next?: string }> {
    this.#checkOpen();
    const limit = Math.max(1, Math.floor(options.limit));
    const found: NodeSpec[] = [];
    let from = options.after !== undefined ? `(${options.after}` : '-';
    try {
      // One more than asked, to know whether a next page exists; loops only when names in the
      // index had aged out (their keys expired) and the page came back short.
      while (found.length <= limit) {
        const want = limit + 1 - found.length;
        const names = await this.#client.zRangeByLex(this.#indexKey(), from, '+', { LIMIT: { offset: 0, count: want } });
        if (names.length === 0) break;
        const texts = await this.#client.mGet(names.map((n) => this.#key(n)));
        for (let i = 0; i < names.length; i++) {
          const text = texts[i];
          if (text === null || text === undefined) {
            await this.#client.eval(DROP_IF_GONE, { keys: [this.#key(names[i]!), this.#indexKey()], arguments: [names[i]!] });
            continue;
          }
          found.push(this.#parse(text, names[i]!));
        }
        from = `(${names[names.length - 1]!}`;
        if (names.length < want) break;
      }
      this.#reachable();
    } catch (err) {
      throw this.#failure('list', err);
    }
    found.sort((a, b) => byteOrder(a.name, b.name));
    const nodes = found.slice(0, limit);
    const last = nodes[nodes.length - 1];
    return found.length > limit && last ? { nodes, next: last.name } : { nodes };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#mirror.close();
    await Promise.allSettled([this.#sub.close(), this.#client.close()]);
  }

  #key(name: string): string {
    return `${this.#prefix}node:${name}`;
  }

  #indexKey(): string {
    return `${this.#prefix}nodes`;
  }

  /** When Redis drops the spec: expiresAt (or now, for a spec put already expired) plus the retention. */
  #deadline(spec: NodeSpec): number | undefined {
    if (spec.expiresAt === undefined) return undefined;
    return Math.max(Date.parse(spec.expiresAt), this.#now()) + this.#retentionMs;
  }

  #parse(text: string, name: string): NodeSpec {
    const spec = decodeSpec(text, name);
    if (!spec) throw new StoreError(this.url, `key ${this.#key(name)} does not hold a node spec`);
    return spec;
  }

  /** Connection events: trust in the mirror, and when an outage begins and ends. */
  #watch(): void {
    this.#sub.on('end', () => this.#feedLost());
    this.#client.on('ready', () => this.#reachable());
    this.#sub.on('ready', () => {
      if (this.#closed) return;
      this.#mirror.resubscribed();
      this.#reachable();
    });
  }

  #clientError(err: unknown): void {
    if (!this.#closed) this.#down(err);
  }

  /** The change feed dropped: messages may be missed from now on, so the mirror is not trusted. */
  #feedLost(err?: unknown): void {
    if (this.#closed) return;
    this.#mirror.trusted = false;
    this.#down(err);
  }

  #down(err?: unknown): void {
    this.#outage.down(err);
  }

  #reachable(): void {
    if (this.#client.isReady && this.#sub.isReady) this.#outage.up();
  }

  /** A read that could not reach Redis: the last known spec while the outage is young enough. */
  #stale(name: string, err: unknown): NodeSpec | undefined {
    const failure = this.#failure(`get ${name}`, err);
    if (!(failure instanceof StoreUnavailableError)) throw failure;
    this.#down(err);
    const known = this.#mirror.last(name);
    if (!known || !this.#outage.allowsStaleRead()) throw failure;
    return known.spec;
  }

  async #write<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      const result = await run();
      this.#reachable();
      return result;
    } catch (err) {
      throw this.#failure(what, err);
    }
  }

  /** Sorts a Redis failure: unreachable or not serving (503), or something wrong with the data (500). */
  #failure(what: string, err: unknown): IsoproxyError {
    if (err instanceof IsoproxyError) return err;
    if (err instanceof ErrorReply && !UNAVAILABLE_REPLY.test(err.message)) return new StoreError(this.url, `${what}: ${err.message}`, { cause: err });
    const why = err instanceof Error ? err.message || err.name : String(err);
    return new StoreUnavailableError(this.url, `${what}: ${why}`, RETRY_AFTER_S, { cause: err });
  }

  #checkOpen(): void {
    if (this.#closed) throw new StoreError(this.url, 'is closed');
  }
}
