// The direct server: image requests answered on the raw connection, without Node's HTTP parser
// objects, request and response. On small ranges those were about half of what a request cost
// the serving thread (random 256 KiB ranges: a plain Node file server reaches 0.5-0.6x nginx, a
// raw-socket one above 1x on the same machine). It sits in front of Node's HTTP server, which
// still listens and owns everything else:
// - each connection starts here; request heads are parsed strictly (request-head.ts);
// - an image request (`take` says yes) is answered here, one at a time per connection, with the
//   same route, headers, errors, logs and metrics as through Node (iso-node.ts);
// - anything else, at any request boundary, and every head the strict parser does not accept,
//   hands the connection to Node's server with its unread bytes put back: from then on Node
//   answers on it exactly as before. So odd requests keep Node's behaviour and limits.
// Timeouts match the Node server's: a head must arrive within headersTimeout (else 408), an idle
// keep-alive connection closes after keepAliveTimeout, a connection moving no byte either way after
// the socket idle timeout.

import type { Socket } from 'node:net';
import { parseRequestHead, MAX_HEAD_BYTES, type RequestHead } from './request-head.js';
import { DirectResponse, type ResponseConnection } from './response.js';

export interface DirectOptions {
  /** Answers the request when it is an image request, returning true; false leaves it to Node. */
  readonly take: (head: RequestHead, res: DirectResponse, socket: Socket) => boolean;
  /**
   * Gives the connection to Node's HTTP server (its 'connection' listener). `headStartedAt`
   * (Date.now() time, 0 for none) is when the head Node is to finish reading began arriving:
   * Node times a head from when it sees it, so the time already spent here is the caller's to
   * hold against the headers timeout.
   */
  readonly handOff: (socket: Socket, headStartedAt: number) => void;
  readonly headersTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  /** Close a connection that moves no byte either way for this long. */
  readonly idleTimeoutMs: number;
  /** How often timeouts are checked (as Node's connectionsCheckingInterval). */
  readonly checkIntervalMs: number;
}

export interface DirectServer {
  /** Takes a new connection (the HTTP server's 'connection' event). */
  accept(socket: Socket): void;
  /** Ends connections waiting for a request; the rest end after their response (shutdown). */
  closeIdle(): void;
  /** Destroys every connection still here. */
  closeAll(): void;
  /** Connections served here now. */
  readonly size: number;
  /** Requests answered here, and connections given to Node, since the start. */
  readonly stats: Readonly<DirectStats>;
  /** Stops the timeout checks. */
  stop(): void;
}

export interface DirectStats {
  requests: number;
  handOffs: number;
}

/** Pipelined bytes kept while a response is written; past this the socket stops reading. */
const MAX_BUFFERED = 2 * MAX_HEAD_BYTES;

const LF = 0x0a;

const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';
const REQUEST_TIMEOUT = 'HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';

/** What Node's server does to a head that did not arrive within the headers timeout: 408, then close at once. */
export function timeOutHead(socket: Socket): void {
  socket.write(REQUEST_TIMEOUT);
  socket.destroy();
}

class Connection implements ResponseConnection {
  buf: Buffer | undefined;
  current: DirectResponse | undefined;
  /**
   * When the head being received started (0: none), and when the connection became idle between
   * requests (0: busy). A new connection's first head is timed from the connect, as Node times it:
   * a client that connects and sends nothing gets the 408 after the headers timeout.
   */
  headSince = Date.now();
  idleSince = 0;
  ended = false;
  closing = false;
  /** The request being answered asked for `Connection: close`. */
  private headClose = false;
  private scheduled = false;
  private readonly onData = (chunk: Buffer): void => this.data(chunk);
  private readonly onEnd = (): void => this.end();
  private readonly onClose = (): void => this.closed();
  private readonly onTimeout = (): void => void this.socket.destroy();

