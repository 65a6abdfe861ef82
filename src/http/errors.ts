// Errors to HTTP statuses, in one place. Every route throws typed errors (src/errors.ts and the
// ones below); `errorStatus` says which status each gets, `errorResponse` renders the API's JSON
// body `{ error: { code, message } }`. A failure after the headers are sent cannot change the
// status: the body writer destroys the socket instead, so the client sees a short body.

import type { Context } from 'hono';
import {
  BaseChangedError, EditValidationError, FatFormatError, IsoFormatError, IsoproxyError, LimitExceededError,
  NotFoundError, RangeNotSatisfiableError, RemasterError, UpstreamError,
} from '../errors.js';
import { NodeExpiredError } from '../registry/errors.js';

/** A request the API cannot accept (bad JSON, bad name, upstream not allowed, ...). */
export class BadRequestError extends IsoproxyError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export class UnauthorizedError extends IsoproxyError {
  constructor(message = 'a valid bearer token is required') {
    super('UNAUTHORIZED', message);
  }
}

/** Seconds a client should wait after the base image changed under a transfer (re-indexing). */
export const BASE_CHANGED_RETRY_AFTER_S = 5;

export function errorStatus(err: unknown): number {
  if (err instanceof NotFoundError) return 404;
  if (err instanceof NodeExpiredError) return 410;
  if (err instanceof RangeNotSatisfiableError) return 416;
  if (err instanceof EditValidationError || err instanceof BadRequestError) return 400;
  if (err instanceof UnauthorizedError) return 401;
  if (err instanceof BaseChangedError) return 503;
  if (err instanceof UpstreamError) return /TIMEOUT/.test(err.code) ? 504 : 502;
  // The base image itself is broken or too big for our caps: the upstream's fault, not ours.
  if (err instanceof IsoFormatError || err instanceof FatFormatError || err instanceof LimitExceededError) return 502;
  if (err instanceof RemasterError) return 422;
  return 500;
}

export function errorCode(err: unknown): string {
  return err instanceof IsoproxyError ? err.code : 'INTERNAL';
}

/** The message a client sees; unknown errors do not leak their text. */
export function errorMessage(err: unknown): string {
  if (err instanceof IsoproxyError) return err.message;
  return 'internal error';
}

/** Extra headers a status needs (Retry-After, Content-Range for 416, WWW-Authenticate). */
export function errorHeaders(err: unknown): Record<string, string> {
  if (err instanceof BaseChangedError) return { 'Retry-After': String(BASE_CHANGED_RETRY_AFTER_S) };
  if (err instanceof RangeNotSatisfiableError) return { 'Content-Range': `bytes */${err.size}` };
  if (err instanceof UnauthorizedError) return { 'WWW-Authenticate': 'Bearer realm="isoproxy"' };
  return {};
}

export function errorBody(err: unknown): { error: { code: string; message: string } } {
  return { error: { code: errorCode(err), message: errorMessage(err) } };
}

/** The response for an error thrown before any byte of the body was sent. */
export function errorResponse(c: Context, err: unknown): Response {
  const status = errorStatus(err);
  const headers = { ...errorHeaders(err), 'Cache-Control': 'no-store' };
  if (c.req.method === 'HEAD') return c.body(null, status as 400, headers);
  return c.json(errorBody(err), status as 400, headers);
}
