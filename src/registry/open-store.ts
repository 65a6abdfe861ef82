// Which node store `isoproxy serve` uses, from one `--store` value (ISOPROXY_STORE, config key
// `store`):
//   (unset) or `file`          the file store in the data directory (the default: one machine)
//   file:///abs/dir            the file store in that directory
//   redis://[user@]host:port/db[?options]   (rediss:// for TLS) the shared store for replicas
//
// Options of a Redis store, as query parameters: prefix (key prefix, default `isoproxy:`),
// stale-reads (how long lookups answer from the last known specs while Redis is unreachable,
// default 5m), retention (how long a spec stays past its expiresAt so the node answers 410,
// default 24h), connect-timeout (10s), command-timeout (2s). Durations take ms, s, m or h.
//
// The Redis password never comes from the URL (flags and config files end up in process lists,
// shell histories and logs): it is read from the file named by ISOPROXY_STORE_PASSWORD_FILE
// (first line; a mounted Kubernetes Secret) or from ISOPROXY_STORE_PASSWORD, and never logged.

import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { IsoproxyError } from '../errors.js';
import { FileNodeStore } from './file-store.js';
import type { RedisStoreOptions } from './redis-store.js';
import type { NodeStore } from './store.js';

export const PASSWORD_ENV = 'ISOPROXY_STORE_PASSWORD';
export const PASSWORD_FILE_ENV = 'ISOPROXY_STORE_PASSWORD_FILE';

/** A `--store` value that names no store this build knows, or a Redis URL with a password in it. */
export class StoreSpecError extends IsoproxyError {
  constructor(message: string) {
    super('STORE_SPEC', `store: ${message}`);
  }
}

/** A node store, and for a shared one its change feed (a replica drops memoized work for a node it announces). */
export type OpenedNodeStore = NodeStore & {
  readonly kind: 'file' | 'redis';
  onChange?(listener: (name: string) => void): () => void;
};

export type StoreSpec =
  | { readonly kind: 'file'; readonly dir: string }
  | { readonly kind: 'redis'; readonly options: Omit<RedisStoreOptions, 'logger' | 'now'> };

export interface OpenStoreOptions {
  /** The data directory: where the file store lives when `--store` names no other place. */
  readonly dataDir: string;
  /** Where the password variables are read (process.env in `serve`). */
  readonly env?: NodeJS.ProcessEnv;
  readonly logger?: Logger;
}

const QUERY_KEYS = new Set(['prefix', 'stale-reads', 'retention', 'connect-timeout', 'command-timeout']);

function duration(name: string, text: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new StoreSpecError(`${name} must be a duration such as 30s, 5m or 24h (got ${JSON.stringify(text)})`);
  const scale = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 'ms']!;
  return Math.round(Number(m[1]) * scale);
}

function readPassword(env: NodeJS.ProcessEnv): string | undefined {
  const file = env[PASSWORD_FILE_ENV];
  if (file !== undefined && file !== '') {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new StoreSpecError(`${PASSWORD_FILE_ENV} ${file}: ${(err as NodeJS.ErrnoException).code ?? 'cannot read'}`);
    }
    const password = text.split(/\r?\n/)[0] ?? '';
    if (password === '') throw new StoreSpecError(`${PASSWORD_FILE_ENV} ${file} is empty`);
    return password;
  }
  const password = env[PASSWORD_ENV];
  return password !== undefined && password !== '' ? password : undefined;
}

/** What a `--store` value names; throws StoreSpecError. Pure apart from reading the password file. */
export function parseStoreSpec(spec: string | undefined, dataDir: string, env: NodeJS.ProcessEnv = {}): StoreSpec {
  const text = spec?.trim() ?? '';
  if (text === '' || text === 'file') return { kind: 'file', dir: dataDir };
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new StoreSpecError(`${JSON.stringify(text)} is neither "file", a file:// URL nor a redis:// URL`);
  }
  if (url.protocol === 'file:') {
    if (url.host !== '' || url.search !== '' || url.pathname === '/')
      throw new StoreSpecError(`file store URLs are file:///absolute/dir (got ${text})`);
    return { kind: 'file', dir: decodeURIComponent(url.pathname) };
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new StoreSpecError(`unknown store scheme ${url.protocol} (file: or redis:)`);
  if (url.password !== '') {
    throw new StoreSpecError(`the Redis URL must not hold a password: put it in a file named by ${PASSWORD_FILE_ENV}, or in ${PASSWORD_ENV}`);
  }
  if (url.hostname === '') throw new StoreSpecError('the Redis URL needs a host');
  if (!/^\/?([0-9]{1,2})?$/.test(url.pathname)) throw new StoreSpecError(`the Redis URL's path is a database number (got ${url.pathname})`);
  for (const key of url.searchParams.keys()) {
    if (!QUERY_KEYS.has(key)) throw new StoreSpecError(`unknown Redis store option ${JSON.stringify(key)} (${[...QUERY_KEYS].join(', ')})`);
  }
  const q = url.searchParams;
  const prefix = q.get('prefix');
  if (prefix !== null && !/^[A-Za-z0-9._:-]{0,64}$/.test(prefix)) throw new StoreSpecError('prefix is up to 64 of [A-Za-z0-9._:-]');
  const password = readPassword(env);
  const clean = `${url.protocol}//${url.username !== '' ? `${url.username}@` : ''}${url.host}${url.pathname === '/' ? '' : url.pathname}`;
  const options: Omit<RedisStoreOptions, 'logger' | 'now'> = {
    url: clean,
    ...(password !== undefined ? { password } : {}),
    ...(prefix !== null ? { prefix } : {}),
    ...(q.has('stale-reads') ? { staleReadsMs: duration('stale-reads', q.get('stale-reads')!) } : {}),
    ...(q.has('retention') ? { retentionMs: duration('retention', q.get('retention')!) } : {}),
    ...(q.has('connect-timeout') ? { connectTimeoutMs: duration('connect-timeout', q.get('connect-timeout')!) } : {}),
    ...(q.has('command-timeout') ? { commandTimeoutMs: duration('command-timeout', q.get('command-timeout')!) } : {}),
  };
  return { kind: 'redis', options };
}

/** Opens the store a `--store` value names: the file store, or Redis (connected and subscribed). */
export async function openNodeStore(spec: string | undefined, options: OpenStoreOptions): Promise<OpenedNodeStore> {
  const parsed = parseStoreSpec(spec, options.dataDir, options.env ?? {});
  if (parsed.kind === 'file') {
    const store = await FileNodeStore.open(parsed.dir);
    return Object.assign(store, { kind: 'file' as const });
  }
  // The Redis client is loaded only for a Redis store: about 20 MiB of every process otherwise,
  // and a cluster runs one process per core.
  const { RedisNodeStore } = await import('./redis-store.js');
  return RedisNodeStore.open({ ...parsed.options, ...(options.logger ? { logger: options.logger } : {}) });
}
