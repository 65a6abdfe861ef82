// When a response's client is gone. A response normally says so itself ('close' before 'finish').
// One queued behind another on a keep-alive connection (HTTP pipelining) does not: when the
// connection closes, Node 20 emits no 'close' for it and never calls its write callbacks, so
// whatever waits on it (a transfer, its file leases, its per-client slot) would wait forever.
// Its connection's 'close' says it instead.

import type { ResponseOut } from './out.js';

/**
 * Calls `gone` once, when `out` closes or its connection closes, whichever comes first. The
 * listener on the connection goes when the response closes, so a keep-alive connection does not
 * collect one per request.
 */
export function whenClosed(out: ResponseOut, gone: () => void): void {
  const socket = out.req?.socket;
  let fired = false;
  const fire = (): void => {
    if (fired) return;
    fired = true;
    socket?.off('close', fire);
    gone();
  };
  out.once('close', fire);
  socket?.once('close', fire);
}
