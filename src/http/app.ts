// The hono app of `isoproxy serve`: ISO routes, the admin API, health and metrics, with a request
// id and a pino child logger per request, one log line per request (per transfer for image
// bodies, written when the body ends) and Prometheus metrics. Errors become responses in one
// place (errors.ts) through app.onError.

import { Hono } from 'hono';
import type { Logger } from 'pino';
import { MetricsRegistry, type Counter, type Gauge, type Histogram } from '../metrics.js';
import type { NodeStore } from '../registry/store.js';
import { adminRoutes, bearerAuth } from './admin-routes.js';
import { vmediaRoutes } from '../redfish/routes.js';
import { NotFoundError } from '../errors.js';
import { errorCode, errorResponse, errorStatus } from './errors.js';
import { isoRoutes, type IsoEnv, type TransferRecord } from './iso-routes.js';
import type { ImageResolver } from './types.js';

export interface AppDeps {
  readonly resolver: ImageResolver;
  readonly store: NodeStore;
  readonly logger: Logger;
  readonly publicUrl: string;
  readonly adminToken?: string;
  readonly checkUpstreamAllowed: (url: string) => void;
  readonly validateEdits: (edits: unknown) => void;
  /** Prometheus lines from the cache, upstream and remaster pool, appended to /metrics. */
  readonly metricsText?: () => string;
  /** /readyz answers 503 while this is false. */
  readonly ready?: () => boolean;
  /** The clock for expiry and timestamps (tests pin it). */
  readonly now?: () => Date;
  readonly etagTimeoutMs?: number;
}

export interface HttpMetrics {
  readonly registry: MetricsRegistry;
  readonly requests: Counter;
  readonly bytesServed: Counter;
  readonly activeTransfers: Gauge;
  readonly transfers: Counter;
  readonly transferSeconds: Histogram;
}

export interface IsoproxyApp {
  readonly app: Hono<AppEnv>;
  readonly fetch: Hono<AppEnv>['fetch'];
  readonly metrics: HttpMetrics;
  /** Image bodies being written now. */
  activeTransfers(): number;
  /** Resolves when no image body is being written. */
  idle(): Promise<void>;
}

export type AppEnv = IsoEnv & { Variables: { log: Logger } };

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

function routeOf(path: string): string {
  if (path.startsWith('/iso/')) return 'iso';
  if (path.startsWith('/api/')) return 'api';
  if (path === '/healthz' || path === '/readyz') return 'health';
  if (path === '/metrics') return 'metrics';
  return 'other';
}

export function createHttpMetrics(): HttpMetrics {
  const registry = new MetricsRegistry();
  return {
    registry,
    requests: registry.counter('isoproxy_http_requests_total', 'HTTP requests by route and status.', ['route', 'status']),
    bytesServed: registry.counter('isoproxy_http_bytes_served_total', 'Image body bytes written to clients.'),
    activeTransfers: registry.gauge('isoproxy_transfers_active', 'Image bodies being written now.'),
    transfers: registry.counter('isoproxy_transfers_total', 'Image body transfers by outcome.', ['outcome']),
    transferSeconds: registry.histogram('isoproxy_transfer_duration_seconds', 'Duration of image body transfers.',
      [0.005, 0.025, 0.1, 0.5, 1, 5, 15, 60, 300, 1800]),
  };
}

