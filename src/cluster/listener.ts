// The one listening socket of a cluster, in the primary. Node 20's cluster module would accept in
// the primary and hand connections to forked workers only, with no share for the primary; and
// `reusePort` (each process accepting on its own socket) needs Node 22.12. So the primary accepts
// every connection here, paused (no byte read before it is handed), and hands each in turn to a
// serving part that is ready: its own, or a worker process's, to which the socket's descriptor
// goes over IPC, as Node's cluster module does it.

import { createServer, type Server, type Socket } from 'node:net';
import { bindServer } from '../http/bind.js';
import { CONNECTION_MESSAGE } from './ipc.js';

/** Serves one handed connection. */
export type TakeConnection = (socket: Socket) => void;

export class ClusterListener {
  readonly server: Server;
  private readonly parts = new Map<number, TakeConnection>();
  private order: TakeConnection[] = [];
  private next = 0;
  private closed = false;

  constructor() {
    this.server = createServer({ pauseOnConnect: true }, (socket) => this.dispatch(socket));
  }

  /** Binds the socket; resolves with its URL. */
  listen(port: number, host: string): Promise<string> {
    return bindServer(this.server, port, host);
  }

  /** A serving part ready for connections (again, after a restart, under a new id). */
  add(id: number, take: TakeConnection): void {
    this.parts.set(id, take);
    this.order = [...this.parts.values()];
  }

  /** A part that went or is draining: it gets no more connections. */
  remove(id: number): void {
    if (!this.parts.delete(id)) return;
    this.order = [...this.parts.values()];
  }

  /**
   * Stops accepting: the listening socket is closed at once. Connections already handed are the
   * parts' to drain (Node's 'close' would wait for the primary's own part's too, so none is awaited).
   */
  close(): void {
    this.closed = true;
    this.parts.clear();
    this.order = [];
    this.server.close();
  }

  private dispatch(socket: Socket): void {
    socket.on('error', () => {});
    const parts = this.order;
    if (this.closed || parts.length === 0) {
      socket.destroy();
      return;
    }
    const take = parts[this.next % parts.length]!;
    this.next = (this.next + 1) % parts.length;
    take(socket);
  }
}

/**
 * Hands a socket to a forked worker. A send that fails (the worker is exiting) leaves the socket
 * to `fallback` when it is still open here; the client's retry finds another part otherwise.
 */
export function sendConnection(
  send: (message: unknown, handle: Socket, options: { keepOpen: boolean }, callback: (err: Error | null) => void) => boolean,
  socket: Socket,
  fallback: TakeConnection,
): void {
  const failed = (): void => {
    if (!socket.destroyed) fallback(socket);
  };
  try {
    send(CONNECTION_MESSAGE, socket, { keepOpen: false }, (err) => {
      if (err) failed();
    });
  } catch {
    failed();
  }
}
