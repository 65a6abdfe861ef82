// GET and HEAD /iso/<node>.iso: a node's virtual image as BMC HTTP clients need it (RFC 9110
// ranges and conditionals; issue 5 "Serving images"). Content-Length on every 200 and 206 (never
// chunked: several BMCs cannot read chunked bodies), Accept-Ranges, a strong ETag, Last-Modified,
// and exactly the same headers for HEAD as for GET.
//
// The body is written straight to Node's ServerResponse when there is one (see body.ts for why),
// and the route answers hono with the node-server "already sent" marker.

import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { Hono, type Context } from 'hono';
import { NotFoundError, RangeNotSatisfiableError } from '../errors.js';
import { NodeExpiredError } from '../registry/errors.js';
import { isExpired, isValidNodeName, type NodeStore } from '../registry/store.js';
import { bodyChunks, bodyLength, pipeToNode, webStream, type BodyPiece, type BodyStats, type PipeResult } from './body.js';
import { ifRangeAllows, notModified } from './conditional.js';
import { contentRange, resolveRange, type ByteRange } from './range.js';
import type { ImageResolver, NodeImage, TransferStats } from './types.js';

/** The node-server marker for "the handler wrote the response itself". */
const ALREADY_SENT = 'x-hono-already-sent';

export interface TransferRecord {
  readonly requestId: string;
  readonly node: string;
  readonly method: string;
  /** The Range header as sent, if any. */
  readonly rangeHeader?: string;
  /** What was served: "full", "0-1023" or "0-1,5-9" (multipart). */
  readonly served: string;
  readonly status: number;
  readonly bytes: number;
  readonly expectedBytes: number;
  readonly outcome: PipeResult['outcome'];
  readonly error?: unknown;
  readonly stats?: TransferStats;
  readonly durationMs: number;
}

/** Hooks the app uses for the transfer log line and metrics. */
export interface TransferEvents {
  started(): void;
  /** Once per body transfer, when it ends (complete, aborted or failed). */
  finished(record: TransferRecord): void;
}

export interface IsoRouteDeps {
  readonly resolver: ImageResolver;
  /** When given, a node past its expiresAt answers 410 here and its plan is dropped. */
  readonly store?: NodeStore;
  readonly now: () => Date;
  readonly transfers: TransferEvents;
}

export type IsoEnv = {
  Bindings: { outgoing?: ServerResponse };
  Variables: { requestId: string; transfer: boolean };
};

/** A multipart boundary derived from the ETag: deterministic, and tied to this exact content. */
export function multipartBoundary(etag: string): string {
  return `isoproxy-${createHash('sha256').update(etag).digest('hex').slice(0, 32)}`;
}

const encoder = new TextEncoder();

/** The pieces of a multipart/byteranges body (RFC 9110 §14.6). */
export function multipartPieces(ranges: readonly ByteRange[], size: number, boundary: string): BodyPiece[] {
  const pieces: BodyPiece[] = [];
  ranges.forEach((r, i) => {
    const head = `${i === 0 ? '' : '\r\n'}--${boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: ${contentRange(r, size)}\r\n\r\n`;
    pieces.push({ kind: 'bytes', bytes: encoder.encode(head) }, { kind: 'image', start: r.start, end: r.end });
  });
  pieces.push({ kind: 'bytes', bytes: encoder.encode(`\r\n--${boundary}--\r\n`) });
  return pieces;
}

function describe(ranges: readonly ByteRange[] | undefined): string {
  return ranges ? ranges.map((r) => `${r.start}-${r.end}`).join(',') : 'full';
}

async function resolveImage(deps: IsoRouteDeps, node: string, signal: AbortSignal): Promise<NodeImage> {
  const spec = await deps.store?.get(node);
  if (spec && spec.expiresAt !== undefined && isExpired(spec, deps.now())) {
    deps.resolver.forget(node);
    throw new NodeExpiredError(node, spec.expiresAt);
  }
  try {
    return await deps.resolver.image(node, signal);
  } catch (err) {
    if (err instanceof NodeExpiredError) deps.resolver.forget(node);
    throw err;
  }
}

