// Typed errors shared by every module. Each error has a stable `code` that callers branch on and
// that the HTTP layer maps to a status in one place (src/http/errors.ts). Codes are string literal
// unions, so a new code is added here, where the map can see it. Wrap with `{ cause }` to add
// context. Across a piscina boundary, send `toResult(err)` instead of the error: structured clone
// drops an error's subclass, name and code.

/** Codes of upstream failures; the upstream layer may add more under its prefix. */
export type UpstreamErrorCode =
  | 'UPSTREAM_BAD_RANGE'
  | 'UPSTREAM_CLOSED'
  | 'UPSTREAM_FAILED'
  | 'UPSTREAM_FORBIDDEN'
  | 'UPSTREAM_NOT_ALLOWED'
  | 'UPSTREAM_NO_LENGTH'
  | 'UPSTREAM_NO_VALIDATOR'
  | 'UPSTREAM_REDIRECTS'
  | 'UPSTREAM_RESET'
  | 'UPSTREAM_STATUS'
  | 'UPSTREAM_TIMEOUT'
  | 'UPSTREAM_UNREACHABLE'
  | `UPSTREAM_${string}`
  | 'BASE_CHANGED';

/** Codes of Redfish steps that failed at a BMC (the controller names them per step). */
export type RedfishErrorCode = `REDFISH_${string}`;

/** Codes of the Ironic node source (configuration, reachability, credentials). */
export type IronicErrorCode = `IRONIC_${string}`;

/** Why the remaster engine cannot produce an image for a node's edits. */
export type RemasterErrorCode =
  | 'NO_KERNEL_LINES'
  | 'MULTI_EXTENT_CONFIG'
  | 'REMASTER_CONFLICT'
  | 'FAT_NO_SPACE'
  | 'NO_INITRD'
  | 'INITRD_IN_FAT'
  | 'MULTI_EXTENT_INITRD'
  | 'INITRD_TOO_LARGE'
  | 'APPEND_TOO_LARGE';

/** Malformed images and the caps on what an image controls. */
export type FormatErrorCode =
  | 'ISO_FORMAT'
  | 'FAT_FORMAT'
  | 'FAT_NO_SPACE'
  | 'FAT_SPEC'
  | 'FAT_WRITE_CONFLICT'
  | 'LIMIT_EXCEEDED'
  | 'OUT_OF_BOUNDS'
  | 'PATCH_SET_INVALID'
  | 'INVALID_ISO_SPEC';

/** What a request asked for that is not there, or not valid. */
export type RequestErrorCode =
  | 'NOT_FOUND'
  | 'NODE_EXPIRED'
  | 'RANGE_NOT_SATISFIABLE'
  | 'PRECONDITION_FAILED'
  | 'INVALID_EDIT'
  | 'INVALID_NAME'
  | 'INVALID_BODY'
  | 'INVALID_JSON'
  | 'INVALID_LIMIT'
  | 'INVALID_REQUEST'
  | 'EXPIRES_IN_PAST'
  | 'BODY_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'UNAUTHORIZED'
  | 'TOO_MANY_TRANSFERS';

/** Failures of this process rather than of a request or an upstream. */
export type ServiceErrorCode =
  | 'STORE'
  | 'CONFIG'
  | 'WORKER_MISSING'
  | 'ETAG_TIMEOUT'
  | 'BODY_LENGTH'
  | 'CLIENT_ABORT'
  | 'SEND_FAILED'
  | 'INTERNAL'
  | 'STATUS_UNAVAILABLE'
  | 'STORE_UNAVAILABLE'
  | 'STORE_SPEC';

export type ErrorCode =
  | UpstreamErrorCode
  | RedfishErrorCode
  | IronicErrorCode
  | RemasterErrorCode
  | FormatErrorCode
  | RequestErrorCode
  | ServiceErrorCode;

import { redactUrl } from './redact.js';

export class IsoproxyError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A structure of an ISO image (or of something inside it) is not what its spec says. */
export class IsoFormatError extends IsoproxyError {
  /** Which structure, e.g. 'directory record', 'El Torito validation entry'. */
  readonly structure: string;
  /** Absolute byte offset in the image where the problem was found. */
  readonly offset: number;
  constructor(structure: string, offset: number, message: string, options?: { cause?: unknown }) {
    super('ISO_FORMAT', `${structure} at byte ${offset}: ${message}`, options);
    this.structure = structure;
    this.offset = offset;
  }
}

/** A FAT file system (an El Torito EFI image) is malformed. Offsets are relative to the FAT image. */
export class FatFormatError extends IsoproxyError {
  readonly structure: string;
  readonly offset: number;
  constructor(structure: string, offset: number, message: string, options?: { cause?: unknown }) {
    super('FAT_FORMAT', `${structure} at byte ${offset} of the FAT image: ${message}`, options);
    this.structure = structure;
    this.offset = offset;
  }
}

/** A FAT image has no free clusters left for a file that grows. */
export class FatNoSpaceError extends IsoproxyError {
  readonly path: string;
  readonly neededBytes: number;
  readonly freeBytes: number;
  constructor(path: string, neededBytes: number, freeBytes: number) {
    super('FAT_NO_SPACE', `no room in the FAT image for ${path}: needs ${neededBytes} bytes, ${freeBytes} free`);
    this.path = path;
    this.neededBytes = neededBytes;
    this.freeBytes = freeBytes;
  }
}

