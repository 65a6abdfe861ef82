// A cap on the image transfers one client address holds at once. A
// BMC reads its image over one or a few connections; an address with dozens of transfers open is
// a broken client or an attack, and each open transfer holds a cache reader and socket buffers.
// Past the cap a GET answers 429 TOO_MANY_TRANSFERS with Retry-After, before any image work.
//
// A transfer counts from the request until its response closes (body written, or the client
// went away), read from the Node response the adaptor passes as `c.env.outgoing`. HEAD is not
// counted: it sends no image and ends at once. Requests without a socket (app.fetch in tests)
// are not counted either.

import { whenClosed } from './response-gone.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MiddlewareHandler } from 'hono';
import { TooManyTransfersError } from './errors.js';
import type { ResponseOut } from './out.js';

interface NodeBindings {
  readonly incoming?: IncomingMessage;
  readonly outgoing?: ServerResponse;
}

export interface TransfersPerClient {
  readonly middleware: MiddlewareHandler;
  /**
   * Counts a GET from `address` until `outgoing` closes; throws TooManyTransfersError past the
   * cap. Returns the release (for a request that fails before its answer).
   */
  acquire(address: string, outgoing: ResponseOut): () => void;
  /** Transfers open per address now (tests, status). */
  open(address: string): number;
}

export function transfersPerClient(max: number): TransfersPerClient {
  // Only addresses with a transfer open are kept: the map is bounded by open connections.
  const open = new Map<string, number>();
  const acquire = (address: string, outgoing: ResponseOut): (() => void) => {
    const n = open.get(address) ?? 0;
    if (n >= max) throw new TooManyTransfersError(max);
    open.set(address, n + 1);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    };
    whenClosed(outgoing, release);
    return release;
  };
  const middleware: MiddlewareHandler = async function transfersPerClientLimit(c, next) {
    const env = c.env as NodeBindings | undefined;
    const address = env?.incoming?.socket.remoteAddress;
    const outgoing = env?.outgoing;
    if (c.req.method !== 'GET' || address === undefined || outgoing === undefined) return next();
    const release = acquire(address, outgoing);
    try {
      await next();
    } catch (err) {
      release();
      throw err;
    }
  };
  return { middleware, acquire, open: (address) => open.get(address) ?? 0 };
}
