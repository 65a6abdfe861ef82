// A response of the direct server (server.ts), written to the raw socket: the parts of Node's
// ServerResponse the image route uses (../out.ts), with the head Node would write (status line,
// the route's headers, Date, Connection and Keep-Alive). One response owns the connection at a
// time; the connection reads the next request when this one finishes.

import { EventEmitter } from 'node:events';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { ResponseOut } from '../out.js';

const EMPTY = Buffer.alloc(0);

let dateSecond = -1;
let dateText = '';
/** The Date header's value, made once a second as Node does. */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

export class InvalidHeaderError extends Error {
  constructor(name: string) {
    super(`response header ${name} has a line break or control byte`);
  }
}

/** What the connection tells a response, and learns back when it ends. */
export interface ResponseConnection {
  /** Keep the connection after this response (else `Connection: close`, then the socket ends). */
  keepAlive(): boolean;
  /** The head's last lines for a kept connection: `Connection: keep-alive`, `Keep-Alive: timeout=`. */
  readonly keepAliveLines: string;
  /** The response has written everything, or its connection is gone. */
  finished(res: DirectResponse): void;
}

const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

export class DirectResponse extends EventEmitter implements ResponseOut {
  socket: Socket | null;
  readonly req: { readonly socket: Socket };
  destroyed = false;
  writableFinished = false;
  headersSent = false;
  /** Whether the connection is kept after this response (fixed by writeHead). */
  keep = true;
  private head: string | undefined;
  private ending = false;
  private done = false;

  constructor(
    socket: Socket,
    private readonly conn: ResponseConnection,
  ) {
    super();
    this.socket = socket;
    this.req = { socket };
  }

  writeHead(status: number, headers: Record<string, string>): this {
    if (this.headersSent || this.head !== undefined) throw new Error('the head is already written');
    this.keep = this.conn.keepAlive();
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    for (const name in headers) {
      const value = headers[name]!;
      if (!HEADER_VALUE.test(value)) throw new InvalidHeaderError(name);
      head += `${name}: ${value}\r\n`;
    }
    head += `Date: ${httpDate()}\r\n`;
    head += this.keep ? this.conn.keepAliveLines : 'Connection: close\r\n\r\n';
    this.head = head;
    return this;
  }

  takeHead(): Buffer | undefined {
    const socket = this.socket;
    if (this.head === undefined || !socket || socket.writableLength > 0) return undefined;
    const head = Buffer.from(this.head, 'latin1');
    this.head = undefined;
    this.headersSent = true;
    return head;
  }

  write(chunk: Uint8Array, callback?: (err?: Error | null) => void): boolean {
    const socket = this.socket;
    if (!socket || this.destroyed || this.ending) {
      if (callback) queueMicrotask(() => callback(new Error('the response has ended')));
      return false;
    }
    this.flushHead(socket);
    const ok = socket.write(chunk, callback);
    if (!ok) socket.once('drain', () => this.emit('drain'));
    return ok;
  }

  end(chunk?: string | Uint8Array): this {
    const socket = this.socket;
    if (this.ending || !socket || this.destroyed) return this;
    this.ending = true;
    this.flushHead(socket);
    if (chunk !== undefined && chunk.length > 0) socket.write(chunk);
    if (socket.writableLength === 0) this.finish();
    else socket.write(EMPTY, (err) => (err ? this.gone() : this.finish()));
    return this;
  }

  /** Closes the connection; 'close' follows from it, a turn later, as from Node's response. */
  destroy(): this {
    if (this.done) return this;
    this.destroyed = true;
    this.socket?.destroy();
    return this;
  }

  /** The connection closed: a response not finished yet ends as destroyed. */
  gone(): void {
    if (this.done) return;
    this.destroyed = true;
    this.close();
  }

  private flushHead(socket: Socket): void {
    if (this.head === undefined) return;
    socket.write(this.head, 'latin1');
    this.head = undefined;
    this.headersSent = true;
  }

  private finish(): void {
    if (this.done) return;
    this.writableFinished = true;
    this.emit('finish');
    this.close();
  }

  private close(): void {
    if (this.done) return;
    this.done = true;
    this.socket = null;
    this.emit('close');
    this.conn.finished(this);
  }
}
