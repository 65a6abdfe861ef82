// One small JSON-over-HTTP helper for Ironic's and Keystone's APIs: undici with a per-request
// timeout, the caller's AbortSignal, and a cap on the body (node documents are a few KiB; a
// misconfigured URL pointing at an ISO must not be read into memory). Transport failures become
// IronicTransportError so callers tell "could not ask" from "asked and got an answer".

import type { Agent, Dispatcher } from 'undici';
import { undici } from '../undici.js';
import { IsoproxyError } from '../errors.js';

/** Ironic's node documents are small; 1 MiB leaves room for large instance_info. */
export const MAX_JSON_BYTES = 1024 * 1024;

export interface TlsOptions {
  /** PEM bundle trusted for Ironic and Keystone (in addition to none: it replaces the default CAs). */
  readonly ca?: Buffer;
  /** Skip certificate verification (tests, labs). */
  readonly insecure?: boolean;
}

export function createIronicAgent(tls: TlsOptions = {}, timeoutMs = 10_000): Agent {
  return new (undici().Agent)({
    connect: { rejectUnauthorized: tls.insecure !== true, timeout: timeoutMs, ...(tls.ca !== undefined ? { ca: tls.ca } : {}) },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    keepAliveTimeout: 30_000,
  });
}

/** The request did not produce an HTTP answer: refused, reset, timed out, DNS, TLS. */
export class IronicTransportError extends IsoproxyError {
  readonly url: string;
  constructor(url: string, message: string, options?: { cause?: unknown }) {
    super('IRONIC_TRANSPORT', `${url}: ${message}`, options);
    this.url = url;
  }
}

export interface JsonResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** Parsed JSON, or the first 512 characters of a non-JSON body, or undefined when empty. */
  readonly body: unknown;
}

export interface JsonRequest {
  readonly method: 'GET' | 'POST' | 'HEAD';
  readonly url: string;
  readonly headers?: Record<string, string>;
  readonly body?: unknown;
  readonly dispatcher: Dispatcher;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

export async function requestJson(req: JsonRequest): Promise<JsonResponse> {
  const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
  let payload: string | undefined;
  if (req.body !== undefined) {
    payload = JSON.stringify(req.body);
    headers['content-type'] = 'application/json';
  }
  const timeout = AbortSignal.timeout(req.timeoutMs);
  const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
  let res: Dispatcher.ResponseData;
  try {
    res = await undici().request(req.url, { method: req.method, headers, body: payload, dispatcher: req.dispatcher, signal });
  } catch (err) {
    throw transportError(req, err, timeout);
  }
  const flat: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers)) {
    if (v !== undefined) flat[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  let text: string;
  try {
    text = await readCapped(res.body, MAX_JSON_BYTES);
  } catch (err) {
    throw transportError(req, err, timeout);
  }
  let body: unknown;
  if (text.length > 0) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text.slice(0, 512);
    }
  }
  return { status: res.statusCode, headers: flat, body };
}

function transportError(req: JsonRequest, err: unknown, timeout: AbortSignal): IsoproxyError {
  if (err instanceof IsoproxyError) return err;
  if (timeout.aborted) return new IronicTransportError(req.url, `no answer within ${req.timeoutMs} ms`, { cause: err });
  if (req.signal?.aborted) return new IronicTransportError(req.url, 'request aborted', { cause: err });
  const e = err as { code?: string; message?: string };
  return new IronicTransportError(req.url, e.code ? `${e.code}: ${e.message ?? ''}`.trim() : (e.message ?? String(err)), { cause: err });
}

async function readCapped(body: Dispatcher.ResponseData['body'], cap: number): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += (chunk as Buffer).length;
    if (total > cap) {
      body.destroy();
      throw new Error(`response body exceeds ${cap} bytes`);
    }
    chunks.push(Buffer.from(chunk as Buffer));
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A short description of an error body for logs and messages (Ironic puts it in `error_message`). */
export function describeBody(body: unknown): string {
  if (typeof body === 'string') return body.slice(0, 200);
  if (body !== null && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    // Ironic: {"error_message": "{\"faultstring\": ...}"}; Keystone: {"error": {"message": ...}}.
    const em = b['error_message'];
    if (typeof em === 'string') {
      try {
        const inner = JSON.parse(em) as Record<string, unknown>;
        if (typeof inner['faultstring'] === 'string') return inner['faultstring'].slice(0, 200);
      } catch {
        return em.slice(0, 200);
      }
    }
    const e = b['error'];
    if (e !== null && typeof e === 'object' && typeof (e as Record<string, unknown>)['message'] === 'string')
      return String((e as Record<string, unknown>)['message']).slice(0, 200);
  }
  return '';
}
