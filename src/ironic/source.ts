// The Ironic node source: `/ironic/<node>.iso` specs from what the operator wrote in Ironic.
//
// A BMC mount is thousands of range requests, so Ironic is asked at most once per node per cache
// period, not per request:
// - a node's answer (spec, refusal, or "no such node") is used for `cacheTtlMs`; a lookup in the
//   last quarter of that period (at most 1 s) refreshes it in the background, so a busy node
//   never waits for Ironic and a change in Ironic still reaches every request that starts after
//   the period (a new spec, hence a new ETag);
// - concurrent lookups of one node share one Ironic call (single flight), cold or warm;
// - when Ironic cannot be asked (refused, timeout, 5xx, credentials refused), a node with an
//   answer younger than `staleMaxMs` keeps it (logged at warn, once per failed refresh) and is
//   retried in the background once per cache period, so only the first request after Ironic
//   went away waits for its timeout; any other lookup fails with IronicUnavailableError (503,
//   Retry-After), and Ironic is asked again after a cache period, not per request.
// Refusals (no base, base outside the allowlist, bad edits, provision state) are
// IronicNodeRefusedError, a NotFoundError: logged with the node's UUID when they first appear.

import { loggableEdits, redactUrl } from '../redact.js';
import type { Logger } from 'pino';
import { LRUCache } from 'lru-cache';
import type { Dispatcher } from 'undici';
import { IsoproxyError } from '../errors.js';
import type { NodeSpec } from '../registry/store.js';
import type { NodeSource } from '../serving/node-source.js';
import { createIronicClient, type IronicClient } from './client.js';
import { IronicAuthError, type IronicNodeRefusedError, IronicUnavailableError } from './errors.js';
import { createIronicAgent } from './http.js';
import { resolveNode, type Resolution } from './mapping.js';
import type { IronicOptions } from './options.js';

/** Node identifiers Ironic accepts: a UUID or a logical name (RFC 3986 unreserved characters). */
const IDENT = /^[A-Za-z0-9._~-]{1,255}$/;
/** Nodes whose answers are kept; beyond it the least recently used are forgotten. */
const MAX_NODES = 10_000;

export interface IronicSourceOptions extends IronicOptions {
  /** The serving core's upstream allowlist check (throws with a clear message when not allowed). */
  readonly checkUpstreamAllowed: (url: string) => void;
}

export interface IronicSourceDeps {
  readonly now?: () => number;
  /** Shared agent; by default the source makes its own (closed by close()). */
  readonly dispatcher?: Dispatcher;
}

export interface IronicSourceStats {
  /** Lookups answered. */
  readonly lookups: number;
  /** Requests sent to Ironic. */
  readonly ironicRequests: number;
  readonly tokensIssued: number;
  /** Lookups answered from a stale answer because Ironic could not be asked. */
  readonly staleAnswers: number;
  /** Lookups that failed with IronicUnavailableError. */
  readonly unavailable: number;
}

export interface IronicSource extends NodeSource {
  readonly kind: 'ironic';
  /** Asks Ironic now (no cache) and returns everything known about the node (`ironic check`). */
  resolve(name: string, signal?: AbortSignal): Promise<Resolution | undefined>;
  readonly stats: IronicSourceStats;
  onChange(listener: (name: string) => void): void;
  close(): Promise<void>;
}

type Outcome =
  | { readonly kind: 'spec'; readonly spec: NodeSpec; readonly uuid: string; readonly key: string }
  | { readonly kind: 'refused'; readonly error: IronicNodeRefusedError; readonly key: string }
  | { readonly kind: 'absent'; readonly key: string };

interface Entry {
  /** The last answer Ironic gave, and when. */
  outcome?: Outcome;
  outcomeAt: number;
  /** When Ironic was last asked (answer or failure): the cache period runs from here. */
  checkedAt: number;
  /** Set when the last attempt failed. */
  failure?: Error;
  inflight?: Promise<void>;
}

function withAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

