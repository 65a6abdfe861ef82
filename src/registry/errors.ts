// Errors of the node registry. NodeExpiredError is thrown by whoever resolves a node past its
// `expiresAt` (the resolver or the ISO route); the HTTP layer maps it to 410 Gone.

import { IsoproxyError } from '../errors.js';

export class NodeExpiredError extends IsoproxyError {
  readonly node: string;
  readonly expiresAt: string;
  constructor(node: string, expiresAt: string) {
    super('NODE_EXPIRED', `node ${JSON.stringify(node)} expired at ${expiresAt}`);
    this.node = node;
    this.expiresAt = expiresAt;
  }
}

/** The store file cannot be read or written, or holds something that is not a node list. */
export class StoreError extends IsoproxyError {
  readonly path: string;
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super('STORE', `node store ${path}: ${message}`, options);
    this.path = path;
  }
}
