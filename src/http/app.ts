// The hono app of `isoproxy serve`: image routes, the admin API, health and metrics, with a request
// id and a pino child logger per request, one log line per request (per transfer for image
// bodies, written when the body ends) and Prometheus metrics. Errors become responses in one
// place (errors.ts) through every app's onError.
//
// The app is thin over the serving core: image routes ask it for a node's image, the admin API
// for node operations, and the transfer log subscribes to its transfer hub.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Hono } from 'hono';
import type { Logger } from 'pino';
import { NotFoundError } from '../errors.js';
import type { MetricsRegistry } from '../metrics.js';
import { vmediaRoutes } from '../redfish/routes.js';
import type { Serving } from '../serving/serving.js';
import { adminRoutes, bearerAuth, nodeUrl } from './admin-routes.js';
import { transfersPerClient } from './client-limits.js';
import { errorHandler, errorResponse } from './errors.js';
import { isoDirectHandler, isoNodeHandler } from './iso-node.js';
import type { RequestHead } from './direct/request-head.js';
import type { DirectResponse } from './direct/response.js';
import type { Sender } from '../native/sendfile.js';
import { isoRoutes, type IsoEnv } from './iso-routes.js';
import { createHttpMetrics, IMAGE_ROUTE, transferLog, type HttpMetrics } from './transfer-log.js';
import { requestIds } from './request-id.js';

export type { HttpMetrics } from './transfer-log.js';

export interface ImageRouteSpec {
  readonly prefix: string;
  readonly source: string;
}

export interface AppDeps {
  readonly serving: Serving;
  /** URL prefix -> node source; default `/iso` for the admin store. */
  readonly imageRoutes?: readonly ImageRouteSpec[];
  /** The process's registry (the service's collectors are in it); default a new one. */
  readonly metrics?: MetricsRegistry;
  readonly logger: Logger;
  readonly publicUrl: string;
  readonly adminToken?: string;
  /** /readyz answers 503 while this is false. */
  readonly ready?: () => boolean;
  /** The /metrics text when it is not this process's registry alone (a cluster sums its processes'). */
  readonly renderMetrics?: () => Promise<string>;
  /** Concurrent image GETs per client address; more answer 429 TOO_MANY_TRANSFERS. Default: no cap. */
  readonly maxTransfersPerClient?: number;
  /** The status view (src/ui: /ui, /ui/api/*), mounted at the root when given. */
  readonly statusRoutes?: Hono;
  /** Zero-copy sends of cached blocks to plain TCP clients; without it, every byte is copied. */
  readonly sender?: Sender;
}

export interface IsoproxyApp {
  readonly app: Hono<AppEnv>;
  readonly fetch: Hono<AppEnv>['fetch'];
  /**
   * Takes an image request (GET/HEAD under an image prefix) straight from Node's server, before
   * hono: true when it did (iso-node.ts). A server calls it first and gives hono the rest.
   */
  readonly serveImage: (req: IncomingMessage, res: ServerResponse) => boolean;
  /** The same for a request the direct server read from a raw connection (direct/server.ts). */
  readonly serveImageDirect: (head: RequestHead, res: DirectResponse, socket: Socket) => boolean;
  readonly metrics: HttpMetrics;
  /** Image bodies being written now. */
  activeTransfers(): number;
  /** Resolves when no image body is being written. */
  idle(): Promise<void>;
}

export type AppEnv = IsoEnv & { Variables: { log: Logger } };

function routeLabel(path: string, imagePrefixes: readonly string[]): string {
  if (imagePrefixes.some((p) => path.startsWith(`${p}/`))) return IMAGE_ROUTE;
  if (path.startsWith('/api/')) return 'api';
  if (path === '/healthz' || path === '/readyz') return 'health';
  if (path === '/metrics') return 'metrics';
  if (path === '/ui' || path.startsWith('/ui/')) return 'ui';
  return 'other';
}

