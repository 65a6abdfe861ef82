// The direct server's connection handling on a plain TCP server, with a `take` that answers small
// bodies itself: one request at a time in order (pipelined ones wait), a connection handed to
// "Node" with its unread bytes intact, the head timeout (408), the keep-alive timeout, a client's
// Connection: close and half-close, and shutdown. The image route over it is tested through the
// real server (image.test.ts).

import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { RequestHead } from '../../../src/http/direct/request-head.js';
import type { DirectResponse } from '../../../src/http/direct/response.js';
import { directServer, type DirectServer } from '../../../src/http/direct/server.js';
import { RawConnection } from '../../helpers/raw-connection.js';

interface Harness {
  readonly url: string;
  readonly direct: DirectServer;
  /** Bytes each handed-off connection gave "Node", by connection. */
  readonly handedOff: Buffer[][];
  /** Responses not ended yet: a test ends them when it wants. */
  readonly pending: Array<{ head: RequestHead; res: DirectResponse }>;
  close(): Promise<void>;
}

let open: Harness | undefined;
afterEach(async () => {
  await open?.close();
  open = undefined;
});

/**
 * `take` answers /hold/* later (the test ends it), /other/* is not taken (handed off), and anything
 * else at once with its target as the body.
 */
async function harness(options: { headersTimeoutMs?: number; keepAliveTimeoutMs?: number } = {}): Promise<Harness> {
  const handedOff: Buffer[][] = [];
  const pending: Harness['pending'] = [];
  const direct = directServer({
    take: (head, res) => {
      if (head.target.startsWith('/other/')) return false;
      if (head.target.startsWith('/hold/')) {
        pending.push({ head, res });
        return true;
      }
      const body = Buffer.from(head.target);
      res.writeHead(200, { 'Content-Length': String(body.length) });
      res.end(head.method === 'HEAD' ? undefined : body);
      return true;
    },
    handOff: (socket: Socket) => {
      const got: Buffer[] = [];
      handedOff.push(got);
      socket.on('data', (b: Buffer) => {
        got.push(b);
        // "Node" answers one request so the client can tell.
        if (Buffer.concat(got).includes('\r\n\r\n')) socket.end('HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      });
    },
    headersTimeoutMs: options.headersTimeoutMs ?? 10_000,
    keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? 65_000,
    idleTimeoutMs: 300_000,
    checkIntervalMs: 50,
  });
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => direct.accept(socket));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  open = {
    url,
    direct,
    handedOff,
    pending,
    async close() {
      direct.closeAll();
      direct.stop();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  return open;
}

const get = (target: string, extra = ''): string => `GET ${target} HTTP/1.1\r\nHost: t\r\n${extra}\r\n`;

/** One connection that has had an answer and waits for more, one with a /hold/ request open. */
async function idleAndBusy(h: Harness): Promise<{ idle: RawConnection; busy: RawConnection }> {
  const idle = await RawConnection.open(h.url);
  idle.write(get('/a'));
  await idle.response();
  const busy = await RawConnection.open(h.url);
  busy.write(get('/hold/x'));
  await until(() => h.pending.length === 1, 'the held request');
  return { idle, busy };
}

async function until(ready: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (ready()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe('the direct server', () => {
  it('answers pipelined requests in order, one at a time, with Node-style heads', async () => {
    const h = await harness();
    const conn = await RawConnection.open(h.url);
    conn.write(get('/a') + get('/hold/b') + get('/c') + `HEAD /d HTTP/1.1\r\nHost: t\r\n\r\n`);
    const a = await conn.response();
    expect(a.status).toBe(200);
    expect(a.body.toString()).toBe('/a');
    expect(a.headers.connection).toBe('keep-alive');
    expect(a.headers['keep-alive']).toBe('timeout=65');
    expect(new Date(a.headers.date!).getTime()).toBeGreaterThan(Date.now() - 5000);
    // /c waits for /hold/b: nothing after it is read while it is open.
    await until(() => h.pending.length === 1, '/hold/b taken');
    await new Promise((r) => setTimeout(r, 50));
    expect(h.direct.stats.requests).toBe(2);
    const { res } = h.pending[0]!;
    res.writeHead(206, { 'Content-Length': '3', 'Content-Range': 'bytes 0-2/9' });
    res.write(Buffer.from('abc'));
    res.end();
    expect((await conn.response()).body.toString()).toBe('abc');
    expect((await conn.response()).body.toString()).toBe('/c');
    const d = await conn.response('HEAD');
    expect(d.headers['content-length']).toBe('2');
    expect(h.direct.stats).toEqual({ requests: 4, handOffs: 0 });
    conn.close();
  });

  it('reads a head sent a byte at a time', async () => {
    const h = await harness();
    const conn = await RawConnection.open(h.url);
    for (const c of get('/slow', 'Range: bytes=0-1\r\n')) {
      conn.write(c);
      await new Promise((r) => setImmediate(r));
    }
    expect((await conn.response()).body.toString()).toBe('/slow');
    conn.close();
  });

  it('hands a connection to Node at the first request it does not take, with every unread byte', async () => {
    const h = await harness();
    const conn = await RawConnection.open(h.url);
    const rest = get('/other/x') + 'POST /y HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi';
    conn.write(get('/a') + rest);
    expect((await conn.response()).body.toString()).toBe('/a');
    expect((await conn.response()).status).toBe(204);
    await until(() => Buffer.concat(h.handedOff[0] ?? []).length === rest.length, 'the handed-off bytes');
    expect(Buffer.concat(h.handedOff[0]!).toString('latin1')).toBe(rest);
    expect(h.direct.stats).toEqual({ requests: 1, handOffs: 1 });
    expect(h.direct.size).toBe(0);
  });

  it('hands over a head it does not parse, and one cut by the client going half-closed', async () => {
    const h = await harness();
    const odd = 'GET /a HTTP/1.0\r\n\r\n';
    const conn = await RawConnection.open(h.url);
    conn.write(odd);
    expect((await conn.response()).status).toBe(204);
    expect(Buffer.concat(h.handedOff[0]!).toString('latin1')).toBe(odd);
    // A client that sends a request and shuts its side: answered when the answer is at hand (as
    // here) before its end is read, then the connection ends.
    const half = await RawConnection.open(h.url);
    half.socket.end(get('/half'));
    expect((await half.response()).body.toString()).toBe('/half');
    await half.closed;
  });

  it('answers 400 to a head its client ends unfinished, as Node does', async () => {
    const h = await harness();
    const conn = await RawConnection.open(h.url);
    conn.socket.end('GET /a HTTP/1.1\r\nHost: t\r\n');
    expect((await conn.response()).status).toBe(400);
    await conn.closed;
    expect(h.direct.stats.requests).toBe(0);
  });

  it('answers Connection: close, then closes', async () => {
    const h = await harness();
    const conn = await RawConnection.open(h.url);
    conn.write(get('/a', 'Connection: close\r\n') + get('/never'));
    const r = await conn.response();
    expect(r.headers.connection).toBe('close');
    expect(r.headers['keep-alive']).toBeUndefined();
    await conn.closed;
    expect(h.direct.stats.requests).toBe(1);
  });

  it('answers 408 to a head not complete within the headers timeout', async () => {
    const h = await harness({ headersTimeoutMs: 200 });
    const conn = await RawConnection.open(h.url);
    conn.write('GET /a HTTP/1.1\r\nHost: t\r\n');
    const t0 = Date.now();
    const r = await conn.response();
    expect(r.status).toBe(408);
    await conn.closed;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(h.direct.stats.requests).toBe(0);
  });

  it('answers 408 to a connection that sends nothing within the headers timeout, as Node does', async () => {
    const h = await harness({ headersTimeoutMs: 200, keepAliveTimeoutMs: 60_000 });
    const conn = await RawConnection.open(h.url);
    expect((await conn.response()).status).toBe(408);
    await conn.closed;
  });

  it('closes a keep-alive connection idle for the keep-alive timeout, not one with a response open', async () => {
    const h = await harness({ keepAliveTimeoutMs: 200 });
    const { idle, busy } = await idleAndBusy(h);
    await idle.closed;
    await new Promise((r) => setTimeout(r, 300));
    expect(busy.socket.destroyed).toBe(false);
    h.pending[0]!.res.writeHead(200, { 'Content-Length': '0' });
    h.pending[0]!.res.end();
    expect((await busy.response()).status).toBe(200);
    busy.close();
  });

  it('closes idle connections on shutdown and lets an open response finish', async () => {
    const h = await harness();
    const { idle, busy } = await idleAndBusy(h);
    h.direct.closeIdle();
    await idle.closed;
    const { res } = h.pending[0]!;
    res.writeHead(200, { 'Content-Length': '2' });
    res.end(Buffer.from('ok'));
    const r = await busy.response();
    expect(r.body.toString()).toBe('ok');
    expect(r.headers.connection).toBe('close');
    await busy.closed;
  });

  it('ends an open response as destroyed when its client goes, and refuses a bad header value', async () => {
    const h = await harness();
    const conn = await RawConnection.open(h.url);
    conn.write(get('/hold/x'));
    await until(() => h.pending.length === 1, 'the held request');
    const { res } = h.pending[0]!;
    expect(() => res.writeHead(200, { 'X-Bad': 'a\r\nSet-Cookie: x' })).toThrow(/line break/);
    const closed = new Promise<void>((r) => res.once('close', r));
    conn.close();
    await closed;
    expect(res.destroyed).toBe(true);
    expect(res.writableFinished).toBe(false);
    await until(() => h.direct.size === 0, 'the connection forgotten');
  });
});
