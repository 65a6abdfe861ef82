// The HTTP server of a serving process: configuration -> node store -> service (the composition
// root, src/service.ts) -> hono app -> a listening Node HTTP server, with graceful shutdown: stop
// accepting, let image transfers finish within the deadline, then close. `isoproxy serve` runs it
// (src/commands/serve.ts) in a single process or in each cluster worker; tests and the demo start
// it in-process. In a cluster no serving part listens: the primary accepts every connection and
// hands it to one (src/cluster/listener.ts), which serves it through `adopt`.

import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import { createServer } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { checkAdminExposure, isLoopbackHost, type Config } from '../config.js';
import { createApp, type IsoproxyApp } from './app.js';
import { bindServer } from './bind.js';
import { directServer, timeOutHead, type DirectServer } from './direct/server.js';
import { senderFor } from '../native/sendfile.js';
import { createLogger, type Logger } from '../logger.js';
import { openNodeStore } from '../registry/open-store.js';
import type { NodeStore } from '../registry/store.js';
import type { Service } from '../service.js';
import type { Serving } from '../serving/serving.js';
import { wireRemoteStatus, wireStatus, type RemoteStatus, type StatusWiring } from '../status/wiring.js';
import { createStatusRoutes } from '../ui/routes.js';

/** What the server needs of the service (tests and the demo may pass their own). */
export type ServingService = Pick<Service, 'serving' | 'close'> &
  Partial<Pick<Service, 'imageRoutes' | 'metrics' | 'cache' | 'cacheBudgetBytes' | 'bases' | 'nodeDiff'>>;

/** Sockets with no traffic either way for this long are closed. */
export const SOCKET_IDLE_TIMEOUT_MS = 300_000;

export interface ServerDeps {
  /** Default: the store config.store names, else the file store in config.dataDir (closed by close()). */
  readonly store?: NodeStore;
  /** Default: createService(config, store, logger) from ../service.js (closed by close()). */
  readonly service?: ServingService;
  readonly logger?: Logger;
  /** The clock for node expiry and base revalidation of the default service (tests pin it). */
  readonly now?: () => Date;
  /** The /metrics text, when another process sums it (a cluster worker). */
  readonly renderMetrics?: () => Promise<string>;
  /** A cluster worker's status view: the primary's tracker (src/cluster/status-hub.ts). */
  readonly remoteStatus?: RemoteStatus;
  /**
   * Connections are accepted elsewhere and handed over through `adopt` (a cluster's serving part):
   * no socket is bound here, and `url` is the listener's.
   */
  readonly handed?: { readonly url: string };
}

export interface RunningServer {
  /** http://host:port of the listening socket. */
  readonly url: string;
  /** The base of node URLs (config.publicUrl, with the real port when it was 0). */
  readonly publicUrl: string;
  readonly server: Server;
  readonly app: IsoproxyApp;
  readonly logger: Logger;
  /** The status view (what /ui and `isoproxy status` show). */
  readonly status: StatusWiring;
  /** The direct server in front of Node's (absent with --direct-http off). */
  readonly direct: DirectServer | undefined;
  /**
   * Serves a connection accepted elsewhere (a cluster's listener, which accepts with
   * pauseOnConnect): closed at once past config.maxConnections handed ones, or once closing.
   */
  adopt(socket: Socket): void;
  /** Graceful: stops accepting, waits for transfers up to config.shutdownDeadlineMs, then closes. */
  close(): Promise<void>;
}