  constructor(
    readonly socket: Socket,
    private readonly server: DirectServerImpl,
  ) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onClose);
    socket.on('error', noop);
    socket.on('timeout', this.onTimeout);
    socket.setTimeout(server.opts.idleTimeoutMs);
  }

  get keepAliveLines(): string {
    return this.server.keepAliveLines;
  }

  keepAlive(): boolean {
    return !this.closing && !this.ended && !this.headClose;
  }

  finished(res: DirectResponse): void {
    if (this.current !== res) return;
    this.current = undefined;
    if (this.socket.destroyed) return;
    if (!res.writableFinished) {
      this.socket.destroy();
      return;
    }
    if (!res.keep || this.closing) {
      // As Node's server does after a last response: flush, then close.
      endThenDestroy(this.socket);
      return;
    }
    if (this.socket.isPaused()) this.socket.resume();
    this.idleSince = Date.now();
    if (this.buf && !this.scheduled) {
      // The next pipelined request, after the code that ended this response has returned.
      this.scheduled = true;
      queueMicrotask(() => {
        this.scheduled = false;
        this.next();
      });
    }
  }

  private data(chunk: Buffer): void {
    const waiting = this.buf !== undefined && !this.current;
    this.buf = this.buf ? Buffer.concat([this.buf, chunk]) : chunk;
    if (this.current) {
      if (this.buf.length > MAX_BUFFERED) this.socket.pause();
      return;
    }
    // A head already found incomplete cannot end without a new line: a client trickling bytes
    // costs a scan of its chunk, not a parse of the whole head each time.
    if (waiting && chunk.indexOf(LF) < 0 && this.buf.length < MAX_HEAD_BYTES) return;
    this.next();
  }

  /** Reads the next request from the buffered bytes, if one is complete and nothing is in flight. */
  next(): void {
    const buf = this.buf;
    if (this.current || !buf || this.socket.destroyed) return;
    const parsed = parseRequestHead(buf);
    if (parsed.kind === 'incomplete') {
      if (this.headSince === 0) this.headSince = Date.now();
      this.idleSince = 0;
      if (this.ended) this.socket.end();
      return;
    }
    if (parsed.kind === 'other') {
      this.handOff(this.headSince);
      return;
    }
    const head = parsed.head;
    const res = new DirectResponse(this.socket, this);
    this.headClose = head.close;
    this.current = res;
    this.buf = buf.length > head.length ? buf.subarray(head.length) : undefined;
    const started = this.headSince;
    this.headSince = 0;
    this.idleSince = 0;
    if (!this.server.opts.take(head, res, this.socket)) {
      // Not an image request: Node reads it from its first byte.
      this.current = undefined;
      this.buf = buf;
      this.handOff(started);
      return;
    }
    this.server.stats.requests++;
  }

  /**
   * The client ended its side. As Node's server does (without httpAllowHalfOpen), that is the
   * client going away: a response being written is cut, and the connection ends.
   */
  private end(): void {
    this.ended = true;
    if (this.current) this.socket.destroy();
    // Bytes of a head that will never be finished: Node's parser answers those 400.
    else if (this.buf) endThenDestroy(this.socket, BAD_REQUEST);
    else this.socket.end();
  }

  private closed(): void {
    this.server.forget(this);
    this.current?.gone();
  }

  /** The connection goes to Node's server with every byte not consumed here (a head begun at `headStartedAt`). */
  private handOff(headStartedAt: number): void {
    const { socket, buf } = this;
    this.detach();
    if (buf) socket.unshift(buf);
    this.buf = undefined;
    this.server.stats.handOffs++;
    this.server.opts.handOff(socket, buf ? headStartedAt : 0);
  }

  /** A request head is taking too long, or the connection has been idle too long. */
  expire(now: number): void {
    const { opts } = this.server;
    if (this.current) return;
    if (this.headSince > 0 && now - this.headSince >= opts.headersTimeoutMs) {
      timeOutHead(this.socket);
      return;
    }
    if (this.headSince === 0 && this.idleSince > 0 && now - this.idleSince >= opts.keepAliveTimeoutMs) this.socket.destroy();
  }

  private detach(): void {
    const { socket } = this;
    socket.off('data', this.onData);
    socket.off('end', this.onEnd);
    socket.off('close', this.onClose);
    socket.off('error', noop);
    socket.off('timeout', this.onTimeout);
    socket.setTimeout(0);
    this.server.forget(this);
  }
}

function noop(): void {}

/** Ends the socket once everything written has gone, then closes it (a half-open peer may never end). */
function endThenDestroy(socket: Socket, last?: string): void {
  const destroy = (): void => void socket.destroy();
  if (last === undefined) socket.end(destroy);
  else socket.end(last, destroy);
}

class DirectServerImpl implements DirectServer {
  private readonly conns = new Set<Connection>();
  private readonly timer: NodeJS.Timeout;
  readonly stats: DirectStats = { requests: 0, handOffs: 0 };
  /** The end of every kept connection's response head, the same for all. */
  readonly keepAliveLines: string;

  constructor(readonly opts: DirectOptions) {
    this.keepAliveLines = `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(opts.keepAliveTimeoutMs / 1000)}\r\n\r\n`;
    this.timer = setInterval(() => {
      const now = Date.now();
      for (const c of this.conns) c.expire(now);
    }, opts.checkIntervalMs);
    this.timer.unref();
  }

  get size(): number {
    return this.conns.size;
  }

  accept(socket: Socket): void {
    this.conns.add(new Connection(socket, this));
  }

  forget(c: Connection): void {
    this.conns.delete(c);
  }

  closeIdle(): void {
    for (const c of this.conns) {
      c.closing = true;
      if (!c.current) c.socket.destroy();
    }
  }

  closeAll(): void {
    for (const c of this.conns) c.socket.destroy();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

export function directServer(opts: DirectOptions): DirectServer {
  return new DirectServerImpl(opts);
}
