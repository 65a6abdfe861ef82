// An HTTP/1.1 client on one raw TCP connection, for tests that need what fetch and curl hide:
// pipelined requests, a request sent byte by byte, a client that stops reading or resets.

import { connect, type Socket } from 'node:net';

/** A response read off a raw connection. */
export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

/**
 * An HTTP/1.1 client on one raw TCP connection: requests are written as given (several in one
 * write to pipeline them) and responses parsed in order, each body by its Content-Length.
 */
export class RawConnection {
  private chunks: Buffer[] = [];
  private have = 0;
  private ended = false;
  private wake: (() => void) | undefined;
  /** Reading stops once this much is buffered: a client that stops reading midway. */
  readLimit = Number.POSITIVE_INFINITY;
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (b: Buffer) => {
      this.chunks.push(b);
      this.have += b.length;
      if (this.have >= this.readLimit) socket.pause();
      this.wake?.();
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.ended = true;
        this.wake?.();
        resolve();
      }),
    );
  }

  static async open(url: string): Promise<RawConnection> {
    const { hostname, port } = new URL(url);
    const socket = connect(Number(port), hostname);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawConnection(socket);
  }

  get received(): number {
    return this.have;
  }

  write(text: string): void {
    this.socket.write(text);
  }

  private async until(ready: () => boolean, what: string): Promise<void> {
    while (!ready()) {
      if (this.ended) throw new Error(`connection closed while waiting for ${what}`);
      await new Promise<void>((r) => {
        this.wake = r;
      });
      this.wake = undefined;
    }
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.chunks = n < all.length ? [all.subarray(n)] : [];
    this.have -= n;
    return all.subarray(0, n);
  }

  private headEnd(): number {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]?.indexOf('\r\n\r\n') ?? -1;
  }

  /** The next response; `method` says whether it has a body (HEAD has none). */
  async response(method = 'GET'): Promise<RawResponse> {
    await this.until(() => this.headEnd() >= 0, 'a response head');
    const head = this.take(this.headEnd() + 4).toString('latin1');
    const [statusLine, ...lines] = head.trimEnd().split('\r\n');
    const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine ?? '')?.[1]);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const at = line.indexOf(':');
      headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
    }
    const length = method === 'HEAD' || status === 304 ? 0 : Number(headers['content-length']);
    if (!Number.isInteger(length)) throw new Error(`response without Content-Length: ${head}`);
    await this.until(() => this.have >= length, `${length} body bytes`);
    return { status, headers, body: Buffer.from(this.take(length)) };
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A GET (or HEAD) request for a raw connection. */
export function request(path: string, range?: string, method = 'GET'): string {
  return `${method} ${path} HTTP/1.1\r\nHost: isoproxy.test\r\n${range ? `Range: ${range}\r\n` : ''}\r\n`;
}
