// Errors of the serving core's own decisions about nodes: a spec it refuses to store, and a base it
// refuses to accept as a node's image. Mapped to HTTP in src/http/errors.ts with the rest.

import { FatFormatError, IsoFormatError, IsoproxyError, LimitExceededError, type ErrorCode } from '../errors.js';

/** A node spec that may not be stored: a bad name, an upstream outside the allowlist, an expiry in the past. */
export class NodeValidationError extends IsoproxyError {
  declare readonly code: 'INVALID_NAME' | 'UPSTREAM_NOT_ALLOWED' | 'EXPIRES_IN_PAST';
  constructor(code: NodeValidationError['code'], message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** The error types that say a base image itself is broken (not unreachable, not our bug). */
export function isMalformedBase(err: unknown): err is IsoFormatError | FatFormatError | LimitExceededError {
  return err instanceof IsoFormatError || err instanceof FatFormatError || err instanceof LimitExceededError;
}

/**
 * A node was refused because its base is not a usable ISO (truncated, random bytes, over a cap).
 * Keeps the cause's code (ISO_FORMAT, ...) so a client sees what is wrong with the image.
 */
export class InvalidBaseError extends IsoproxyError {
  readonly url: string;
  constructor(url: string, cause: IsoproxyError) {
    super(cause.code as ErrorCode, `base ${url} is not a usable ISO image: ${cause.message}`, { cause });
    this.url = url;
  }
}
