// The app around the routes: health, readiness, Prometheus metrics, request ids, one log line per
// transfer, and graceful shutdown letting a transfer finish.

import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { pseudoRandomBytes } from './fake-image.js';
import { startTestServer, type TestServer } from './server.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies, checked field by field
const json = async (r: Response): Promise<any> => r.json();

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  server.resolver.add('n1', { data: pseudoRandomBytes(300_000) });
});
afterAll(async () => server?.close());

describe('app', () => {
  it('answers /healthz and /readyz', async () => {
    expect(await json(await fetch(`${server.url}/healthz`))).toEqual({ status: 'ok' });
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  });

  it('logs one line per transfer with request id, node, range, bytes, duration and status', async () => {
    const r = await fetch(`${server.url}/iso/n1.iso`, { headers: { Range: 'bytes=10-1009', 'X-Request-Id': 'abc-123' } });
    expect(r.headers.get('x-request-id')).toBe('abc-123');
    expect((await r.arrayBuffer()).byteLength).toBe(1000);
    await vi.waitFor(() => expect(server.logs.filter((l) => l.reqId === 'abc-123' && l.msg === 'transfer')).toHaveLength(1));
    const line = server.logs.find((l) => l.reqId === 'abc-123' && l.msg === 'transfer')!;
    expect(line).toMatchObject({
      node: 'n1',
      range: 'bytes=10-1009',
      served: '10-1009',
      status: 206,
      bytes: 1000,
      expectedBytes: 1000,
      outcome: 'complete',
    });
    expect(typeof line.durationMs).toBe('number');
    expect(server.logs.filter((l) => l.reqId === 'abc-123')).toHaveLength(1);
  });

  it('adds the cache hit ratio and upstream bytes to the transfer line when the reader reports them', async () => {
    server.resolver.add('cached', { data: pseudoRandomBytes(5000), stats: { cacheHits: 3, cacheMisses: 1, upstreamBytes: 2048 } });
    await (await fetch(`${server.url}/iso/cached.iso`, { headers: { 'X-Request-Id': 'stats-1' } })).arrayBuffer();
    await vi.waitFor(() =>
      expect(server.logs.find((l) => l.reqId === 'stats-1' && l.msg === 'transfer')).toMatchObject({
        cacheHitRatio: 0.75,
        upstreamBytes: 2048,
        bytes: 5000,
      }),
    );
  });

  it('gives each request its own id when the client sends none', async () => {
    const a = await fetch(`${server.url}/healthz`);
    const b = await fetch(`${server.url}/healthz`);
    expect(a.headers.get('x-request-id')).toMatch(/^r[0-9a-f]{8}-[0-9a-z]+$/);
    expect(a.headers.get('x-request-id')).not.toBe(b.headers.get('x-request-id'));
  });

  it('exposes requests by status, bytes served, active transfers and durations in Prometheus text', async () => {
    await (await fetch(`${server.url}/iso/n1.iso`)).arrayBuffer();
    await fetch(`${server.url}/iso/none.iso`);
    await vi.waitFor(() => expect(server.running.app.activeTransfers()).toBe(0));
    const r = await fetch(`${server.url}/metrics`);
    expect(r.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    const text = await r.text();
    expect(text).toMatch(/^isoproxy_http_requests_total\{route="iso",status="200"\} [1-9]/m);
    expect(text).toMatch(/^isoproxy_http_requests_total\{route="iso",status="404"\} 1$/m);
    expect(text).toMatch(/^isoproxy_http_bytes_served_total [1-9][0-9]{5,}$/m);
    expect(text).toMatch(/^isoproxy_transfers_active 0$/m);
    expect(text).toMatch(/^isoproxy_transfer_duration_seconds_count [1-9]/m);
    expect(text).toMatch(/^isoproxy_transfer_duration_seconds_bucket\{le="\+Inf"\} [1-9]/m);
    expect(text).toContain('isoproxy_fake_total 7');
  });

  it('answers unknown routes with a JSON 404', async () => {
    const r = await fetch(`${server.url}/nope`);
    expect(r.status).toBe(404);
    expect((await json(r)).error.code).toBe('NOT_FOUND');
  });
});

describe('graceful shutdown', () => {
  it('stops accepting, lets a running transfer finish, then closes', async () => {
    const s = await startTestServer();
    s.resolver.add('slow', { size: 8 * 1024 * 1024 });
    s.resolver.chunkBytes = 16 * 1024;
    const received = new Promise<number>((resolve, reject) => {
      request(`${s.url}/iso/slow.iso`, (res) => {
        let n = 0;
        res.on('data', (d: Buffer) => {
          n += d.length;
        });
        res.on('end', () => resolve(n));
        res.on('error', reject);
      })
        .on('error', reject)
        .end();
    });
    await vi.waitFor(() => expect(s.running.app.activeTransfers()).toBe(1));
    const closed = s.close();
    expect((await fetch(`${s.url}/readyz`).catch(() => undefined))?.status ?? 'refused').not.toBe(200);
    expect(await received).toBe(8 * 1024 * 1024);
    await closed;
    await expect(fetch(`${s.url}/healthz`)).rejects.toThrow();
  });
});

describe('graceful shutdown past the deadline', () => {
  it("closes a transfer that cannot finish once the deadline passes, running its reader's finally", async () => {
    const s = await startTestServer({ shutdownDeadline: '300ms' });
    s.resolver.add('huge', { size: 1024 * 1024 * 1024 });
    const u = new URL(`${s.url}/iso/huge.iso`);
    const sock = connect(Number(u.port), u.hostname, () => sock.write(`GET ${u.pathname} HTTP/1.1\r\nHost: x\r\n\r\n`));
    const closedByServer = new Promise<void>((resolve) => sock.on('close', () => resolve()));
    sock.on('error', () => {});
    // Read the first bytes, then stop reading: the transfer stalls on backpressure.
    await new Promise<void>((resolve) =>
      sock.once('data', () => {
        sock.pause();
        resolve();
      }),
    );
    await vi.waitFor(() => expect(s.running.app.activeTransfers()).toBe(1));
    await s.close();
    // The server hung up: reading what was buffered ends in the close.
    sock.resume();
    await closedByServer;
    await vi.waitFor(() => expect(s.resolver.readsFinished).toBe(s.resolver.readsStarted));
    expect(s.running.app.activeTransfers()).toBe(0);
    expect(s.logs.some((l) => l.msg === 'shutdown deadline passed; closing transfers')).toBe(true);
  });
});

describe('app without a Node response (hono app.request)', () => {
  it('streams the body as a web stream with Content-Length, and maps resolver errors', async () => {
    const { createApp } = await import('../../src/http/app.js');
    const { FakeResolver } = await import('./fake-image.js');
    const { fakeServing } = await import('./server.js');
    const { MemoryNodeStore } = await import('../../src/registry/store.js');
    const { BaseChangedError } = await import('../../src/errors.js');
    const pino = (await import('pino')).default;
    const resolver = new FakeResolver().add('n', { data: pseudoRandomBytes(200_000) });
    const app = createApp({
      serving: fakeServing(new MemoryNodeStore(), resolver),
      imageRoutes: [{ prefix: '/iso', source: 'fake' }],
      logger: pino({ level: 'silent' }),
      publicUrl: 'http://x',
    });
    const r = await app.fetch(new Request('http://x/iso/n.iso', { headers: { Range: 'bytes=100-100099' } }));
    expect(r.status).toBe(206);
    expect(r.headers.get('content-length')).toBe('100000');
    expect(Buffer.compare(Buffer.from(await r.arrayBuffer()), Buffer.from(pseudoRandomBytes(200_000).subarray(100, 100_100)))).toBe(0);

    const cancelled = await app.fetch(new Request('http://x/iso/n.iso'));
    const reader = cancelled.body!.getReader();
    await reader.read();
    await reader.cancel();
    expect(resolver.readsFinished).toBe(resolver.readsStarted);

    resolver.failImage = new BaseChangedError('http://u/a.iso', 'ETag changed');
    const busy = await app.fetch(new Request('http://x/iso/n.iso'));
    expect(busy.status).toBe(503);
    expect(busy.headers.get('retry-after')).toBe('5');
    expect((await json(busy)).error.code).toBe('BASE_CHANGED');
  });
});
