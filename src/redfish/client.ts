// A small Redfish client (DMTF DSP0266) over undici: the service root read unauthenticated, a
// session (X-Auth-Token, DELETEd at the end) with Basic auth as the fallback, `OData-Version: 4.0`,
// TLS with a CA bundle or an explicit insecure mode, bounded retries with backoff on 5xx and "not
// ready" answers, 202 + Location task monitors honouring Retry-After, and PATCH with If-Match plus
// the weak-ETag and no-precondition retries real BMCs need. Time is bounded per call and for the
// whole operation (budget.ts); one client serves one operation. Every failure is a RedfishError
// naming the BMC, the resource and the step, with the BMC's own ExtendedInfo text.
// Credentials are never logged: only method, path and status are.

import type { Agent, Dispatcher } from 'undici';
import { undici } from '../undici.js';
import { pino, type Logger } from 'pino';
import { RedfishError, type RedfishErrorCode } from '../errors.js';
import { DEFAULT_CALL_TIMEOUT_MS, DEFAULT_OPERATION_TIMEOUT_MS, isCallTimeout, LOGOUT_TIMEOUT_MS, OperationBudget } from './budget.js';
import { exchange, type RedfishResponse } from './exchange.js';
import { errorMessageIds, errorMessages, isObject, obj, odataId, str, type JsonObject } from './json.js';

export interface TlsOptions {
  /** Skip certificate verification (self-signed BMC certificates); must be asked for explicitly. */
  readonly insecure?: boolean;
  /** PEM CA bundle to verify the BMC's certificate against. */
  readonly ca?: string | Buffer;
}

export interface RetryOptions {
  /** Total attempts for a request that fails with 5xx / not ready / a network error. */
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export type { RedfishResponse } from './exchange.js';

export interface RedfishClientOptions {
  /** Base URL of the BMC, e.g. https://10.0.0.5 (a path, if any, is ignored). */
  readonly bmc: string;
  readonly username: string;
  readonly password: string;
  readonly tls?: TlsOptions;
  /** Per Redfish call: the wait for the response headers, and for each gap in the body. Default 30 s. */
  readonly timeoutMs?: number;
  /**
   * Everything done through this client (login, calls, retries, backoff, task polling), counted
   * from its creation; then the operation fails with REDFISH_TIMEOUT. Default 90 s.
   */
  readonly operationTimeoutMs?: number;
  /** The caller's cancellation (e.g. the admin request went away); fails with REDFISH_ABORTED. */
  readonly signal?: AbortSignal;
  readonly retry?: Partial<RetryOptions>;
  /** Polls of a task monitor before giving up. Default 120. */
  readonly maxTaskPolls?: number;
  /** Cap on a Retry-After a BMC asks for, in ms. Default 10 s. */
  readonly maxRetryAfterMs?: number;
  readonly logger?: Logger;
  /** Injected in tests so backoff and polling cost no wall-clock time. */
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface RedfishResource {
  readonly path: string;
  readonly body: JsonObject;
  /** The ETag header, else `@odata.etag`. */
  readonly etag: string | undefined;
  /** Methods from the Allow header, upper-cased. */
  readonly allow: ReadonlySet<string>;
}

interface SendOptions {
  readonly auth?: boolean;
  readonly retries?: boolean;
  readonly renew?: boolean;
  readonly headers?: Record<string, string>;
  /** Replaces the operation's signal (the session DELETE at close has its own short budget). */
  readonly signal?: AbortSignal;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The BMC as named in errors and logs: origin only, never userinfo. */
export function bmcName(bmc: string): string {
  try {
    return new URL(bmc).origin;
  } catch {
    return bmc.replace(/\/\/[^@/]*@/, '//');
  }
}

/** MessageIds that mean "try again shortly" rather than "no". */
const NOT_READY = /ServiceTemporarilyUnavailable|ResourceInUse|NotReady|ServiceInUnknownState|ServiceShuttingDown|Busy/i;

const RUNNING_TASK_STATES = new Set(['New', 'Starting', 'Running', 'Pending', 'Stopping', 'Suspended', 'Interrupted', 'Service']);

export function isRetryable(status: number, body: unknown): boolean {
  if (status >= 500 || status === 429) return true;
  return errorMessageIds(body).some((id) => NOT_READY.test(id));
}

export class RedfishClient {
  readonly bmc: string;
  private readonly origin: string;
  private readonly agent: Agent;
  /** For the steps' warnings; never given credentials. */
  readonly log: Logger;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly retry: RetryOptions;
  private readonly timeoutMs: number;
  private readonly maxTaskPolls: number;
  private readonly maxRetryAfterMs: number;
  private readonly budget: OperationBudget;
  private authHeader: Record<string, string> = {};
  private sessionPath: string | undefined;
  private sessionsPath: string | undefined;
  private root: JsonObject | undefined;