export function createApp(deps: AppDeps): IsoproxyApp {
  const { serving, logger } = deps;
  const routes = deps.imageRoutes ?? [{ prefix: '/iso', source: serving.storeSource }];
  const prefixes = routes.map((r) => r.prefix);
  // Node URLs of the admin store's nodes: under the first prefix that serves the store.
  const storePrefix = routes.find((r) => r.source === serving.storeSource)?.prefix ?? '/iso';
  const metrics = createHttpMetrics(deps.metrics);
  const app = new Hono<AppEnv>();
  const requestIdOf = requestIds();

  serving.transfers.observe(transferLog(metrics, logger, () => serving.transfers.active()));

  app.use('*', async function requestContext(c, next) {
    const requestId = requestIdOf(c.req.header('x-request-id'));
    c.set('requestId', requestId);
    c.set('transfer', false);
    const log = logger.child({ reqId: requestId });
    c.set('log', log);
    const t0 = performance.now();
    await next();
    c.header('X-Request-Id', requestId);
    // Image bodies log and count when they end (transfer-log.ts).
    if (c.get('transfer')) return;
    const status = c.res.status;
    metrics.requests.inc({ route: routeLabel(c.req.path, prefixes), status: String(status) });
    const line = { method: c.req.method, path: c.req.path, status, durationMs: Math.round((performance.now() - t0) * 1000) / 1000 };
    // Probes, scrapes and the status page's own polling would drown the transfer lines.
    if (c.req.path === '/healthz' || c.req.path === '/readyz' || c.req.path === '/metrics' || c.req.path.startsWith('/ui'))
      log.debug(line, 'request');
    else log.info(line, 'request');
  });

  app.onError(errorHandler(logger));
  // The message leaves out the method: HEAD must get the Content-Length of what GET gets.
  app.notFound((c) => errorResponse(c, new NotFoundError(`no route for ${c.req.path}`)));

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', (c) => {
    const ready = deps.ready?.() ?? true;
    return c.json({ status: ready ? 'ready' : 'starting' }, ready ? 200 : 503);
  });
  app.get('/metrics', async (c) => {
    const text = deps.renderMetrics ? await deps.renderMetrics() : metrics.registry.render();
    return c.body(text.endsWith('\n') ? text : `${text}\n`, 200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
  });

  const limit = deps.maxTransfersPerClient !== undefined ? transfersPerClient(deps.maxTransfersPerClient) : undefined;
  if (limit) for (const prefix of prefixes) app.use(`${prefix}/*`, limit.middleware);
  const sender = deps.sender ? { sender: deps.sender } : {};
  if (deps.sender) {
    const st = deps.sender.stats;
    metrics.registry.collect(
      'isoproxy_sendfile_bytes_total',
      'Image bytes sent from block files with sendfile (no copies).',
      'counter',
      () => st.bytes,
    );
    metrics.registry.collect(
      'isoproxy_sendfile_failed_total',
      'Sendfile sends that ended early (client gone, cancelled, I/O error).',
      'counter',
      () => st.failed,
    );
  }
  app.route('/', isoRoutes({ serving, routes, ...sender }) as unknown as Hono<AppEnv>);
  if (deps.statusRoutes) app.route('/', deps.statusRoutes as unknown as Hono<AppEnv>);

  const urlOf = (name: string): string => nodeUrl(deps.publicUrl, storePrefix, name);
  app.route(
    '/api/v1',
    adminRoutes({
      nodes: serving.nodes,
      ...(deps.adminToken !== undefined ? { adminToken: deps.adminToken } : {}),
      // Read per request: startServer learns the real port (for --port 0) after the app exists.
      nodeUrl: urlOf,
    }) as unknown as Hono<AppEnv>,
  );

  // Redfish VirtualMedia for a node (POST/DELETE /api/v1/nodes/:name/vmedia), behind the same
  // bearer token. BMC credentials come in the request body and are never logged or stored.
  const vmedia = new Hono();
  vmedia.use('*', bearerAuth(deps.adminToken));
  vmedia.route(
    '/',
    vmediaRoutes({
      logger,
      imageUrl: async (node: string) => {
        if (!(await serving.nodes.get(node))) throw new NotFoundError(`unknown node ${JSON.stringify(node)}`);
        return urlOf(encodeURIComponent(node));
      },
    }),
  );
  app.route('/api/v1', vmedia as unknown as Hono<AppEnv>);

  const imageDeps = { serving, routes, logger, metrics, requestId: requestIdOf, ...(limit ? { limit } : {}), ...sender };
  const serveImage = isoNodeHandler(imageDeps);
  const serveImageDirect = isoDirectHandler(imageDeps);

  return {
    app,
    fetch: app.fetch,
    serveImage,
    serveImageDirect,
    metrics,
    activeTransfers: () => serving.transfers.active(),
    idle: () => serving.transfers.idle(),
  };
}
