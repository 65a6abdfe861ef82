// Errors of the Ironic node source. Each has a stable `code`; the serving core maps them to HTTP
// in one place (src/http/errors.ts): IronicUnavailableError -> 503 with Retry-After,
// IronicNodeRefusedError -> 404 (it is a NotFoundError, so it maps with no extra rule).
// Messages never carry credentials, and a refusal's message (which a BMC or anyone else may see)
// does not carry the base URL or the node's data: the reason and details go to the log.

import { IsoproxyError, NotFoundError, ServiceUnavailableError } from '../errors.js';

/** The Ironic source's options (flags, env, config file) are invalid. */
export class IronicConfigError extends IsoproxyError {
  constructor(message: string) {
    super('IRONIC_CONFIG', message);
  }
}

/**
 * Ironic (or Keystone in front of it) cannot answer now and there is no usable last good spec:
 * 503 with `Retry-After: retryAfterS`. `status` is Ironic's HTTP status when it answered at all.
 */
export class IronicUnavailableError extends ServiceUnavailableError {
  readonly node: string;
  readonly status: number | undefined;
  /** What went wrong (Ironic's URL, the socket error): for logs, not for the client. */
  readonly detail: string;
  constructor(node: string, retryAfterS: number, detail: string, status?: number, options?: { cause?: unknown }) {
    super('IRONIC_UNAVAILABLE', `Ironic cannot be asked about node ${node} now; retry in ${retryAfterS} s`, retryAfterS, options);
    this.node = node;
    this.status = status;
    this.detail = detail;
  }
}

/** Why a node Ironic knows is not served. */
export type RefusalReason =
  /** Neither instance_info/isoproxy_base_iso nor a default base. */
  | 'no-base'
  /** The base is outside the upstream allowlist. */
  | 'upstream-forbidden'
  /** The node's provision state is outside the configured set. */
  | 'provision-state'
  /** instance_info/isoproxy_edits or kernel_append_params cannot be used. */
  | 'invalid-edits';

/** A node Ironic knows but isoproxy will not serve (404; the reason and details are logged). */
export class IronicNodeRefusedError extends NotFoundError {
  readonly node: string;
  /** Ironic's UUID of the node, for the log line operators grep for. */
  readonly uuid: string;
  readonly reason: RefusalReason;
  /** Operator-facing detail (base URL, state, the edit error): logged and shown by `ironic check`, not sent to clients. */
  readonly detail: string;
  constructor(node: string, uuid: string, reason: RefusalReason, detail: string, options?: { cause?: unknown }) {
    super(`Ironic node ${node} is not served (${reason})`, options);
    this.node = node;
    this.uuid = uuid;
    this.reason = reason;
    this.detail = detail;
  }
}

/** Ironic or Keystone refused isoproxy's credentials (401/403): a configuration problem, logged loudly. */
export class IronicAuthError extends IsoproxyError {
  readonly status: number;
  constructor(service: 'ironic' | 'keystone', status: number, message: string) {
    super('IRONIC_AUTH', `${service} refused isoproxy's credentials (${status}): ${message}`);
    this.status = status;
  }
}