export function isoRoutes(deps: IsoRouteDeps): Hono<IsoEnv> {
  const app = new Hono<IsoEnv>();
  // Hono answers HEAD with the GET route (and drops the body); the handler checks the method.
  app.get('/iso/:file{.+\\.iso}', async (c) => serveIso(c, deps));
  return app;
}

async function serveIso(c: Context<IsoEnv>, deps: IsoRouteDeps): Promise<Response> {
  const file = c.req.param('file') ?? '';
  const node = file.slice(0, -'.iso'.length);
  if (!isValidNodeName(node)) throw new NotFoundError(`no node ${JSON.stringify(node)}`);
  const image = await resolveImage(deps, node, c.req.raw.signal);
  const validators = { etag: image.etag, lastModified: image.lastModified };
  const headers: Record<string, string> = {
    'Accept-Ranges': 'bytes',
    ETag: image.etag,
    'Last-Modified': image.lastModified.toUTCString(),
    'Content-Type': 'application/octet-stream',
    'Content-Disposition': `attachment; filename="${node}.iso"`,
  };
  const requestId = c.get('requestId') ?? '';
  if (requestId) headers['X-Request-Id'] = requestId;

  if (notModified({ ifNoneMatch: c.req.header('if-none-match'), ifModifiedSince: c.req.header('if-modified-since') }, validators)) {
    const { 'Content-Type': _t, 'Content-Disposition': _d, ...rest } = headers;
    return c.body(null, 304, rest);
  }

  const rangeHeader = c.req.header('range');
  const resolution = rangeHeader !== undefined && ifRangeAllows(c.req.header('if-range'), validators)
    ? resolveRange(rangeHeader, image.size)
    : { kind: 'full' as const };
  if (resolution.kind === 'unsatisfiable') throw new RangeNotSatisfiableError(image.size, `range ${rangeHeader} is outside the ${image.size}-byte image`);

  let status: 200 | 206;
  let pieces: BodyPiece[];
  let ranges: readonly ByteRange[] | undefined;
  if (resolution.kind === 'full') {
    status = 200;
    pieces = image.size > 0 ? [{ kind: 'image', start: 0, end: image.size - 1 }] : [];
  } else if (resolution.ranges.length === 1) {
    const r = resolution.ranges[0]!;
    status = 206;
    ranges = resolution.ranges;
    headers['Content-Range'] = contentRange(r, image.size);
    pieces = [{ kind: 'image', start: r.start, end: r.end }];
  } else {
    status = 206;
    ranges = resolution.ranges;
    const boundary = multipartBoundary(image.etag);
    headers['Content-Type'] = `multipart/byteranges; boundary=${boundary}`;
    pieces = multipartPieces(resolution.ranges, image.size, boundary);
  }
  const length = bodyLength(pieces);
  headers['Content-Length'] = String(length);

  if (c.req.method === 'HEAD' || length === 0) return c.body(null, status, headers);

  c.set('transfer', true);
  const t0 = performance.now();
  deps.transfers.started();
  const abort = new AbortController();
  const sink: BodyStats = {};
  const finish = (r: PipeResult): void => {
    deps.transfers.finished({
      requestId, node, method: c.req.method, durationMs: Math.round((performance.now() - t0) * 1000) / 1000, served: describe(ranges), status, bytes: r.bytes, expectedBytes: length,
      outcome: r.outcome, ...(rangeHeader !== undefined ? { rangeHeader } : {}), ...(r.error !== undefined ? { error: r.error } : {}),
      ...(sink.stats ? { stats: sink.stats } : {}),
    });
  };
  const out = c.env?.outgoing;
  if (out && typeof out.writeHead === 'function') {
    try {
      out.writeHead(status, headers);
    } catch (err) {
      // The socket went away between resolving the image and answering.
      finish({ bytes: 0, outcome: 'aborted', error: err });
      out.destroy();
      return new Response(null, { headers: { [ALREADY_SENT]: 'true' } });
    }
    void pipeToNode(out, image, pieces, abort, sink).then(finish);
    return new Response(null, { headers: { [ALREADY_SENT]: 'true' } });
  }
  return new Response(webStream(bodyChunks(image, pieces, abort.signal, sink), abort, finish), { status, headers });
}
