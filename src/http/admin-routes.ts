// The admin API under /api/v1 (issue 5 "Nodes"): conductors register nodes, read them back, delete
// and list them. Every route needs `Authorization: Bearer <token>` (compared in constant time);
// `isoproxy serve` refuses to run without a token unless bound to loopback, so no token configured
// here means "loopback only, open".
//
// Nothing a BMC sends chooses an upstream: a node's bootIso is checked at PUT with the injected
// allowlist check, and its edits with the injected validator, before anything is stored.

import { createHash, timingSafeEqual } from 'node:crypto';
import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Edits } from '../bootconfig/types.js';
import { IsoproxyError, NotFoundError } from '../errors.js';
import { isExpired, isValidNodeName, type NodeSpec, type NodeStore } from '../registry/store.js';
import { BadRequestError, errorCode, errorMessage, UnauthorizedError } from './errors.js';
import type { ImageResolver } from './types.js';

export const MAX_BODY_BYTES = 64 * 1024;
export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1000;

export interface AdminRouteDeps {
  readonly store: NodeStore;
  readonly resolver: ImageResolver;
  /** Undefined: no authentication (the server is bound to loopback). */
  readonly adminToken?: string;
  /** Base URL BMCs use, without a trailing slash. */
  readonly publicUrl: string;
  /** Throws (an IsoproxyError) when a node may not name this URL. */
  readonly checkUpstreamAllowed: (url: string) => void;
  /** Throws EditValidationError when edits are invalid. */
  readonly validateEdits: (edits: unknown) => void;
  readonly now: () => Date;
  /** How long a response waits for a node's ETag before giving null with a reason. */
  readonly etagTimeoutMs?: number;
}

