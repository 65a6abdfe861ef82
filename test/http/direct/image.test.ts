// Image requests through the direct server answer exactly what Node's server answers: the same
// request bytes sent to a server with the direct server and to one without (--direct-http off),
// over the real serving core and a fake image resolver, give the same status, headers (but Date)
// and body, for every shape of request a BMC sends and every error the route has. The direct one
// must also have answered them itself, and the Node one must still answer the rest.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawConnection, type RawResponse } from '../../helpers/raw-connection.js';
import { pseudoRandomBytes } from '../fake-image.js';
import { startTestServer, type TestServer } from '../server.js';

const SIZE = 3 * 1024 * 1024 + 123;
const IMAGE = pseudoRandomBytes(SIZE);
const ETAG = '"base1-n"';

let direct: TestServer;
let node: TestServer;

beforeAll(async () => {
  [direct, node] = await Promise.all([startTestServer(), startTestServer({ directHttp: false })]);
  for (const s of [direct, node]) {
    s.resolver.add('n', { data: IMAGE });
    s.resolver.add('empty', { data: new Uint8Array(0) });
    s.resolver.add('flaky', { data: IMAGE, failAfterBytes: 100 });
  }
});
afterAll(async () => {
  await Promise.all([direct?.close(), node?.close()]);
});

