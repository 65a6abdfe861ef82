// Errors to HTTP responses, in one place. Every route (ISO, admin, vmedia) throws typed errors
// (src/errors.ts, src/serving/errors.ts and the ones below); `errorStatus` says which status each
// gets, `errorBody` renders the API's JSON body `{ error: { code, message, ...details } }`, and
// `errorResponse` answers HEAD with exactly GET's headers (type and length of the body it omits).
// A failure after the head is sent cannot change the status: the body writer destroys the
// socket instead, so the client sees a short body.

import type { Context, ErrorHandler } from 'hono';
import type { Logger } from 'pino';
import {
  BaseChangedError,
  EditValidationError,
  FatFormatError,
  IsoFormatError,
  IsoproxyError,
  LimitExceededError,
  NotFoundError,
  OutOfBoundsError,
  RangeNotSatisfiableError,
  RedfishError,
  RemasterError,
  ServiceUnavailableError,
  UpstreamError,
  type ErrorCode,
  type RequestErrorCode,
} from '../errors.js';
import { NodeExpiredError } from '../registry/errors.js';
import { InvalidBaseError, NodeValidationError } from '../serving/errors.js';
import { ClientAbortError } from './body.js';

/** A request the API cannot accept as sent (bad JSON, bad body, bad query, ...). */
export class BadRequestError extends IsoproxyError {
  declare readonly code: RequestErrorCode;
  constructor(code: RequestErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export class UnauthorizedError extends IsoproxyError {
  constructor(message = 'a valid bearer token is required') {
    super('UNAUTHORIZED', message);
  }
}

/** A body that is not `application/json` where JSON is expected. */
export class UnsupportedMediaTypeError extends IsoproxyError {
  constructor(message = 'the body must be Content-Type: application/json') {
    super('UNSUPPORTED_MEDIA_TYPE', message);
  }
}

/** If-Match or If-Unmodified-Since failed (RFC 9110 §13.1.1, §13.1.4). */
export class PreconditionFailedError extends IsoproxyError {
  constructor(message: string) {
    super('PRECONDITION_FAILED', message);
  }
}

/** One client address holds as many image transfers as it may (--max-transfers-per-client). */
export class TooManyTransfersError extends IsoproxyError {
  readonly retryAfterS: number;
  constructor(limit: number, retryAfterS = 1) {
    super('TOO_MANY_TRANSFERS', `this client address has ${limit} image transfers open, the most allowed; retry when one ends`);
    this.retryAfterS = retryAfterS;
  }
}

/** Seconds a client should wait after the base image changed under a transfer (re-indexing). */
export const BASE_CHANGED_RETRY_AFTER_S = 5;

/** Upstream failures that are a wait past a budget rather than an answer. */
function isTimeout(code: ErrorCode): boolean {
  return code.endsWith('_TIMEOUT');
}

/** nginx's "client closed request": no one reads it, but the log line says what happened. */
export const CLIENT_CLOSED_STATUS = 499;

export function errorStatus(err: unknown): number {
  if (err instanceof ClientAbortError) return CLIENT_CLOSED_STATUS;
  if (err instanceof NotFoundError) return 404;
  if (err instanceof NodeExpiredError) return 410;
  if (err instanceof RangeNotSatisfiableError) return 416;
  if (err instanceof PreconditionFailedError) return 412;
  if (err instanceof UnsupportedMediaTypeError) return 415;
  if (err instanceof EditValidationError || err instanceof BadRequestError || err instanceof NodeValidationError) return 400;
  if (err instanceof UnauthorizedError) return 401;
  if (err instanceof TooManyTransfersError) return 429;
  if (err instanceof InvalidBaseError) return 422;
  if (err instanceof BaseChangedError || err instanceof ServiceUnavailableError) return 503;
  if (err instanceof UpstreamError) return isTimeout(err.code) ? 504 : 502;
  // The BMC failed a step: the far side's fault, named in the body.
  // A BMC that did not answer within its budget is a gateway timeout; any other BMC failure, a bad gateway.
  if (err instanceof RedfishError) return err.code === 'REDFISH_TIMEOUT' ? 504 : 502;
  // The base image itself is broken or too big for our caps: the upstream's fault, not ours. A
  // read past the end of a structure is a malformed image too (the serving core wraps the ones it
  // sees as ISO_FORMAT; this catches any other).
  if (err instanceof IsoFormatError || err instanceof FatFormatError || err instanceof LimitExceededError || err instanceof OutOfBoundsError)
    return 502;
  if (err instanceof RemasterError) return 422;
  return 500;
}

export function errorCode(err: unknown): ErrorCode {
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
  if (err instanceof ServiceUnavailableError || err instanceof TooManyTransfersError) return { 'Retry-After': String(err.retryAfterS) };
  if (err instanceof RangeNotSatisfiableError) return { 'Content-Range': `bytes */${err.size}` };
  if (err instanceof UnauthorizedError) return { 'WWW-Authenticate': 'Bearer realm="isoproxy"' };
  return {};
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; [detail: string]: unknown };
}

export function errorBody(err: unknown): ErrorBody {
  const base = { code: errorCode(err), message: errorMessage(err) };
  // Which BMC, resource and step failed, and what the BMC answered: what an operator acts on.
  if (err instanceof RedfishError) return { error: { ...base, bmc: err.bmc, resource: err.resource, step: err.step, status: err.status ?? null } };
  return { error: base };
}

/**
 * The response for an error raised before any byte of the body was sent. HEAD gets GET's
 * headers, Content-Type and Content-Length included, and no body (RFC 9110 §9.3.2).
 */
export function errorResponse(c: Context, err: unknown): Response {
  const { status, headers, json } = errorParts(err);
  if (c.req.method === 'HEAD') return c.body(null, status as 400, headers);
  return c.body(json, status as 400, headers);
}

/** Status, headers and JSON body of an error answer, for any writer (hono, or Node's response). */
export function errorParts(err: unknown): { status: number; headers: Record<string, string>; json: string } {
  const json = JSON.stringify(errorBody(err));
  const headers = {
    ...errorHeaders(err),
    'Cache-Control': 'no-store',
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(json)),
  };
  return { status: errorStatus(err), headers, json };
}

/** Fields of the log line of a failed request; Redfish failures name the step, never the request. */
function logFields(err: unknown): Record<string, unknown> {
  if (err instanceof RedfishError) return { code: err.code, bmc: err.bmc, resource: err.resource, step: err.step, bmcStatus: err.status ?? null };
  return { err, code: errorCode(err) };
}

/** The `onError` of every hono app here: one log line per failed request, then errorResponse. */
export function errorHandler(logger: Logger): ErrorHandler {
  return (err, c) => {
    logRequestError((c.get('log') as Logger | undefined) ?? logger, err, c.req.method, c.req.path);
    return errorResponse(c, err);
  };
}

/** The log line of a request that failed before its answer: one per failed request. */
export function logRequestError(log: Logger, err: unknown, method: string, path: string): void {
  const status = errorStatus(err);
  if (status === CLIENT_CLOSED_STATUS) log.info({ code: errorCode(err), method, path }, 'client went away before the answer');
  else if (status >= 500) log.error({ ...logFields(err), status, method, path }, 'request failed');
  else log.info({ ...logFields(err), status, method, path }, 'request refused');
}