export interface NodeView extends NodeSpec {
  readonly url: string;
  readonly expired: boolean;
  readonly etag?: string | null;
  /** Why etag is null. */
  readonly etagError?: { code: string; message: string };
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

export function nodeUrl(publicUrl: string, name: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/iso/${name}.iso`;
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.length <= 1024 && v.every((x) => typeof x === 'string');
}

/** Shape check of the PUT body; the semantic check of the edits is `validateEdits`. */
export function parseNodeBody(body: unknown): { bootIso: string; edits: Edits; expiresAt?: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadRequestError('INVALID_BODY', 'body must be a JSON object');
  const b = body as Record<string, unknown>;
  if (typeof b.bootIso !== 'string' || b.bootIso === '') throw new BadRequestError('INVALID_BODY', 'bootIso must be a non-empty string');
  const e = b.edits ?? {};
  if (typeof e !== 'object' || e === null || Array.isArray(e)) throw new BadRequestError('INVALID_BODY', 'edits must be an object');
  const ed = e as Record<string, unknown>;
  for (const k of Object.keys(ed)) {
    if (!['append', 'set', 'remove', 'separator'].includes(k)) throw new BadRequestError('INVALID_BODY', `unknown edit kind ${JSON.stringify(k)}`);
  }
  if (ed.append !== undefined && !isStringArray(ed.append)) throw new BadRequestError('INVALID_BODY', 'edits.append must be an array of strings');
  if (ed.remove !== undefined && !isStringArray(ed.remove)) throw new BadRequestError('INVALID_BODY', 'edits.remove must be an array of strings');
  if (ed.set !== undefined && (typeof ed.set !== 'object' || ed.set === null || Array.isArray(ed.set)
    || !Object.values(ed.set).every((v) => typeof v === 'string'))) {
    throw new BadRequestError('INVALID_BODY', 'edits.set must be an object of strings');
  }
  if (ed.separator !== undefined && ed.separator !== 'before' && ed.separator !== 'after') {
    throw new BadRequestError('INVALID_BODY', 'edits.separator must be "before" or "after"');
  }
  const edits: Edits = {
    ...(ed.append !== undefined ? { append: ed.append as string[] } : {}),
    ...(ed.set !== undefined ? { set: ed.set as Record<string, string> } : {}),
    ...(ed.remove !== undefined ? { remove: ed.remove as string[] } : {}),
    ...(ed.separator !== undefined ? { separator: ed.separator as 'before' | 'after' } : {}),
  };
  let expiresAt: string | undefined;
  if (b.expiresAt !== undefined && b.expiresAt !== null) {
    const ms = typeof b.expiresAt === 'string' ? Date.parse(b.expiresAt) : NaN;
    if (Number.isNaN(ms)) throw new BadRequestError('INVALID_BODY', 'expiresAt must be an ISO 8601 date');
    expiresAt = new Date(ms).toISOString();
  }
  return { bootIso: b.bootIso, edits, ...(expiresAt !== undefined ? { expiresAt } : {}) };
}

function checkName(name: string): void {
  if (!isValidNodeName(name)) throw new BadRequestError('INVALID_NAME', 'node names are 1 to 128 of [A-Za-z0-9._-]');
}

export function adminRoutes(deps: AdminRouteDeps): Hono {
  const app = new Hono();
  const etagTimeoutMs = deps.etagTimeoutMs ?? 10_000;

  async function currentEtag(name: string): Promise<{ etag: string | null; etagError?: { code: string; message: string } }> {
    const signal = AbortSignal.timeout(etagTimeoutMs);
    try {
      const image = await Promise.race([
        deps.resolver.image(name, signal),
        new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new IsoproxyError('ETAG_TIMEOUT', `no ETag within ${etagTimeoutMs} ms`)), { once: true })),
      ]);
      return { etag: image.etag };
    } catch (err) {
      return { etag: null, etagError: { code: errorCode(err), message: errorMessage(err) } };
    }
  }

  async function view(spec: NodeSpec, withEtag: boolean): Promise<NodeView> {
    const expired = isExpired(spec, deps.now());
    const base = { ...spec, url: nodeUrl(deps.publicUrl, spec.name), expired };
    if (!withEtag) return base;
    if (expired) {
      deps.resolver.forget(spec.name);
      return { ...base, etag: null, etagError: { code: 'NODE_EXPIRED', message: `node expired at ${spec.expiresAt}` } };
    }
    return { ...base, ...(await currentEtag(spec.name)) };
  }

  app.use('*', bearerAuth(deps.adminToken));

  app.put('/nodes/:name', bodyLimit({ maxSize: MAX_BODY_BYTES, onError: () => { throw new BadRequestError('BODY_TOO_LARGE', `body is larger than ${MAX_BODY_BYTES} bytes`); } }), async (c) => {
    const name = c.req.param('name');
    checkName(name);
    let body: unknown;
    try {
      body = await c.req.json();
    } catch (err) {
      throw err instanceof IsoproxyError ? err : new BadRequestError('INVALID_JSON', 'body is not valid JSON');
    }
    const parsed = parseNodeBody(body);
    try {
      deps.checkUpstreamAllowed(parsed.bootIso);
    } catch (err) {
      if (!(err instanceof IsoproxyError)) throw err;
      throw new BadRequestError('UPSTREAM_NOT_ALLOWED', err.message, { cause: err });
    }
    deps.validateEdits(parsed.edits);
    const now = deps.now().toISOString();
    const existing = await deps.store.get(name);
    const spec: NodeSpec = { name, ...parsed, createdAt: existing?.createdAt ?? now, updatedAt: now };
    await deps.store.put(spec);
    // The node's plan depends on its spec: drop whatever was memoized for the old one.
    deps.resolver.forget(name);
    return c.json(await view(spec, true), existing ? 200 : 201);
  });

  app.get('/nodes/:name', async (c) => {
    const name = c.req.param('name');
    checkName(name);
    const spec = await deps.store.get(name);
    if (!spec) throw new NotFoundError(`no node ${JSON.stringify(name)}`);
    return c.json(await view(spec, true));
  });

  app.delete('/nodes/:name', async (c) => {
    const name = c.req.param('name');
    checkName(name);
    const existed = await deps.store.delete(name);
    deps.resolver.forget(name);
    if (!existed) throw new NotFoundError(`no node ${JSON.stringify(name)}`);
    return c.body(null, 204);
  });

  app.get('/nodes', async (c) => {
    const after = c.req.query('after');
    const limitText = c.req.query('limit');
    const limit = limitText === undefined ? DEFAULT_PAGE : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw new BadRequestError('INVALID_LIMIT', `limit must be an integer from 1 to ${MAX_PAGE}`);
    const page = await deps.store.list({ ...(after ? { after } : {}), limit });
    // Lists do not compute ETags (that may fetch and index a base image per node): GET one node for it.
    const nodes = await Promise.all(page.nodes.map((s) => view(s, false)));
    return c.json({ nodes, ...(page.next !== undefined ? { next: page.next } : {}) });
  });

  return app;
}
