// undici and socket failures as UpstreamError codes callers can branch on, and which of them are
// worth another attempt: resets, timeouts, unreachable hosts, 5xx and 429. A changed base image
// (BaseChangedError) never is: retrying would read the new version under the old validator.

import { BaseChangedError, UpstreamError } from '../errors.js';
import { isAbortError } from '../io/abort.js';

const RETRYABLE_CODES = new Set(['UPSTREAM_TIMEOUT', 'UPSTREAM_UNREACHABLE', 'UPSTREAM_RESET']);
const TIMEOUT = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'EADDRNOTAVAIL']);
const RESET = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'ECONNABORTED']);

export function isRetryable(err: unknown): boolean {
  if (!(err instanceof UpstreamError) || err instanceof BaseChangedError) return false;
  if (RETRYABLE_CODES.has(err.code)) return true;
  return err.code === 'UPSTREAM_STATUS' && err.status !== undefined && (err.status >= 500 || err.status === 429);
}

/** Maps undici / socket errors to UpstreamError with a stable code; passes our own errors and aborts through. */
export function toUpstreamError(err: unknown, url: string): unknown {
  if (err instanceof UpstreamError) return err;
  const code = (err as { code?: string } | undefined)?.code ?? '';
  const message = err instanceof Error ? err.message : String(err);
  if (TIMEOUT.has(code)) return new UpstreamError('UPSTREAM_TIMEOUT', url, message, undefined, { cause: err });
  if (UNREACHABLE.has(code)) return new UpstreamError('UPSTREAM_UNREACHABLE', url, message, undefined, { cause: err });
  if (RESET.has(code)) return new UpstreamError('UPSTREAM_RESET', url, message, undefined, { cause: err });
  if (isAbortError(err)) return err;
  return new UpstreamError('UPSTREAM_FAILED', url, message, undefined, { cause: err });
}