export function createApp(deps: AppDeps): IsoproxyApp {
  const now = deps.now ?? (() => new Date());
  const metrics = createHttpMetrics();
  const app = new Hono<AppEnv>();
  let seq = 0;
  let active = 0;
  let idleWaiters: Array<() => void> = [];

  app.use('*', async function requestContext(c, next) {
    const given = c.req.header('x-request-id');
    const requestId = given !== undefined && REQUEST_ID.test(given) ? given : `r${(++seq).toString(36)}`;
    c.set('requestId', requestId);
    c.set('transfer', false);
    const log = deps.logger.child({ reqId: requestId });
    c.set('log', log);
    const t0 = performance.now();
    await next();
    c.header('X-Request-Id', requestId);
    // Image transfers log and count when their body ends (see `finished` below).
    if (c.get('transfer')) return;
    const status = c.res.status;
    metrics.requests.inc({ route: routeOf(c.req.path), status: String(status) });
    const line = { method: c.req.method, path: c.req.path, status, durationMs: Math.round((performance.now() - t0) * 1000) / 1000 };
    if (c.req.path === '/healthz' || c.req.path === '/readyz' || c.req.path === '/metrics') log.debug(line, 'request');
    else log.info(line, 'request');
  });

  app.onError((err, c) => {
    const status = errorStatus(err);
    const log = c.get('log') ?? deps.logger;
    const fields = { err, code: errorCode(err), status, method: c.req.method, path: c.req.path };
    if (status >= 500) log.error(fields, 'request failed');
    else log.info(fields, 'request refused');
    return errorResponse(c, err);
  });

  app.notFound((c) => c.json({ error: { code: 'NOT_FOUND', message: `no route for ${c.req.method} ${c.req.path}` } }, 404));

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', (c) => {
    const ready = deps.ready?.() ?? true;
    return c.json({ status: ready ? 'ready' : 'starting' }, ready ? 200 : 503);
  });
  app.get('/metrics', (c) => {
    const text = metrics.registry.render() + (deps.metricsText?.() ?? '');
    return c.body(text.endsWith('\n') ? text : `${text}\n`, 200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
  });

  const finished = (r: TransferRecord): void => {
    active -= 1;
    metrics.activeTransfers.set(active);
    metrics.requests.inc({ route: 'iso', status: String(r.status) });
    metrics.bytesServed.inc({}, r.bytes);
    metrics.transfers.inc({ outcome: r.outcome });
    metrics.transferSeconds.observe(r.durationMs / 1000);
    const lookups = r.stats ? r.stats.cacheHits + r.stats.cacheMisses : 0;
    const line = {
      method: r.method, node: r.node, range: r.rangeHeader ?? null, served: r.served, status: r.status, bytes: r.bytes,
      expectedBytes: r.expectedBytes, durationMs: r.durationMs, outcome: r.outcome,
      ...(r.stats ? { cacheHitRatio: lookups > 0 ? Math.round((r.stats.cacheHits / lookups) * 1000) / 1000 : null, upstreamBytes: r.stats.upstreamBytes } : {}),
      ...(r.error !== undefined ? { err: r.error, code: errorCode(r.error) } : {}),
    };
    const log = deps.logger.child({ reqId: r.requestId });
    if (r.outcome === 'failed') log.error(line, 'transfer failed');
    else log.info(line, 'transfer');
    if (active === 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      waiters.forEach((w) => w());
    }
  };

  app.route('/', isoRoutes({
    resolver: deps.resolver,
    store: deps.store,
    now,
    transfers: {
      started: () => {
        active += 1;
        metrics.activeTransfers.set(active);
      },
      finished,
    },
  }) as unknown as Hono<AppEnv>);

  app.route('/api/v1', adminRoutes({
    store: deps.store,
    resolver: deps.resolver,
    ...(deps.adminToken !== undefined ? { adminToken: deps.adminToken } : {}),
    // Read per request: startServer learns the real port (for --port 0) after the app exists.
    get publicUrl() {
      return deps.publicUrl;
    },
    checkUpstreamAllowed: deps.checkUpstreamAllowed,
    validateEdits: deps.validateEdits,
    now,
    ...(deps.etagTimeoutMs !== undefined ? { etagTimeoutMs: deps.etagTimeoutMs } : {}),
  }) as unknown as Hono<AppEnv>);

  // Redfish VirtualMedia for a node (POST/DELETE /api/v1/nodes/:name/vmedia), behind the same
  // bearer token. BMC credentials come in the request body and are never logged or stored.
  const vmedia = new Hono();
  vmedia.use('*', bearerAuth(deps.adminToken));
  vmedia.route('/', vmediaRoutes({
    logger: deps.logger,
    imageUrl: async (node: string) => {
      if (!(await deps.store.get(node))) throw new NotFoundError(`unknown node ${JSON.stringify(node)}`);
      return `${deps.publicUrl}/iso/${encodeURIComponent(node)}.iso`;
    },
  }));
  app.route('/api/v1', vmedia as unknown as Hono<AppEnv>);

  return {
    app,
    fetch: app.fetch,
    metrics,
    activeTransfers: () => active,
    idle: () => (active === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve))),
  };
}
