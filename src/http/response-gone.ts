// When a response's client is gone. A response normally says so itself ('close' before 'finish').
// One queued behind another on a keep-alive connection (HTTP pipelining) does not: when the
// connection closes, Node 20 emits no 'close' for it and never calls its write callbacks, so
// whatever waits on it (a transfer, its file leases, its per-client slot) would wait forever.
// Its connection's 'close' says it instead.
//
// A connection gets one 'close' listener of ours, however many responses wait on it: Node's
// server answers pipelined requests in order but reads them all at once, so a client pipelining
// a dozen image requests had two listeners per request on its socket (the transfer's and its
// per-client slot's), past EventEmitter's warning threshold, and added and removed two per
// request on every keep-alive connection.

import type { Socket } from 'node:net';
import type { ResponseOut } from './out.js';

/** The callbacks waiting on each connection's close. */
const waiting = new WeakMap<Socket, Set<() => void>>();

function closed(socket: Socket): void {
  const set = waiting.get(socket);
  waiting.delete(socket);
  if (set) for (const fire of set) fire();
}

/**
 * Calls `gone` once, when `out` closes or its connection closes, whichever comes first. Its
 * place on the connection goes when the response closes, so a keep-alive connection does not
 * collect one per request.
 */
export function whenClosed(out: ResponseOut, gone: () => void): void {
  const socket = out.req?.socket ?? undefined;
  let fired = false;
  const fire = (): void => {
    if (fired) return;
    fired = true;
    if (socket) waiting.get(socket)?.delete(fire);
    gone();
  };
  out.once('close', fire);
  if (!socket) return;
  let set = waiting.get(socket);
  if (!set) {
    set = new Set();
    waiting.set(socket, set);
    socket.once('close', () => closed(socket));
  }
  set.add(fire);
}