const req = (method: string, path: string, headers: Record<string, string> = {}): string =>
  `${method} ${path} HTTP/1.1\r\nHost: isoproxy.test\r\nX-Request-Id: same-id\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;

const CASES: Array<[string, string, string?]> = [
  ['a whole GET', req('GET', '/iso/n.iso')],
  ['a range', req('GET', '/iso/n.iso', { Range: 'bytes=1048570-2097160' })],
  ['a suffix range', req('GET', '/iso/n.iso', { Range: 'bytes=-100' })],
  ['an open range', req('GET', '/iso/n.iso', { Range: 'bytes=3145700-' })],
  ['several ranges', req('GET', '/iso/n.iso', { Range: 'bytes=0-9,2000000-2000100,-5' })],
  ['HEAD', req('HEAD', '/iso/n.iso'), 'HEAD'],
  ['HEAD of a range', req('HEAD', '/iso/n.iso', { Range: 'bytes=5-10' }), 'HEAD'],
  ['a matching If-None-Match', req('GET', '/iso/n.iso', { 'If-None-Match': ETAG })],
  ['a failing If-Match', req('GET', '/iso/n.iso', { 'If-Match': '"other"' })],
  ['an If-Range that no longer matches', req('GET', '/iso/n.iso', { Range: 'bytes=0-9', 'If-Range': '"old"' })],
  ['a range past the end', req('GET', '/iso/n.iso', { Range: `bytes=${SIZE}-` })],
  ['a malformed range (ignored)', req('GET', '/iso/n.iso', { Range: 'bytes=abc' })],
  ['an unknown node', req('GET', '/iso/nobody.iso')],
  ['an unknown node, HEAD', req('HEAD', '/iso/nobody.iso'), 'HEAD'],
  ['a name that is no node name', req('GET', '/iso/%2e%2e.iso')],
  ['an empty image', req('GET', '/iso/empty.iso')],
  ['a query string', req('GET', '/iso/n.iso?token=1', { Range: 'bytes=7-8' })],
  ['Connection: close', req('GET', '/iso/n.iso', { Range: 'bytes=0-0', Connection: 'close' })],
];

/** The request's answer on a new connection, without the Date header. */
async function answer(server: TestServer, text: string, method = 'GET'): Promise<RawResponse> {
  const conn = await RawConnection.open(server.url);
  try {
    conn.write(text);
    const r = await conn.response(method);
    const { date, ...headers } = r.headers;
    expect(date).toBeDefined();
    return { ...r, headers };
  } finally {
    conn.close();
  }
}

describe('image requests on the direct server', () => {
  it.each(CASES)('answer %s as Node does', async (_what, text, method) => {
    const before = direct.running.direct!.stats.requests;
    const [a, b] = await Promise.all([answer(direct, text, method), answer(node, text, method)]);
    expect(a.status).toBe(b.status);
    expect(a.headers).toEqual(b.headers);
    expect(a.body.equals(b.body)).toBe(true);
    expect(direct.running.direct!.stats.requests).toBe(before + 1);
    if (a.status === 200 && method !== 'HEAD' && a.headers['content-type'] === 'application/octet-stream' && a.body.length > 0)
      expect(Buffer.from(IMAGE).equals(a.body)).toBe(true);
  });

  it('has no direct server with --direct-http off', () => {
    expect(node.running.direct).toBeUndefined();
  });

  it('cuts a body that fails midway, as Node does: a short body under the promised length', async () => {
    for (const s of [direct, node]) {
      const conn = await RawConnection.open(s.url);
      conn.write(req('GET', '/iso/flaky.iso'));
      await conn.closed;
      expect(conn.received).toBeLessThan(SIZE);
    }
  });

  it('serves ranges and admin requests on one connection, in order', async () => {
    const conn = await RawConnection.open(direct.url);
    const handOffs = direct.running.direct!.stats.handOffs;
    conn.write(req('GET', '/iso/n.iso', { Range: 'bytes=0-99' }) + req('GET', '/iso/n.iso', { Range: 'bytes=100-199' }) + req('GET', '/healthz'));
    expect((await conn.response()).body.equals(Buffer.from(IMAGE.subarray(0, 100)))).toBe(true);
    expect((await conn.response()).body.equals(Buffer.from(IMAGE.subarray(100, 200)))).toBe(true);
    const health = await conn.response();
    expect(JSON.parse(health.body.toString())).toEqual({ status: 'ok' });
    // Node has the connection now, and still answers image requests on it.
    conn.write(req('GET', '/iso/n.iso', { Range: 'bytes=200-299' }));
    expect((await conn.response()).body.equals(Buffer.from(IMAGE.subarray(200, 300)))).toBe(true);
    expect(direct.running.direct!.stats.handOffs).toBe(handOffs + 1);
    conn.close();
  });

  it('holds a head handed to Node half-received to the headers timeout counted from its first byte', async () => {
    const slow = await startTestServer({ headersTimeout: '2s' });
    try {
      const conn = await RawConnection.open(slow.url);
      const t0 = Date.now();
      conn.write('GET /iso/n.iso HTTP/1.1\r\nHost: isoproxy.test\r\n');
      let line = 0;
      const drip = setInterval(() => conn.socket.writable && conn.write(`X-Drip-${++line}: 1\r\n`), 200);
      try {
        await new Promise((r) => setTimeout(r, 1600));
        expect(slow.running.direct!.stats.handOffs).toBe(0);
        // A repeated header: the head goes to Node 1.6 s in, still unfinished.
        conn.write('X-Drip-1: 2\r\n');
        await new Promise((r) => setTimeout(r, 50));
        expect(slow.running.direct!.stats.handOffs).toBe(1);
        const r = await conn.response();
        expect(r.status).toBe(408);
        await conn.closed;
      } finally {
        clearInterval(drip);
      }
      // Node alone would have allowed 2 s more from the hand-off.
      expect(Date.now() - t0).toBeLessThan(3200);
    } finally {
      await slow.close();
    }
  });

  it('logs and counts what it answers as Node does', async () => {
    await answer(direct, req('GET', '/iso/n.iso', { Range: 'bytes=0-9', 'X-Request-Id': 'direct-log-1' }).replace('X-Request-Id: same-id\r\n', ''));
    await answer(direct, req('GET', '/iso/nobody.iso').replace('same-id', 'direct-log-2'));
    await new Promise((r) => setTimeout(r, 50));
    const transfer = direct.logs.find((l) => l.reqId === 'direct-log-1' && l.msg === 'transfer');
    expect(transfer).toMatchObject({ method: 'GET', node: 'n', status: 206, bytes: 10, outcome: 'complete' });
    expect(direct.logs.find((l) => l.reqId === 'direct-log-2' && l.msg === 'request')).toMatchObject({ status: 404 });
    const metrics = await (await fetch(`${direct.url}/metrics`)).text();
    expect(metrics).toMatch(/^isoproxy_direct_requests_total [1-9]/m);
    expect(metrics).toMatch(/^isoproxy_http_requests_total\{route="iso",status="404"\} [1-9]/m);
  });
});