export async function startServer(config: Config, deps: ServerDeps = {}): Promise<RunningServer> {
  checkAdminExposure(config);
  const logger = deps.logger ?? createLogger({ level: config.logLevel, format: config.logFormat });
  const opened = deps.store ? undefined : await openNodeStore(config.store, { dataDir: config.dataDir, env: process.env, logger });
  const store = deps.store ?? opened!;
  let service: ServingService;
  try {
    const now = deps.now;
    service = deps.service ?? (await (await import('../service.js')).createService(config, store, logger, now ? { now: () => now().getTime() } : {}));
  } catch (err) {
    if (!deps.store) await store.close();
    throw err;
  }
  let closing = false;
  const stopStreams = new AbortController();
  let sending: ReturnType<typeof senderFor>;
  try {
    sending = senderFor(config.sendfile, config.workers);
  } catch (err) {
    await service.close();
    if (!deps.store) await store.close();
    throw err;
  }
  const providers = {
    ...(service.bases ? { bases: service.bases } : {}),
    ...(service.cache ? { cache: service.cache } : {}),
    ...(service.cacheBudgetBytes !== undefined ? { cacheBudgetBytes: service.cacheBudgetBytes } : {}),
  };
  const status: StatusWiring = deps.remoteStatus
    ? wireRemoteStatus(providers, deps.remoteStatus)
    : wireStatus({
        ...providers,
        store,
        storeSource: service.serving.storeSource,
        logger,
        ...(config.stallAfterMs !== undefined ? { stallAfterMs: config.stallAfterMs } : {}),
      });
  service.serving.transfers.observe(status.observer);
  // The app asks this view of the core for images, so the tracker learns each node's image size
  // and ETag (progress of a range read is measured against the size, which a range does not carry).
  const serving: Serving = {
    ...service.serving,
    image: async (ref, signal) => {
      const image = await service.serving.image(ref, signal);
      status.noteImage(ref, image);
      return image;
    },
    imageNow: (ref) => {
      const image = service.serving.imageNow?.(ref);
      if (image) status.noteImage(ref, image);
      return image;
    },
  };
  const nodeDiff = service.nodeDiff;
  // With --port 0 the default public URL names port 0; it is fixed once the real port is known.
  let publicUrl = config.publicUrl;
  const app = createApp({
    serving,
    ...(service.imageRoutes ? { imageRoutes: service.imageRoutes } : {}),
    ...(service.metrics ? { metrics: service.metrics } : {}),
    logger,
    get publicUrl() {
      return publicUrl;
    },
    ...(config.adminToken !== undefined ? { adminToken: config.adminToken } : {}),
    ready: () => !closing,
    ...(deps.renderMetrics ? { renderMetrics: deps.renderMetrics } : {}),
    maxTransfersPerClient: config.maxTransfersPerClient,
    ...(sending.sender ? { sender: sending.sender } : {}),
    // The status view: the admin token, or the read-only viewer token, opens it.
    statusRoutes: createStatusRoutes({
      view: status.view,
      auth: {
        ...(config.adminToken !== undefined ? { adminToken: config.adminToken } : {}),
        ...(config.viewerToken !== undefined ? { viewerToken: config.viewerToken } : {}),
      },
      signal: stopStreams.signal,
      // The hover's diff, computed when asked: the node's source is the one the tracker saw it from.
      ...(nodeDiff
        ? {
            nodeDiff: async (name: string, signal: AbortSignal) =>
              nodeDiff({ source: (await status.view.sourceOf(name)) ?? service.serving.storeSource, name }, signal),
          }
        : {}),
    }),
  });
  // Image requests go straight to the image route (iso-node.ts); hono answers everything else.
  const honoListener = getRequestListener(app.fetch, { hostname: config.host });
  // Node checks headersTimeout and requestTimeout on this interval (default 30 s): check often
  // enough that the timeouts hold within a fraction of themselves.
  const checkIntervalMs = Math.min(1000, Math.ceil(config.headersTimeoutMs / 4));
  const server = createServer({ connectionsCheckingInterval: checkIntervalMs }, (req, res) => {
    if (!app.serveImage(req, res)) void honoListener(req, res);
  });
  // Hostile clients: a request must have sent its headers within headersTimeout (a
  // slowloris dripping header lines is cut), and the request itself (headers and body, not the
  // response) within requestTimeout; admin bodies are small and image requests have none.
  server.headersTimeout = config.headersTimeoutMs;
  server.requestTimeout = config.headersTimeoutMs;
  server.maxConnections = config.maxConnections;
  // BMCs hold a connection across many range requests; keep idle ones a little longer than Node's 5 s.
  server.keepAliveTimeout = 65_000;
  // A client that stops reading holds a transfer (and its reader) forever otherwise; a BMC that
  // reads slowly still moves bytes and never hits this.
  server.setTimeout(SOCKET_IDLE_TIMEOUT_MS);
  const direct = config.directHttp === false ? undefined : takeConnections(server, app, config.headersTimeoutMs, checkIntervalMs);
  if (direct && service.metrics) {
    const st = direct.stats;
    service.metrics.collect(
      'isoproxy_direct_requests_total',
      'Image requests answered on the connection, without Node HTTP objects.',
      'counter',
      () => st.requests,
    );
    service.metrics.collect(
      'isoproxy_direct_handoffs_total',
      "Connections handed to Node's HTTP server (other requests).",
      'counter',
      () => st.handOffs,
    );
  }
  // Node's HTTP server starts tracking its connections (the headers and request timeouts' checks,
  // closeIdleConnections, closeAllConnections) on its own 'listening' event: one whose
  // connections are handed to it never listens, and must be told, or an idle keep-alive
  // connection outlives close() and a client dripping a head is never timed out.
  if (deps.handed) server.emit('listening');
  const url = deps.handed?.url ?? (await bindServer(server, config.port, config.host));
  if (/:0$/.test(publicUrl)) publicUrl = publicUrl.replace(/:0$/, `:${new URL(url).port}`);
  // Node's listener counts and limits the connections it accepts; handed ones are counted here.
  let handedOpen = 0;
  const adopt = (socket: Socket): void => {
    if (closing || handedOpen >= config.maxConnections) {
      socket.destroy();
      return;
    }
    handedOpen++;
    socket.once('close', () => handedOpen--);
    // What Node's listener does for the connections it accepts (an HTTP server's noDelay defaults
    // to true): without it Nagle's algorithm holds a response's head back behind the previous
    // response's last segment (measured: a cold wave on two processes 30% slower, at 35% more CPU).
    socket.setNoDelay(true);
    server.emit('connection', socket);
    // Accepted paused, so that no byte was read before it was handed: it reads from here on.
    if (socket.readableFlowing === false) socket.resume();
  };
  logger.info({ url, publicUrl, sendfile: sending.sender ? 'on' : `off: ${sending.why}`, senderThreads: sending.sender?.threads ?? 0 }, 'listening');
  if (!isLoopbackHost(config.host) && /^https?:\/\/(127\.|localhost[:/]|\[::1\])/.test(publicUrl)) {
    logger.warn({ publicUrl }, 'node URLs point at loopback, which BMCs cannot reach: set --public-url');
  }

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      closing = true;
      status.close();
      stopStreams.abort();
      // A server that never listened (handed connections) calls back at once.
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      direct?.closeIdle();
      const active = app.activeTransfers();
      if (active > 0) {
        logger.info({ active, deadlineMs: config.shutdownDeadlineMs }, 'waiting for transfers');
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), config.shutdownDeadlineMs);
        });
        const done = await Promise.race([app.idle().then(() => true), deadline]);
        clearTimeout(timer);
        if (!done) logger.warn({ active: app.activeTransfers() }, 'shutdown deadline passed; closing transfers');
      }
      server.closeAllConnections();
      direct?.closeAll();
      direct?.stop();
      await stopped;
      if (!deps.service) await service.close();
      if (!deps.store) await store.close();
      logger.info('stopped');
    })();
    return closed;
  };
  return { url, publicUrl, server, app, logger, status, direct, adopt, close };
}

