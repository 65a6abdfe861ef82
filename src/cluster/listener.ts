// The one listening socket of a cluster, in the primary. Node 20's cluster module would accept in
// the primary and hand connections to forked workers only, with no share for the primary; and
// `reusePort` (each process accepting on its own socket) needs Node 22.12. So the primary accepts
// every connection here, paused (no byte read before it is handed), and hands each in turn to a
// serving part that is ready: its own, or a worker process's, to which the socket's descriptor
// goes over IPC, as Node's cluster module does it.

import type { ChildProcess } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { bindServer } from '../http/bind.js';
import { connectionMessage, isTookMessage } from './ipc.js';

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

/** `Worker.send` with a handle, as the primary calls it. */
export type SendWithHandle = (message: unknown, handle: Socket, options: { keepOpen: boolean }, callback: (err: Error | null) => void) => boolean;

/**
 * The connections handed to one forked worker. Node sends one handle at a time and queues the
 * rest until the worker acknowledges the last; when the worker dies, Node 20 neither sends the
 * queued sockets nor calls their callbacks, and keeps the one in flight open. Handed as Node
 * hands them (`keepOpen: false`), those clients stalled until their own timeout (a crash under a
 * wave's load strands every connection in the queue). So the primary keeps its descriptor of
 * each socket until the worker says it took it (`took`: the primary's copy is closed; the
 * worker's keeps the connection) and, once the worker is gone and every message it sent has been
 * read (`gone`, on its process's 'close'), gives each it never took to `fallback`: no byte of it
 * was read, as a worker reads from a socket only once its `took` is written to the channel (an
 * answer still queued in a worker that died would be lost with it). A send that fails (the
 * worker is exiting) goes to `fallback` at once, and so does one Node in the worker refused
 * (`refused`).
 */
export class WorkerHandover {
  private nextId = 1;
  /** Connections sent and not yet taken, by id (so oldest first), with when each was sent. */
  private readonly untaken = new Map<number, { readonly socket: Socket; readonly sentAt: number }>();

  constructor(
    private readonly send: SendWithHandle,
    private readonly fallback: TakeConnection,
    private readonly now: () => number = Date.now,
  ) {}

  /** Connections sent and not yet taken. */
  get pending(): number {
    return this.untaken.size;
  }

  /** How long the oldest connection not yet taken has waited, in ms (0: none waits). */
  oldestWaitMs(): number {
    const first = this.untaken.values().next();
    return first.done ? 0 : this.now() - first.value.sentAt;
  }

  readonly take = (socket: Socket): void => {
    const id = this.nextId++;
    this.untaken.set(id, { socket, sentAt: this.now() });
    try {
      this.send(connectionMessage(id), socket, { keepOpen: true }, (err) => {
        if (err) this.reroute(id);
      });
    } catch {
      this.reroute(id);
    }
  };

  /** The worker's answer for connection `id`: it serves it (ok), or it got no socket with it. */
  took(id: number, ok: boolean): void {
    const entry = this.untaken.get(id);
    if (!entry) return;
    if (!ok) {
      this.reroute(id);
      return;
    }
    this.untaken.delete(id);
    // Closes this process's descriptor only: the worker's keeps the connection open.
    entry.socket.destroy();
  }

  /**
   * Node in the worker refused the socket in flight (NODE_HANDLE_NACK: its descriptor did not
   * arrive, the worker at its open-file limit, say) and dropped its message, so no `took` comes.
   * Node retries only sockets sent without keepOpen. Sockets go one at a time and every earlier
   * one's `took` was written before this refusal, so it is the oldest not yet taken.
   */
  refused(): void {
    const oldest = this.untaken.keys().next();
    if (!oldest.done) this.reroute(oldest.value);
  }

  /** The worker is gone and its messages are all read: what it never took is served elsewhere. */
  gone(): void {
    for (const id of [...this.untaken.keys()]) this.reroute(id);
  }

  private reroute(id: number): void {
    const entry = this.untaken.get(id);
    if (!entry) return;
    this.untaken.delete(id);
    if (!entry.socket.destroyed) this.fallback(entry.socket);
  }
}

/**
 * A hand-over to a forked process, wired to it: its `took` answers, Node's refusals of a socket,
 * and its 'close' (after its exit and its last message read).
 */
export function handOverTo(child: ChildProcess, fallback: TakeConnection): WorkerHandover {
  const handover = new WorkerHandover(child.send.bind(child) as SendWithHandle, fallback);
  child.on('message', (m: unknown) => {
    if (isTookMessage(m)) handover.took(m.id, m.ok);
  });
  // Node's own acknowledgements of sent handles: a refusal leaves the socket with this process.
  child.on('internalMessage', (m: unknown) => {
    if ((m as { cmd?: unknown } | null)?.cmd === 'NODE_HANDLE_NACK') handover.refused();
  });
  child.once('close', () => handover.gone());
  return handover;
}

/** A worker that has not answered for a connection this long is taken for hung. */
export const UNRESPONSIVE_MS = 30_000;

/**
 * Watches forked workers' hand-overs (by worker id, as they come and go): a worker that leaves a connection unanswered for
 * `unresponsiveMs` is hung (its event loop blocked: Node answers a sent socket from that loop, and
 * queues every later one behind it), and `onHung` is called for it once (the primary kills it;
 * its process's 'close' then gives every connection it never took to another part). A busy worker
 * answers within milliseconds; no transfer or GC holds a loop for seconds. Returns a stop function.
 */
export function watchHandovers(
  handovers: ReadonlyMap<number, WorkerHandover>,
  onHung: (id: number, waitedMs: number) => void,
  unresponsiveMs = UNRESPONSIVE_MS,
  intervalMs = Math.max(10, Math.min(5000, unresponsiveMs / 4)),
): () => void {
  const reported = new Set<number>();
  const timer = setInterval(() => {
    for (const [id, handover] of handovers) {
      const waited = handover.oldestWaitMs();
      if (waited < unresponsiveMs || reported.has(id)) continue;
      reported.add(id);
      onHung(id, waited);
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