export function createIronicSource(options: IronicSourceOptions, logger: Logger, deps: IronicSourceDeps = {}): IronicSource {
  const now = deps.now ?? Date.now;
  const log = logger.child({ source: 'ironic' });
  const ownAgent =
    deps.dispatcher === undefined
      ? createIronicAgent({ ...(options.ca ? { ca: options.ca } : {}), insecure: options.insecure }, options.timeoutMs)
      : undefined;
  const client: IronicClient = createIronicClient({
    url: options.url,
    auth: options.auth,
    timeoutMs: options.timeoutMs,
    dispatcher: deps.dispatcher ?? ownAgent!,
  });
  const ttl = options.cacheTtlMs;
  const refreshAhead = Math.min(1000, ttl / 4);
  const entries = new LRUCache<string, Entry>({ max: MAX_NODES });
  const listeners = new Set<(name: string) => void>();
  const mapping = {
    ...(options.defaultBase !== undefined ? { defaultBase: options.defaultBase } : {}),
    defaultAppend: options.defaultAppend,
    provisionStates: options.provisionStates,
    checkUpstreamAllowed: options.checkUpstreamAllowed,
  };
  let lookups = 0;
  let staleAnswers = 0;
  let unavailable = 0;
  let closed = false;

  log.info(
    {
      url: options.url,
      auth: options.auth.type,
      cacheTtlMs: ttl,
      staleMaxMs: options.staleMaxMs,
      provisionStates: options.provisionStates ? [...options.provisionStates] : '*',
      defaultBase: options.defaultBase ?? null,
    },
    'Ironic node source on',
  );

  function outcomeOf(_name: string, res: Resolution): Outcome {
    const first = res.refusals[0];
    if (first) return { kind: 'refused', error: first, key: `refused ${first.reason} ${first.detail}` };
    const spec = res.spec!;
    return { kind: 'spec', spec, uuid: res.node.uuid, key: JSON.stringify(['spec', spec.bootIso, spec.edits]) };
  }

  async function refresh(name: string, entry: Entry): Promise<void> {
    const started = performance.now();
    // The answer is at least as new as the moment it was asked for: its period runs from then,
    // so a change made in Ironic at time c reaches every lookup that starts after c + ttl.
    const askedAt = now();
    try {
      const answer = await client.getNode(name);
      const previous = entry.outcome;
      let outcome: Outcome = answer.found
        ? outcomeOf(name, resolveNode(name, answer.node, mapping, new Date(now()).toISOString()))
        : { kind: 'absent', key: 'absent' };
      // The same content keeps the same spec object, so its updatedAt (Last-Modified) stays put.
      if (previous?.kind === 'spec' && previous.key === outcome.key) outcome = previous;
      entry.outcome = outcome;
      entry.outcomeAt = askedAt;
      entry.checkedAt = askedAt;
      if (entry.failure) log.info({ node: name, ms: Math.round(performance.now() - started) }, 'Ironic answers again');
      delete entry.failure;
      if (previous?.key !== outcome.key) {
        if (outcome.kind === 'refused') {
          const e = outcome.error;
          log.warn({ node: name, uuid: e.uuid, reason: e.reason, detail: e.detail }, 'Ironic node refused');
        } else if (outcome.kind === 'spec') {
          log.info(
            {
              node: name,
              uuid: outcome.uuid,
              base: redactUrl(outcome.spec.bootIso),
              edits: loggableEdits(outcome.spec.edits),
              changed: previous !== undefined,
            },
            'Ironic node resolved',
          );
        } else if (previous !== undefined) {
          log.info({ node: name }, 'Ironic no longer knows the node');
        }
        if (previous !== undefined) for (const l of listeners) l(name);
      }
    } catch (err) {
      entry.checkedAt = now();
      entry.failure = err instanceof Error ? err : new Error(String(err));
      const age = entry.outcome ? now() - entry.outcomeAt : undefined;
      const fields = { node: name, err: entry.failure.message, code: err instanceof IsoproxyError ? err.code : undefined, lastAnswerAgeMs: age };
      if (err instanceof IronicAuthError) log.error(fields, "Ironic refused isoproxy's credentials");
      else if (age !== undefined && age <= options.staleMaxMs)
        log.warn({ ...fields, staleMaxMs: options.staleMaxMs }, "Ironic unreachable; keeping the node's last answer");
      else log.error(fields, 'Ironic unreachable');
    }
  }

  function startRefresh(name: string, entry: Entry): Promise<void> {
    entry.inflight ??= refresh(name, entry).finally(() => {
      delete entry.inflight;
    });
    return entry.inflight;
  }

  function answer(name: string, entry: Entry): NodeSpec | undefined {
    const outcome = entry.outcome;
    if (entry.failure) {
      const fresh = outcome !== undefined && now() - entry.outcomeAt <= options.staleMaxMs;
      if (!fresh) {
        unavailable++;
        const status = (entry.failure as { status?: unknown }).status;
        throw new IronicUnavailableError(name, options.retryAfterS, entry.failure.message, typeof status === 'number' ? status : undefined, {
          cause: entry.failure,
        });
      }
      staleAnswers++;
    }
    if (!outcome) throw new IronicUnavailableError(name, options.retryAfterS, 'no answer yet');
    if (outcome.kind === 'refused') throw outcome.error;
    return outcome.kind === 'spec' ? outcome.spec : undefined;
  }

  async function lookup(name: string, signal?: AbortSignal): Promise<NodeSpec | undefined> {
    if (closed) throw new IronicUnavailableError(name, options.retryAfterS, 'the Ironic source is closed');
    lookups++;
    if (!IDENT.test(name) || name === '.' || name === '..') return undefined;
    let entry = entries.get(name);
    if (!entry) {
      entry = { outcomeAt: -Infinity, checkedAt: -Infinity };
      entries.set(name, entry);
    }
    const age = now() - entry.checkedAt;
    const t = now();
    if (age >= ttl && entry.failure && entry.outcome && t - entry.outcomeAt <= options.staleMaxMs) {
      // Ironic failed last time and the node has a usable answer: retry behind it rather than
      // make every request of a mount wait out Ironic's timeout again.
      void startRefresh(name, entry);
    } else if (age >= ttl) {
      await withAbort(startRefresh(name, entry), signal);
    } else if (age >= ttl - refreshAhead && !entry.failure) {
      void startRefresh(name, entry);
    }
    return answer(name, entry);
  }

  return {
    kind: 'ironic',
    lookup,
    async resolve(name, signal) {
      if (!IDENT.test(name)) return undefined;
      const res = await withAbort(client.getNode(name, signal), signal);
      return res.found ? resolveNode(name, res.node, mapping) : undefined;
    },
    onChange(listener) {
      listeners.add(listener);
    },
    get stats(): IronicSourceStats {
      return { lookups, ironicRequests: client.requests, tokensIssued: client.tokensIssued, staleAnswers, unavailable };
    },
    async close() {
      closed = true;
      entries.clear();
      listeners.clear();
      await ownAgent?.close();
    },
  };
}