/**
 * Puts the direct server (direct/server.ts) in front of Node's: every new connection starts
 * there, and goes to Node's own connection listener when a request is not one it answers.
 */
function takeConnections(server: Server, app: IsoproxyApp, headersTimeoutMs: number, checkIntervalMs: number): DirectServer {
  const nodeListeners = server.listeners('connection') as ((socket: Socket) => void)[];
  // A head handed over half-received has spent part of its time already; Node would time it
  // afresh, so a client dripping a head could have the headers timeout twice. Its deadline is
  // kept here until Node has read the whole head.
  const headDeadlines = new WeakMap<Socket, NodeJS.Timeout>();
  server.on('request', (req: IncomingMessage) => {
    const timer = headDeadlines.get(req.socket);
    if (timer === undefined) return;
    clearTimeout(timer);
    headDeadlines.delete(req.socket);
  });
  const direct = directServer({
    take: app.serveImageDirect,
    handOff: (socket, headStartedAt) => {
      for (const listener of nodeListeners) listener.call(server, socket);
      if (headStartedAt === 0) return;
      const timer = setTimeout(
        () => {
          headDeadlines.delete(socket);
          timeOutHead(socket);
        },
        Math.max(0, headStartedAt + headersTimeoutMs - Date.now()),
      );
      timer.unref();
      headDeadlines.set(socket, timer);
      socket.once('close', () => clearTimeout(timer));
    },
    headersTimeoutMs,
    keepAliveTimeoutMs: server.keepAliveTimeout,
    idleTimeoutMs: SOCKET_IDLE_TIMEOUT_MS,
    checkIntervalMs,
  });
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => direct.accept(socket));
  return direct;
}
