// Options of the http(s) upstream and the one keep-alive agent a process shares.
//
// Time budgets, chosen to fit what BMCs and Ironic wait for (a virtual-media client gives up on a
// read after tens of seconds, so a failure must reach it well before that, as a status):
// - connectTimeoutMs (10 s): TCP and TLS connect, per attempt;
// - headersTimeoutMs (10 s): from sending a request to its response headers, per attempt;
// - bodyTimeoutMs (15 s): the longest silence between two body chunks, per attempt;
// - probeTimeoutMs (30 s): opening a base, all probe attempts, retries and backoff included.
// Retries (retry.ts) restart the per-attempt timers, so the whole of a read is bounded by its
// caller: the block cache gives each block fetch a total budget (BlockCacheOptions.fetchTimeoutMs).
// Every budget that runs out fails with UPSTREAM_TIMEOUT (504 at the HTTP layer).

import type { Agent, Dispatcher } from 'undici';
import { undici } from '../undici.js';
import type { LoggerLike, UpstreamStats } from './types.js';

export interface HttpSourceOptions {
  /** Shared keep-alive agent (a pool per origin). Without one the source makes and owns its own. */
  dispatcher?: Dispatcher;
  /** Only used when the source makes its own agent. */
  connectTimeoutMs?: number;
  /** Time from sending a request to its response headers. */
  headersTimeoutMs?: number;
  /** Longest silence between two body chunks. */
  bodyTimeoutMs?: number;
  /** Time to open a base (the probe), retries and backoff included. */
  probeTimeoutMs?: number;
  /** Consecutive retries without progress before a read fails. */
  maxRetries?: number;
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  maxRedirects?: number;
  /**
   * Called with every redirect target before it is requested; throws to refuse it (the request
   * then fails with UPSTREAM_NOT_ALLOWED). openUpstream passes the allowlist check here, so a
   * redirect cannot lead outside what a node's URL itself may name.
   */
  checkRedirect?: (url: string) => void;
  stats?: UpstreamStats;
  logger?: LoggerLike;
  /** Cancels the opening probe. */
  signal?: AbortSignal;
}

export const HTTP_DEFAULTS = {
  connectTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 15_000,
  probeTimeoutMs: 30_000,
  maxRetries: 4,
  retryBaseDelayMs: 100,
  retryMaxDelayMs: 3_000,
  maxRedirects: 5,
};

/** Options with every default filled in (an explicit `undefined` gets the default too). */
export type ResolvedHttpOptions = typeof HTTP_DEFAULTS & HttpSourceOptions;

export function resolveHttpOptions(options: HttpSourceOptions): ResolvedHttpOptions {
  const opts = { ...HTTP_DEFAULTS, ...options } as ResolvedHttpOptions;
  for (const k of Object.keys(HTTP_DEFAULTS) as (keyof typeof HTTP_DEFAULTS)[]) if (opts[k] === undefined) opts[k] = HTTP_DEFAULTS[k];
  return opts;
}

/** A keep-alive agent for upstream traffic; share one per process. */
export function createUpstreamAgent(options: { connectTimeoutMs?: number; connectionsPerOrigin?: number; keepAliveTimeoutMs?: number } = {}): Agent {
  return new (undici().Agent)({
    connect: { timeout: options.connectTimeoutMs ?? HTTP_DEFAULTS.connectTimeoutMs },
    connections: options.connectionsPerOrigin ?? 16,
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 30_000,
    // One request at a time per connection: a reset then costs one request, not a pipeline.
    pipelining: 1,
  });
}