/** A cap on something the image controls (depth, entries, CE hops, metadata bytes) was hit. */
export class LimitExceededError extends IsoproxyError {
  readonly limit: string;
  readonly offset: number;
  constructor(limit: string, offset: number, message: string) {
    super('LIMIT_EXCEEDED', `${limit} exceeded at byte ${offset}: ${message}`);
    this.limit = limit;
    this.offset = offset;
  }
}

/** A read past the end of a byte source or buffer. */
export class OutOfBoundsError extends IsoproxyError {
  readonly offset: number;
  readonly length: number;
  readonly size: number;
  constructor(offset: number, length: number, size: number, what = 'read') {
    super('OUT_OF_BOUNDS', `${what} of ${length} bytes at ${offset} is outside 0..${size}`);
    this.offset = offset;
    this.length = length;
    this.size = size;
  }
}

export class NotFoundError extends IsoproxyError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NOT_FOUND', message, options);
  }
}

/** A node's kernel-parameter edits are invalid; `parameter` names the offending one. */
export class EditValidationError extends IsoproxyError {
  readonly parameter: string;
  constructor(parameter: string, message: string) {
    super('INVALID_EDIT', `invalid parameter ${JSON.stringify(parameter)}: ${message}`);
    this.parameter = parameter;
  }
}

/** The remaster engine cannot produce a valid image for these edits (e.g. nothing to edit). */
export class RemasterError extends IsoproxyError {
  declare readonly code: RemasterErrorCode;
  constructor(code: RemasterErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export class UpstreamError extends IsoproxyError {
  declare readonly code: UpstreamErrorCode;
  /** The upstream's URL with credentials removed: errors reach logs and clients. */
  readonly url: string;
  readonly status: number | undefined;
  constructor(code: UpstreamErrorCode, url: string, message: string, status?: number, options?: { cause?: unknown }) {
    super(code, `upstream ${redactUrl(url)}: ${message}`, options);
    this.url = redactUrl(url);
    this.status = status;
  }
}

/** The base image changed (new validator) while it was being read. */
export class BaseChangedError extends UpstreamError {
  constructor(url: string, message: string) {
    super('BASE_CHANGED', url, message);
  }
}

export class RangeNotSatisfiableError extends IsoproxyError {
  readonly size: number;
  constructor(size: number, message = 'range not satisfiable') {
    super('RANGE_NOT_SATISFIABLE', message);
    this.size = size;
  }
}

/** A Redfish step failed; names the BMC, the resource and the step. */
export class RedfishError extends IsoproxyError {
  readonly bmc: string;
  readonly resource: string;
  readonly step: string;
  readonly status: number | undefined;
  declare readonly code: RedfishErrorCode;
  constructor(code: RedfishErrorCode, bmc: string, resource: string, step: string, message: string, status?: number, options?: { cause?: unknown }) {
    super(code, `BMC ${bmc}: ${step} ${resource}: ${message}`, options);
    this.bmc = bmc;
    this.resource = resource;
    this.step = step;
    this.status = status;
  }
}

/** A result that crosses a worker boundary intact. */
export type Result<T> = { ok: true; value: T } | { ok: false; code: ErrorCode | 'INTERNAL'; message: string; name: string };

export function toResult(err: unknown): { ok: false; code: ErrorCode | 'INTERNAL'; message: string; name: string } {
  if (err instanceof IsoproxyError) return { ok: false, code: err.code, message: err.message, name: err.name };
  if (err instanceof Error) return { ok: false, code: 'INTERNAL', message: err.message, name: err.name };
  return { ok: false, code: 'INTERNAL', message: String(err), name: 'Error' };
}

/** Error classes a worker may report, by name, so the main thread gets the same class back. */
const WORKER_ERRORS: Record<string, abstract new (...args: never[]) => IsoproxyError> = {
  IsoFormatError,
  FatFormatError,
  FatNoSpaceError,
  LimitExceededError,
  OutOfBoundsError,
  NotFoundError,
  EditValidationError,
  RemasterError,
  IsoproxyError,
};

/**
 * Rebuilds an error from a worker's result: the same class (so `instanceof` and the HTTP status
 * mapping work), code and message. Class-specific fields (offsets, paths) are not carried; the
 * message already names them.
 */
export function fromResult(result: { code: string; message: string; name: string }): IsoproxyError {
  const cls = WORKER_ERRORS[result.name] ?? IsoproxyError;
  const err = Object.create(cls.prototype) as IsoproxyError & { name: string; message: string; stack?: string };
  Object.defineProperties(err, {
    code: { value: result.code, enumerable: true },
    name: { value: result.name, writable: true, configurable: true },
    message: { value: result.message, writable: true, configurable: true },
    stack: { value: `${result.name}: ${result.message}\n    at (remaster worker)`, writable: true, configurable: true },
  });
  return err;
}

/**
 * A dependency this process needs for the request (a shared node store, Ironic) cannot answer
 * right now: 503 with Retry-After, so BMCs and conductors come back instead of giving up.
 */
export class ServiceUnavailableError extends IsoproxyError {
  readonly retryAfterS: number;
  constructor(code: ErrorCode, message: string, retryAfterS: number, options?: { cause?: unknown }) {
    super(code, message, options);
    this.retryAfterS = retryAfterS;
  }
}