  constructor(private readonly options: RedfishClientOptions) {
    let url: URL;
    try {
      url = new URL(options.bmc);
    } catch {
      throw new RedfishError('REDFISH_BAD_URL', bmcName(options.bmc), options.bmc, 'parse BMC URL', 'not a URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new RedfishError('REDFISH_BAD_URL', bmcName(options.bmc), options.bmc, 'parse BMC URL', 'scheme must be http or https');
    }
    this.origin = url.origin;
    this.bmc = url.origin;
    this.log = options.logger ?? pino({ level: 'silent' });
    this.sleep = options.sleep ?? defaultSleep;
    this.retry = { attempts: 4, baseDelayMs: 500, maxDelayMs: 8000, ...options.retry };
    this.timeoutMs = options.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.budget = new OperationBudget(options.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS, options.signal);
    this.maxTaskPolls = options.maxTaskPolls ?? 120;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 10_000;
    const tls = options.tls ?? {};
    this.agent = new (undici().Agent)({
      connect: { rejectUnauthorized: tls.insecure !== true, ...(tls.ca !== undefined ? { ca: tls.ca } : {}) },
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
  }

  error(code: RedfishErrorCode, resource: string, step: string, message: string, status?: number, cause?: unknown): RedfishError {
    return new RedfishError(code, this.bmc, resource, step, message, status, cause === undefined ? undefined : { cause });
  }

  /** Reads the service root (unauthenticated) and logs in: a session if offered, else Basic. */
  async open(): Promise<JsonObject> {
    const root = await this.send('GET', '/redfish/v1/', undefined, 'read service root', { auth: false });
    if (root.status !== 200 || !isObject(root.body)) {
      throw this.fail(root, '/redfish/v1/', 'read service root', 'REDFISH_NO_SERVICE');
    }
    this.root = root.body;
    const sessions =
      odataId(obj(root.body['Links'])?.['Sessions']) ??
      (odataId(root.body['SessionService']) ? `${odataId(root.body['SessionService'])}/Sessions` : undefined);
    const basic = `Basic ${Buffer.from(`${this.options.username}:${this.options.password}`).toString('base64')}`;
    if (sessions) {
      this.sessionsPath = sessions;
      if (await this.createSession()) return root.body;
    }
    // Basic auth: prove the credentials now so a wrong password fails at "log in", not later.
    this.authHeader = { authorization: basic };
    const systems = odataId(root.body['Systems']) ?? '/redfish/v1/Systems';
    const probe = await this.send('GET', systems, undefined, 'log in');
    if (probe.status === 401 || probe.status === 403) throw this.fail(probe, systems, 'log in', 'REDFISH_AUTH');
    return root.body;
  }

  /** POSTs a session; true when one was opened, false when the service wants Basic auth instead. */
  private async createSession(): Promise<boolean> {
    const sessions = this.sessionsPath as string;
    const res = await this.send('POST', sessions, { UserName: this.options.username, Password: this.options.password }, 'log in', { auth: false });
    const token = res.headers['x-auth-token'];
    if ((res.status === 200 || res.status === 201) && token) {
      this.authHeader = { 'x-auth-token': token };
      const loc = res.headers['location'];
      this.sessionPath = loc ? this.toPath(loc) : (odataId(res.body) ?? str(obj(res.body)?.['@odata.id']));
      this.log.debug({ bmc: this.bmc }, 'redfish session opened');
      return true;
    }
    if (res.status === 401 || res.status === 403) throw this.fail(res, sessions, 'log in', 'REDFISH_AUTH');
    this.log.debug({ bmc: this.bmc, status: res.status }, 'no session, falling back to Basic auth');
    return false;
  }

  /** A session the BMC dropped (expired, BMC reset) is replaced once per request. */
  private async renewSession(): Promise<void> {
    const old = this.sessionPath;
    this.sessionPath = undefined;
    if (old) await this.send('DELETE', old, undefined, 'log out', { retries: false, renew: false }).catch(() => undefined);
    if (!(await this.createSession())) {
      throw this.error('REDFISH_AUTH', this.sessionsPath ?? '', 'log in', 'the session was dropped and no new one could be opened');
    }
  }

  get serviceRoot(): JsonObject {
    if (!this.root) throw this.error('REDFISH_STATE', '/redfish/v1/', 'use client', 'open() was not called');
    return this.root;
  }

  /** Deletes the session (best effort) and closes the connection pool. */
  async close(): Promise<void> {
    try {
      if (this.sessionPath) {
        const logout = { retries: false, renew: false, signal: AbortSignal.timeout(Math.min(this.timeoutMs, LOGOUT_TIMEOUT_MS)) };
        const res = await this.send('DELETE', this.sessionPath, undefined, 'log out', logout).catch(() => undefined);
        if (res && res.status >= 400) this.log.debug({ bmc: this.bmc, status: res.status }, 'session delete refused');
      }
    } finally {
      this.sessionPath = undefined;
      this.authHeader = {};
      await this.agent.close().catch(() => undefined);
    }
  }

  /** GET a resource, failing on anything but 200 with a JSON object. */
  async get(path: string, step: string): Promise<RedfishResource> {
    const res = await this.send('GET', path, undefined, step);
    if (res.status !== 200 || !isObject(res.body)) throw this.fail(res, path, step, res.status === 404 ? 'REDFISH_NOT_FOUND' : 'REDFISH_HTTP');
    const allow = new Set(
      (res.headers['allow'] ?? '')
        .split(',')
        .map((m) => m.trim().toUpperCase())
        .filter(Boolean),
    );
    return { path, body: res.body, etag: res.headers['etag'] ?? str(res.body['@odata.etag']), allow };
  }

  /**
   * POST an action. 202 + Location is followed as a task monitor; other answers are returned as is
   * (after retries) so the caller can branch on 400/405/415.
   */
  async post(path: string, body: unknown, step: string): Promise<RedfishResponse> {
    const res = await this.send('POST', path, body, step);
    return res.status === 202 ? this.followTask(res, path, step) : res;
  }

  /**
   * PATCH with If-Match. On 412 with a weak ETag, retry with it made strong; then without If-Match
   * (services that mint ETags they do not accept back). Returns the final response.
   */
  async patch(path: string, body: unknown, etag: string | undefined, step: string): Promise<RedfishResponse> {
    const tries: (string | undefined)[] = [etag];
    if (etag?.startsWith('W/')) tries.push(etag.slice(2));
    if (etag !== undefined) tries.push(undefined);
    let res: RedfishResponse | undefined;
    for (const tag of tries) {
      res = await this.send('PATCH', path, body, step, { headers: tag !== undefined ? { 'if-match': tag } : {} });
      if (res.status !== 412) break;
      this.log.debug({ bmc: this.bmc, path, weak: tag?.startsWith('W/') ?? false, withTag: tag !== undefined }, 'precondition failed, retrying');
    }
    const final = res as RedfishResponse;
    return final.status === 202 ? this.followTask(final, path, step) : final;
  }

  /** Backoff between polls of an effect that is slow to show (eject, insert), by poll number. */
  async wait(poll: number): Promise<void> {
    await this.pause(Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** Math.min(poll, 10)));
  }

  /** Sleeps, cut short when the operation's budget runs out (the next call then fails with the reason). */
  private async pause(ms: number): Promise<void> {
    await this.budget.pause(ms, this.sleep);
  }

  /** The error for an operation stopped by its budget or its caller. */
  private stopped(path: string, step: string): RedfishError {
    const stop = this.budget.stop();
    return this.error(stop.code, path, step, stop.message, undefined, stop.cause);
  }

  /** Throws a RedfishError for a response that is not 2xx. */
  expectOk(res: RedfishResponse, path: string, step: string, code: RedfishErrorCode = 'REDFISH_HTTP'): RedfishResponse {
    if (res.status >= 200 && res.status < 300) return res;
    throw this.fail(res, path, step, code);
  }

  fail(res: RedfishResponse, path: string, step: string, code: RedfishErrorCode): RedfishError {
    const detail = errorMessages(res.body) ?? textOf(res.body);
    const auth = res.status === 401 || res.status === 403;
    const why = detail ? `: ${detail}` : auth ? ': authentication failed' : '';
    return this.error(auth ? 'REDFISH_AUTH' : code, path, step, `HTTP ${res.status}${why}`, res.status);
  }

  /** Polls a task monitor until it stops answering 202, honouring Retry-After. */
  private async followTask(accepted: RedfishResponse, path: string, step: string): Promise<RedfishResponse> {
    const location = accepted.headers['location'];
    if (!location) throw this.error('REDFISH_TASK', path, step, 'HTTP 202 without a Location task monitor', 202);
    const monitor = this.toPath(location);
    let last = accepted;
    for (let poll = 0; poll < this.maxTaskPolls; poll++) {
      await this.pause(this.retryAfterMs(last.headers['retry-after']));
      last = await this.send('GET', monitor, undefined, `${step} (task)`);
      if (last.status === 202) continue;
      if (last.status === 404 && poll > 0) {
        // Some services drop a finished monitor; the caller verifies the effect with a fresh GET.
        return { status: 204, headers: last.headers, body: undefined };
      }
      if (last.status >= 400) throw this.fail(last, monitor, `${step} (task)`, 'REDFISH_TASK');
      const body = obj(last.body);
      const state = str(body?.['TaskState']);
      const taskStatus = str(body?.['TaskStatus']);
      if (state === 'Exception' || state === 'Killed' || state === 'Cancelled' || taskStatus === 'Critical') {
        const msgs = Array.isArray(body?.['Messages'])
          ? (body['Messages'] as unknown[])
              .map((m) => str(obj(m)?.['Message']))
              .filter(Boolean)
              .join('; ')
          : '';
        throw this.error('REDFISH_TASK', monitor, `${step} (task)`, `task ended ${state ?? taskStatus}${msgs ? `: ${msgs}` : ''}`, last.status);
      }
      // A monitor that answers 200 with a Task still running (some BMCs do) is polled again.
      if (state !== undefined && state !== 'Completed' && RUNNING_TASK_STATES.has(state)) continue;
      return last;
    }
    throw this.error('REDFISH_TASK', monitor, `${step} (task)`, `task still running after ${this.maxTaskPolls} polls`);
  }

  private retryAfterMs(header: string | undefined): number {
    const secs = header !== undefined ? Number(header) : NaN;
    const ms = Number.isFinite(secs) && secs >= 0 ? secs * 1000 : 1000;
    return Math.min(ms, this.maxRetryAfterMs);
  }

  private toPath(location: string): string {
    const url = new URL(location, this.origin);
    return url.pathname + url.search;
  }

  /** One request with bounded retries on network errors, 5xx and not-ready answers. */
  private async send(method: Dispatcher.HttpMethod, path: string, body: unknown, step: string, opts: SendOptions = {}): Promise<RedfishResponse> {
    const attempts = opts.retries === false ? 1 : Math.max(1, this.retry.attempts);
    // The session DELETE at close brings its own signal, so it runs after the budget is spent.
    const signal = opts.signal ?? this.budget.signal;
    let lastError: unknown;
    let renewed = opts.renew === false;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (attempt > 1) await this.pause(Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 2)));
      if (signal === this.budget.signal && this.budget.stopped) throw this.stopped(path, step);
      try {
        const res = await this.once(method, path, body, { ...opts, signal });
        this.log.debug({ bmc: this.bmc, method, path, status: res.status, step }, 'redfish request');
        if (res.status === 401 && !renewed && opts.auth !== false && this.sessionPath !== undefined) {
          renewed = true;
          this.log.debug({ bmc: this.bmc, path }, 'session rejected, opening a new one');
          await this.renewSession();
          attempt--;
          continue;
        }
        if (attempt < attempts && isRetryable(res.status, res.body)) {
          this.log.debug({ bmc: this.bmc, method, path, status: res.status, attempt }, 'retrying');
          lastError = res;
          continue;
        }
        return res;
      } catch (err) {
        if (err instanceof RedfishError) throw err;
        if (signal === this.budget.signal && this.budget.stopped) throw this.stopped(path, step);
        lastError = err;
        this.log.debug({ bmc: this.bmc, method, path, attempt, err: (err as Error).message }, 'request failed');
      }
    }
    if (isCallTimeout(lastError)) {
      throw this.error('REDFISH_TIMEOUT', path, step, `no answer within ${this.timeoutMs} ms (after ${attempts} attempts)`, undefined, lastError);
    }
    if (lastError instanceof Error) {
      throw this.error('REDFISH_UNREACHABLE', path, step, `${lastError.message} (after ${attempts} attempts)`, undefined, lastError);
    }
    return lastError as RedfishResponse;
  }

  private once(method: Dispatcher.HttpMethod, path: string, body: unknown, opts: SendOptions & { signal: AbortSignal }): Promise<RedfishResponse> {
    const headers: Record<string, string> = {
      accept: 'application/json',
      'odata-version': '4.0',
      ...(opts.auth === false ? {} : this.authHeader),
      ...opts.headers,
    };
    return exchange(this.agent, this.origin + path, method, headers, body, this.timeoutMs, opts.signal);
  }
}

/**
 * A short, single-line excerpt of a body that is not a Redfish error (a BMC web server's HTML
 * error page, a proxy's text), so the error says what the BMC said rather than only a status.
 */
function textOf(body: unknown): string | undefined {
  if (typeof body !== 'string') return undefined;
  const text = body
    .replace(/<(script|style)[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (text === '') return undefined;
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
