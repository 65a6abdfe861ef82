// GET and HEAD <prefix>/<node>.iso: a node's virtual image as BMC HTTP clients need it (RFC 9110
// ranges and conditionals). Content-Length on every 200 and 206 (never chunked: several BMCs
// cannot read chunked bodies), Accept-Ranges, a strong ETag, Last-Modified, and exactly the same
// headers for HEAD as for GET. Each prefix serves one node source of the serving core (`/iso`
// the admin store); this module parses the request, asks the core for the image, and writes it.
//
// The body's first chunk is read before the head is committed (body.ts), so a failure there
// answers with a status and a code; HEAD reads the first byte, so it never promises a 206 that
// GET would fail.
//
// `answerIso` is the route's logic over a small exchange (method, headers, request id, an abort
// controller the client's going away aborts). Two adapters write its answer: `isoRoutes`, a hono
// route (app.request in tests, and any runtime without a Node response), and iso-node.ts, which
// takes image requests off Node's server before hono sees them: on small ranges the framework's
// per-request objects (a fetch Request, Response objects, its headers) were a sixth of the
// serving thread's time.

import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { Hono, type Context } from 'hono';
import { LazyAbortController } from '../io/abort.js';
import { NotFoundError, RangeNotSatisfiableError } from '../errors.js';
import { NodeExpiredError } from '../registry/errors.js';
import { isValidNodeName } from '../registry/store.js';
import type { Serving } from '../serving/serving.js';
import type { Transfer } from '../serving/transfers.js';
import type { NodeImage, NodeRef } from '../serving/types.js';
import { socketFd, type Sender } from '../native/sendfile.js';
import type { ResponseOut } from './out.js';
import { whenClosed } from './response-gone.js';
import {
  bodyLength,
  ClientAbortError,
  openBody,
  openBodyNow,
  pipeToNode,
  probeBody,
  sendSpansAtHand,
  webStream,
  type BodyPiece,
  type OpenBody,
  type PipeResult,
} from './body.js';
import { evaluatePreconditions, ifRangeAllows } from './conditional.js';
import { errorStatus, PreconditionFailedError } from './errors.js';
import { contentRange, resolveRange, type ByteRange } from './range.js';

/** The node-server marker for "the handler wrote the response itself". */
const ALREADY_SENT = 'x-hono-already-sent';

