// The admin API under /api/v1: conductors register nodes, read them back, delete and list them.
// Every route needs `Authorization: Bearer <token>` (compared in constant time); `isoproxy serve`
// refuses to run without a token unless bound to loopback, so no token configured here means
// "loopback only, open".
//
// Thin over the serving core's nodes (src/serving/nodes.ts): this module reads the request
// (JSON body, query), the core validates, stores, invalidates and resolves ETags.

import { createHash, timingSafeEqual } from 'node:crypto';
import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { NotFoundError } from '../errors.js';
import { isValidNodeName, type NodeSpec } from '../registry/store.js';
import type { ImageStatus, Nodes } from '../serving/nodes.js';
import { BadRequestError, UnauthorizedError } from './errors.js';
import { MAX_BODY_BYTES, parseNodeBody, readJsonBody } from './json-body.js';

export { MAX_BODY_BYTES, parseNodeBody } from './json-body.js';
export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1000;

export interface AdminRouteDeps {
  readonly nodes: Nodes;
  /** Undefined: no authentication (the server is bound to loopback). */
  readonly adminToken?: string;
  /** The URL BMCs fetch a stored node's image from. */
  readonly nodeUrl: (name: string) => string;
}

export interface NodeView extends NodeSpec, Partial<ImageStatus> {
  readonly url: string;
  readonly expired: boolean;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Constant-time bearer check: both sides hashed first so lengths never leak either. */
export function bearerAuth(token: string | undefined): MiddlewareHandler {
  const expected = token === undefined ? undefined : digest(token);
  return async function bearer(c, next) {
    if (expected) {
      const header = c.req.header('authorization') ?? '';
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (!m || !timingSafeEqual(digest(m[1]!), expected)) throw new UnauthorizedError();
    }
    await next();
  };
}

/** A stored node's image URL: `<publicUrl><prefix>/<name>.iso`. */
export function nodeUrl(publicUrl: string, prefix: string, name: string): string {
  return `${publicUrl.replace(/\/+$/, '')}${prefix}/${name}.iso`;
}

function checkName(name: string): void {
  if (!isValidNodeName(name)) throw new BadRequestError('INVALID_NAME', 'node names are 1 to 128 of [A-Za-z0-9._-], not "." or ".."');
}

/** `?validate=false` stores a node whose base cannot be checked yet; anything else validates. */
function validateParam(value: string | undefined): boolean {
  if (value === undefined || value === 'true') return true;
  if (value === 'false') return false;
  throw new BadRequestError('INVALID_REQUEST', 'validate must be "true" or "false"');
}

export function adminRoutes(deps: AdminRouteDeps): Hono {
  const app = new Hono();
  const { nodes } = deps;

  function view(spec: NodeSpec, image?: ImageStatus): NodeView {
    return { ...spec, url: deps.nodeUrl(spec.name), expired: nodes.isExpired(spec), ...(image ?? {}) };
  }

  app.use('*', bearerAuth(deps.adminToken));

  // A chunked body has no Content-Length to check up front: count it as it arrives.
  const tooLarge = (): never => {
    throw new BadRequestError('BODY_TOO_LARGE', `body is larger than ${MAX_BODY_BYTES} bytes`);
  };
  const limit = bodyLimit({ maxSize: MAX_BODY_BYTES, onError: tooLarge });

  app.put('/nodes/:name', limit, async (c) => {
    const name = c.req.param('name');
    checkName(name);
    const validate = validateParam(c.req.query('validate'));
    const input = parseNodeBody(await readJsonBody(c));
    const result = await nodes.put(name, input, { validate, signal: c.req.raw.signal });
    return c.json(view(result.spec, result.image), result.created ? 201 : 200);
  });

  app.get('/nodes/:name', async (c) => {
    const name = c.req.param('name');
    checkName(name);
    const spec = await nodes.get(name);
    if (!spec) throw new NotFoundError(`no node ${JSON.stringify(name)}`);
    return c.json(view(spec, await nodes.imageStatus(spec, c.req.raw.signal)));
  });

  app.delete('/nodes/:name', async (c) => {
    const name = c.req.param('name');
    checkName(name);
    if (!(await nodes.delete(name))) throw new NotFoundError(`no node ${JSON.stringify(name)}`);
    return c.body(null, 204);
  });

  app.get('/nodes', async (c) => {
    const after = c.req.query('after');
    const limitText = c.req.query('limit');
    const limit = limitText === undefined ? DEFAULT_PAGE : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE)
      throw new BadRequestError('INVALID_LIMIT', `limit must be an integer from 1 to ${MAX_PAGE}`);
    const page = await nodes.list({ ...(after ? { after } : {}), limit });
    // Lists do not compute ETags (that may fetch and index a base image per node): GET one node for it.
    return c.json({ nodes: page.nodes.map((s) => view(s)), ...(page.next !== undefined ? { next: page.next } : {}) });
  });

  return app;
}
