// Admin API for VirtualMedia: `POST /nodes/:name/vmedia` attaches a node's image URL through the
// node's BMC (and sets a one-time CD boot, optionally resetting), `DELETE /nodes/:name/vmedia`
// ejects and clears the override. The lead mounts this under /api/v1 behind the bearer-token
// middleware. BMC credentials come with each request and are used for that request only: never
// logged, never stored. Failures at the BMC are 502 with the step that failed; every error answers
// through the one map in src/http/errors.ts.

import { Hono, type Context } from 'hono';
import { pino, type Logger } from 'pino';
import { BadRequestError, errorHandler } from '../http/errors.js';
import { readJsonBody } from '../http/json-body.js';
import { isValidNodeName } from '../registry/store.js';
import { bmcName } from './client.js';
import { attach, detach, type BmcTarget } from './controller.js';
import { isObject, type JsonObject } from './json.js';

export interface VmediaRoutesDeps {
  /** The node's image URL as BMCs must fetch it; throws NotFoundError for an unknown node. */
  imageUrl(node: string): Promise<string> | string;
  readonly logger?: Logger;
  /** Per-request timeout towards the BMC. Default 30 s. */
  readonly timeoutMs?: number;
  /** Injected in tests. */
  readonly sleep?: (ms: number) => Promise<void>;
}

const invalid = (message: string): BadRequestError => new BadRequestError('INVALID_REQUEST', message);

function field(body: JsonObject, name: string, type: 'string' | 'boolean', required: boolean): unknown {
  const v = body[name];
  if (v === undefined || v === null) {
    if (required) throw invalid(`${name} is required`);
    return undefined;
  }
  if (typeof v !== type) throw invalid(`${name} must be a ${type}`);
  if (type === 'string' && (v as string).length > 16_384) throw invalid(`${name} is too long`);
  return v;
}

function checkNode(node: string): void {
  // The same rule as the store's: any node that can be created can be attached.
  if (!isValidNodeName(node)) throw new BadRequestError('INVALID_NAME', 'node names are 1 to 128 of [A-Za-z0-9._-], not "." or ".."');
}

async function readTarget(c: Context, deps: VmediaRoutesDeps, log: Logger): Promise<BmcTarget & { bootMode?: 'uefi' | 'legacy'; reset?: boolean }> {
  const body = await readJsonBody(c);
  if (!isObject(body)) throw invalid('request body must be a JSON object');
  const bmc = field(body, 'bmc', 'string', true) as string;
  try {
    const u = new URL(bmc);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
  } catch {
    throw invalid('bmc must be an http(s) URL');
  }
  const bootMode = field(body, 'bootMode', 'string', false);
  if (bootMode !== undefined && bootMode !== 'uefi' && bootMode !== 'legacy') throw invalid('bootMode must be "uefi" or "legacy"');
  const insecure = field(body, 'insecure', 'boolean', false) as boolean | undefined;
  const ca = field(body, 'ca', 'string', false) as string | undefined;
  if (insecure && ca !== undefined) throw invalid('give either insecure or ca, not both');
  const systemId = field(body, 'systemId', 'string', false) as string | undefined;
  return {
    bmc,
    username: field(body, 'username', 'string', true) as string,
    password: field(body, 'password', 'string', true) as string,
    ...(systemId !== undefined ? { systemId } : {}),
    ...(bootMode !== undefined ? { bootMode: bootMode as 'uefi' | 'legacy' } : {}),
    reset: (field(body, 'reset', 'boolean', false) as boolean | undefined) ?? false,
    tls: { insecure: insecure ?? false, ...(ca !== undefined ? { ca } : {}) },
    logger: log,
    ...(deps.timeoutMs !== undefined ? { timeoutMs: deps.timeoutMs } : {}),
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
  };
}

/**
 * Runs one operation at a time per BMC system: two conductors attaching the same machine at once
 * would interleave eject/insert and leave either image in place.
 */
function serializer(): <T>(key: string, fn: () => Promise<T>) => Promise<T> {
  const tails = new Map<string, Promise<unknown>>();
  return async <T>(key: string, fn: () => Promise<T>): Promise<T> => {
    const prev = tails.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    tails.set(key, tail);
    try {
      return await run;
    } finally {
      if (tails.get(key) === tail) tails.delete(key);
    }
  };
}

export function vmediaRoutes(deps: VmediaRoutesDeps): Hono {
  const log = deps.logger ?? pino({ level: 'silent' });
  const app = new Hono();
  // Errors answer through the one map (src/http/errors.ts), also when mounted on its own.
  app.onError(errorHandler(log));
  const serial = serializer();
  const keyOf = (t: BmcTarget): string => `${bmcName(t.bmc)} ${t.systemId ?? ''}`;

  app.post('/nodes/:name/vmedia', async (c) => {
    const node = c.req.param('name');
    checkNode(node);
    const target = await readTarget(c, deps, log);
    const imageUrl = await deps.imageUrl(node);
    log.info({ node, bmc: bmcName(target.bmc), system: target.systemId ?? null }, 'attaching virtual media');
    const result = await serial(keyOf(target), () => attach({ ...target, imageUrl }));
    log.info({ node, bmc: result.bmc, system: result.system, media: result.virtualMedia, reset: result.resetType ?? null }, 'virtual media attached');
    return c.json({ node, ...result });
  });

  app.delete('/nodes/:name/vmedia', async (c) => {
    const node = c.req.param('name');
    checkNode(node);
    const target = await readTarget(c, deps, log);
    log.info({ node, bmc: bmcName(target.bmc), system: target.systemId ?? null }, 'detaching virtual media');
    const result = await serial(keyOf(target), () => detach(target));
    return c.json({ node, ...result });
  });

  return app;
}