export interface IsoRouteDeps {
  readonly serving: Pick<Serving, 'image' | 'imageNow' | 'transfers' | 'storeSource'>;
  /** URL prefix ("/iso") -> node source name ("store"). */
  readonly routes: readonly { readonly prefix: string; readonly source: string }[];
  /** Sends cached blocks from their files to plain TCP sockets (src/native/sendfile.ts); else copies. */
  readonly sender?: Sender;
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

/** [start, end) from the first range's start to the last one's end; the whole image for a full body. */
function spanOf(ranges: readonly ByteRange[] | undefined, size: number): { start: number; end: number } {
  if (!ranges || ranges.length === 0) return { start: 0, end: size };
  let start = ranges[0]!.start;
  let end = ranges[0]!.end + 1;
  for (const r of ranges) {
    if (r.start < start) start = r.start;
    if (r.end + 1 > end) end = r.end + 1;
  }
  return { start, end };
}

export function isoRoutes(deps: IsoRouteDeps): Hono<IsoEnv> {
  const app = new Hono<IsoEnv>();
  // Hono answers HEAD with the GET route (and drops the body); the handler checks the method.
  for (const route of deps.routes) {
    app.get(`${route.prefix}/:file{.+\\.iso}`, async (c) => serveIso(c, deps, route.source));
  }
  return app;
}

/** What the request asks of the image: status, headers and body pieces, after conditionals and Range. */
export interface Plan {
  readonly status: 200 | 206 | 304;
  readonly headers: Record<string, string>;
  readonly pieces: BodyPiece[];
  readonly ranges: readonly ByteRange[] | undefined;
  readonly length: number;
}

/** What the route needs of a request, whatever the server under it. */
export interface IsoExchange {
  readonly method: string;
  readonly requestId: string;
  /** A request header by lower-case name. */
  header(name: string): string | undefined;
  /** Aborted when the client goes away; ends the body's reader. */
  readonly abort: LazyAbortController;
  /** The body's writer takes file spans: a Node response on a socket the sender can write to. */
  readonly files?: boolean;
}

/** What to write: a head alone (HEAD, 304, an empty image), or a head and an opened body. */
export type IsoAnswer =
  | { readonly kind: 'bodiless'; readonly plan: Plan }
  | { readonly kind: 'body'; readonly plan: Plan; readonly body: OpenBody; readonly transfer: Transfer };

/**
 * The header values an image gives every response, formatted once per image: a BMC reads an
 * image in thousands of ranges, and formatting a date per request was a string and a few hundred
 * nanoseconds each time. Images are kept while their node's spec and base are (src/serving).
 */
interface ImageHeaderValues {
  readonly node: string;
  readonly lastModified: string;
  readonly disposition: string;
}
const headerValues = new WeakMap<NodeImage, ImageHeaderValues>();

function headerValuesOf(image: NodeImage, node: string): ImageHeaderValues {
  let v = headerValues.get(image);
  if (v === undefined || v.node !== node) {
    v = { node, lastModified: image.lastModified.toUTCString(), disposition: `attachment; filename="${node}.iso"` };
    headerValues.set(image, v);
  }
  return v;
}

function plan(x: IsoExchange, image: NodeImage, node: string): Plan {
  const validators = { etag: image.etag, lastModified: image.lastModified };
  const fixed = headerValuesOf(image, node);
  const headers: Record<string, string> = {
    'Accept-Ranges': 'bytes',
    ETag: image.etag,
    'Last-Modified': fixed.lastModified,
    'Content-Type': 'application/octet-stream',
    'Content-Disposition': fixed.disposition,
  };
  if (x.requestId) headers['X-Request-Id'] = x.requestId;

  const precondition = evaluatePreconditions(
    {
      ifMatch: x.header('if-match'),
      ifUnmodifiedSince: x.header('if-unmodified-since'),
      ifNoneMatch: x.header('if-none-match'),
      ifModifiedSince: x.header('if-modified-since'),
    },
    validators,
  );
  if (precondition === 'failed') throw new PreconditionFailedError(`the image's current ETag is ${image.etag}`);
  if (precondition === 'not-modified') {
    // A 304 carries the validators, never a type or length of a body it does not have.
    const { 'Content-Type': _t, 'Content-Disposition': _d, ...rest } = headers;
    return { status: 304, headers: rest, pieces: [], ranges: undefined, length: 0 };
  }

  const rangeHeader = x.header('range');
  const resolution =
    rangeHeader !== undefined && ifRangeAllows(x.header('if-range'), validators) ? resolveRange(rangeHeader, image.size) : { kind: 'full' as const };
  if (resolution.kind === 'unsatisfiable')
    throw new RangeNotSatisfiableError(image.size, `range ${rangeHeader} is outside the ${image.size}-byte image`);

  let status: 200 | 206 = 206;
  let pieces: BodyPiece[];
  let ranges: readonly ByteRange[] | undefined;
  if (resolution.kind === 'full') {
    status = 200;
    pieces = image.size > 0 ? [{ kind: 'image', start: 0, end: image.size - 1 }] : [];
  } else if (resolution.ranges.length === 1) {
    const r = resolution.ranges[0]!;
    ranges = resolution.ranges;
    headers['Content-Range'] = contentRange(r, image.size);
    pieces = [{ kind: 'image', start: r.start, end: r.end }];
  } else {
    ranges = resolution.ranges;
    const boundary = multipartBoundary(image.etag);
    headers['Content-Type'] = `multipart/byteranges; boundary=${boundary}`;
    pieces = multipartPieces(resolution.ranges, image.size, boundary);
  }
  const length = bodyLength(pieces);
  headers['Content-Length'] = String(length);
  return { status, headers, pieces, ranges, length };
}

/**
 * A response without a body, with exactly the plan's headers. Through node-server a null body
 * gets `Content-Type: text/plain` added, which a 304 must not carry: write it to Node directly.
 */
function bodiless(c: Context<IsoEnv>, p: Plan): Response {
  const out = c.env?.outgoing;
  if (p.status !== 304 || !out || typeof out.writeHead !== 'function') return c.body(null, p.status, p.headers);
  out.writeHead(304, p.headers);
  out.end();
  return new Response(null, { headers: { [ALREADY_SENT]: 'true' } });
}

const SOURCE_NODE_NAME = /^[A-Za-z0-9._~-]{1,255}$/;
const isSourceNodeName = (name: string): boolean => SOURCE_NODE_NAME.test(name) && name !== '.' && name !== '..';

/**
 * A controller the client's going away aborts, from Node's response when there is one:
 * `c.req.raw.signal` makes @hono/node-server build a whole fetch Request for every request just
 * to hand out its signal.
 */
export function abortOnClose(out: ResponseOut): LazyAbortController {
  const ac = new LazyAbortController();
  whenClosed(out, () => {
    if (!out.writableFinished) ac.abort(new ClientAbortError());
  });
  return ac;
}

function abortFollowing(signal: AbortSignal): LazyAbortController {
  const ac = new LazyAbortController();
  if (signal.aborted) ac.abort(new ClientAbortError());
  else signal.addEventListener('abort', () => ac.abort(new ClientAbortError()), { once: true });
  return ac;
}

/** The node a file name names, or undefined for what could never be a node's name. */
function nodeRef(deps: IsoRouteDeps, source: string, file: string): NodeRef | undefined {
  const name = file.slice(0, -'.iso'.length);
  // Store names follow isValidNodeName; other sources name nodes their own way (Ironic UUIDs, and
  // Metal3's `namespace~name`), so only what could never be a name is refused here.
  return (source === deps.serving.storeSource ? isValidNodeName(name) : isSourceNodeName(name)) ? { source, name } : undefined;
}

/**
 * The route's answer without waiting, when everything it needs is at hand: a GET of one range
 * (or the whole image) of a node whose image is built and whose bytes are one file span the
 * cache has open. That is a BMC's next 256 KiB range of the node it is reading: the common case,
 * answered with no promise between the request and the send. Undefined otherwise, errors
 * included: then `answerIso` answers (and throws what it throws).
 */
export function answerIsoNow(x: IsoExchange, deps: IsoRouteDeps, source: string, file: string): IsoAnswer | undefined {
  if (x.method !== 'GET' || x.files !== true || !deps.sender || !deps.serving.imageNow) return undefined;
  const ref = nodeRef(deps, source, file);
  const image = ref ? deps.serving.imageNow(ref) : undefined;
  if (!ref || !image) return undefined;
  let p: Plan;
  try {
    p = plan(x, image, ref.name);
  } catch {
    return undefined;
  }
  const body = p.length > 0 ? openBodyNow(image, p.pieces, x.abort) : undefined;
  return body ? { kind: 'body', plan: p, body, transfer: beginTransfer(x, deps, ref, image, p, true) } : undefined;
}

/** The transfer the hub's observers (log line, metrics, status view) see for this answer. */
function beginTransfer(x: IsoExchange, deps: IsoRouteDeps, ref: NodeRef, image: NodeImage, p: Plan, withBody: boolean): Transfer {
  return deps.serving.transfers.begin({
    id: x.requestId,
    ref,
    method: x.method,
    status: p.status,
    body: withBody,
    served: describe(p.ranges),
    span: spanOf(p.ranges, image.size),
    expectedBytes: p.length,
    rangeHeader: x.header('range'),
  });
}

/** The route: the node's image, the plan for this request, and the body opened (or not needed). */
export async function answerIso(x: IsoExchange, deps: IsoRouteDeps, source: string, file: string): Promise<IsoAnswer> {
  const ref = nodeRef(deps, source, file);
  if (!ref) throw new NotFoundError(`no node ${JSON.stringify(file.slice(0, -'.iso'.length))}`);
  try {
    return await answerNode(x, deps, ref);
  } catch (err) {
    reportFailure(x, deps, ref, err);
    throw err;
  }
}

/**
 * A known node whose image could not be served (its base unreachable or malformed, its first
 * bytes unreadable) is a failed transfer to whoever watches the hub: the status page shows the
 * node as error with the code. Unknown nodes and clients that went away are not reported: the
 * first would let any name a client sends into the page's table.
 */
function reportFailure(x: IsoExchange, deps: IsoRouteDeps, ref: NodeRef, err: unknown): void {
  if (err instanceof NotFoundError || err instanceof NodeExpiredError || err instanceof ClientAbortError) return;
  const status = errorStatus(err);
  if (status < 500) return;
  deps.serving.transfers
    .begin({ id: x.requestId, ref, method: x.method, status, body: false, served: 'none', expectedBytes: 0 })
    .end({ bytes: 0, outcome: 'failed', error: err });
}

async function answerNode(x: IsoExchange, deps: IsoRouteDeps, ref: NodeRef): Promise<IsoAnswer> {
  const signal = x.abort.signal;
  const image = await deps.serving.image(ref, signal);
  const p = plan(x, image, ref.name);
  const begin = (withBody: boolean): Transfer => beginTransfer(x, deps, ref, image, p, withBody);

  if (x.method === 'HEAD' || p.length === 0) {
    // HEAD answers what GET would: a first byte that cannot be read is an error here too.
    if (p.length > 0) await probeBody(image, p.pieces, signal);
    begin(false).end({ bytes: 0, outcome: 'complete' });
    return { kind: 'bodiless', plan: p };
  }
  // Read the first chunk now: a failure here still has a status to answer with.
  const body = await openBody(image, p.pieces, signal, x.files === true && deps.sender !== undefined);
  return { kind: 'body', plan: p, body, transfer: begin(true) };
}

/** Writes an answer's head and body to Node's response; the transfer ends when the body does. */
export function writeBodyToNode(
  out: ResponseOut,
  a: Extract<IsoAnswer, { kind: 'body' }>,
  abort: LazyAbortController,
  sender: Sender | undefined,
): void {
  const finish = (r: PipeResult): void => a.transfer.end(r);
  try {
    out.writeHead(a.plan.status, a.plan.headers);
  } catch (err) {
    // The socket went away between opening the body and answering.
    void a.body.cancel();
    finish({ bytes: 0, outcome: 'aborted', error: err });
    out.destroy();
    return;
  }
  const now = sendSpansAtHand(out, a.body, abort, a.transfer, sender);
  if (now === undefined) void pipeToNode(out, a.body, abort, a.transfer, a.body.files ? sender : undefined).then(finish);
  else if (now instanceof Promise) void now.then(finish);
  else finish(now);
}

async function serveIso(c: Context<IsoEnv>, deps: IsoRouteDeps, source: string): Promise<Response> {
  const out = c.env?.outgoing;
  const node = out && typeof out.writeHead === 'function' ? out : undefined;
  const abort = node ? abortOnClose(node) : abortFollowing(c.req.raw.signal);
  const x: IsoExchange = {
    method: c.req.method,
    requestId: c.get('requestId') ?? '',
    header: (n) => c.req.header(n),
    abort,
    files: node !== undefined && socketFd(node.socket) !== undefined,
  };
  const a = await answerIso(x, deps, source, c.req.param('file') ?? '');
  if (a.kind === 'bodiless') return bodiless(c, a.plan);
  c.set('transfer', true);
  if (node) {
    writeBodyToNode(node, a, abort, deps.sender);
    return new Response(null, { headers: { [ALREADY_SENT]: 'true' } });
  }
  const finish = (r: PipeResult): void => a.transfer.end(r);
  return new Response(webStream(a.body, abort, a.transfer, finish), { status: a.plan.status, headers: a.plan.headers });
}
