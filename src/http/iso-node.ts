// Image requests taken before hono sees them: GET and HEAD of <prefix>/<node>.iso, answered by
// the same route logic as the hono route (iso-routes.ts `answerIso`) with the same headers,
// errors (errors.ts), request ids, per-client cap, log lines and metrics. Two ways in: Node's
// HTTP server (`isoNodeHandler`), and the direct server's raw connections (`isoDirectHandler`,
// direct/server.ts), which skip Node's request and response objects. Everything else (other
// methods, other paths, anything odd about the path) goes to hono. What this saves is the
// framework's per-request objects: on random 256 KiB ranges, a fetch Request, two Response
// objects and their Headers per request were about a sixth of the serving thread's time.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { TransfersPerClient } from './client-limits.js';
import { socketFd } from '../native/sendfile.js';
import type { RequestHead } from './direct/request-head.js';
import type { DirectResponse } from './direct/response.js';
import { errorParts, logRequestError } from './errors.js';
import { abortOnClose, answerIso, answerIsoNow, writeBodyToNode, type IsoAnswer, type IsoExchange, type IsoRouteDeps } from './iso-routes.js';
import type { ResponseOut } from './out.js';
import { IMAGE_ROUTE, type HttpMetrics } from './transfer-log.js';

export interface IsoNodeDeps extends IsoRouteDeps {
  readonly logger: Logger;
  readonly metrics: HttpMetrics;
  /** The request id: the client's X-Request-Id when it is sane, else a new one (shared with hono). */
  readonly requestId: (given: string | undefined) => string;
  readonly limit?: TransfersPerClient;
}

/** An image request, whichever server read it. */
interface ImageRequest {
  readonly method: 'GET' | 'HEAD';
  readonly url: string;
  readonly socket: Socket;
  /** A request header by lower-case name. */
  header(name: string): string | undefined;
}

/** Where a request for an image goes: the route's source and the file name, or undefined (hono's). */
function matchImage(routes: IsoRouteDeps['routes'], url: string): { source: string; file: string } | undefined {
  const q = url.indexOf('?');
  const path = q >= 0 ? url.slice(0, q) : url;
  for (const route of routes) {
    if (path.length <= route.prefix.length + 5 || !path.startsWith(`${route.prefix}/`) || !path.endsWith('.iso')) continue;
    const raw = path.slice(route.prefix.length + 1);
    // Hono's matcher and decoding decide the odd cases (escaped slashes, bad escapes).
    if (raw.includes('%2F') || raw.includes('%2f')) return undefined;
    let file: string;
    try {
      file = decodeURIComponent(raw);
    } catch {
      return undefined;
    }
    return { source: route.source, file };
  }
  return undefined;
}

/** The Node request handler for image routes: true when it took the request. */
export function isoNodeHandler(deps: IsoNodeDeps): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const method = req.method;
    if (method !== 'GET' && method !== 'HEAD') return false;
    const url = req.url ?? '';
    const match = matchImage(deps.routes, url);
    if (!match) return false;
    const request: ImageRequest = { method, url, socket: req.socket, header: (n) => headerOf(req, n) };
    serve(deps, request, res, match.source, match.file);
    return true;
  };
}

/** The direct server's handler for image routes (direct/server.ts): true when it took the request. */
export function isoDirectHandler(deps: IsoNodeDeps): (head: RequestHead, res: DirectResponse, socket: Socket) => boolean {
  return (head, res, socket) => {
    const match = matchImage(deps.routes, head.target);
    if (!match) return false;
    const headers = head.headers;
    const request: ImageRequest = { method: head.method, url: head.target, socket, header: (n) => headers.get(n) };
    serve(deps, request, res, match.source, match.file);
    return true;
  };
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/**
 * Answers at once when the route can (answerIsoNow: a cached range of a node being read), else
 * through the route's promises. Either way the same head, body, log line and metrics.
 */
function serve(deps: IsoNodeDeps, req: ImageRequest, res: ResponseOut, source: string, file: string): void {
  const { method } = req;
  const requestId = deps.requestId(req.header('x-request-id'));
  const t0 = performance.now();
  const abort = abortOnClose(res);
  let release: (() => void) | undefined;
  const failed = (err: unknown): void => {
    release?.();
    const path = req.url.split('?')[0]!;
    logRequestError(deps.logger.child({ reqId: requestId }), err, method, path);
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    const { status, headers, json } = errorParts(err);
    res.writeHead(status, { ...headers, 'X-Request-Id': requestId });
    res.end(method === 'HEAD' ? undefined : json);
    requestLine(deps, method, req.url, status, requestId, t0);
  };
  let x: IsoExchange;
  let now: IsoAnswer | undefined;
  try {
    const address = req.socket.remoteAddress;
    if (deps.limit && method === 'GET' && address !== undefined) release = deps.limit.acquire(address, res);
    x = { method, requestId, header: req.header, abort, files: socketFd(req.socket) !== undefined };
    now = answerIsoNow(x, deps, source, file);
  } catch (err) {
    failed(err);
    return;
  }
  if (now?.kind === 'body') {
    deps.metrics.answeredAtOnce.inc();
    try {
      writeBodyToNode(res, now, abort, deps.sender);
    } catch (err) {
      failed(err);
    }
    return;
  }
  answerIso(x, deps, source, file)
    .then((a) => {
      if (a.kind === 'body') {
        writeBodyToNode(res, a, abort, deps.sender);
        return;
      }
      res.writeHead(a.plan.status, a.plan.headers);
      res.end();
      requestLine(deps, method, req.url, a.plan.status, requestId, t0);
    })
    .catch(failed);
}

/** What hono's request middleware logs and counts for a request answered without an image body. */
function requestLine(deps: IsoNodeDeps, method: string, url: string, status: number, requestId: string, t0: number): void {
  deps.metrics.requests.inc({ route: IMAGE_ROUTE, status: String(status) });
  const path = url.split('?')[0]!;
  deps.logger.info({ reqId: requestId, method, path, status, durationMs: Math.round((performance.now() - t0) * 1000) / 1000 }, 'request');
}
