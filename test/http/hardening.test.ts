// What a hostile tester found at the HTTP edge, each pinned by a test: a failure at the first
// chunk answered with no status at all (and HEAD promising a 206 GET could not keep), broken
// bases stored, lax node bodies, a 304 with a type, HEAD errors without GET's headers, and
// If-Match / If-Unmodified-Since ignored.

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { IsoFormatError, UpstreamError } from '../../src/errors.js';
import { pseudoRandomBytes } from './fake-image.js';
import { startTestServer, TOKEN, type TestServer } from './server.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies, checked field by field
const json = async (r: Response): Promise<any> => r.json();

const NOW = new Date('2026-03-01T00:00:00.000Z');
const LAST_MODIFIED = 'Fri, 02 Jan 2026 03:04:05 GMT';
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ now: () => NOW });
  server.resolver.add('n', { data: pseudoRandomBytes(100_000) });
  server.resolver.add('reset0', {
    data: pseudoRandomBytes(100_000),
    failAfterBytes: 0,
    failWith: new UpstreamError('UPSTREAM_RESET', 'http://images.example/r.iso', 'reset at byte 0'),
  });
  server.resolver.add('stall0', {
    data: pseudoRandomBytes(100_000),
    failAfterBytes: 0,
    failWith: new UpstreamError('UPSTREAM_TIMEOUT', 'http://images.example/s.iso', 'no byte in 30 s'),
  });
});
afterAll(async () => server?.close());

const iso = (name: string): string => `${server.url}/iso/${name}.iso`;

/** Headers that differ between any two responses. */
function comparable(res: Response): Record<string, string> {
  const out: Record<string, string> = {};
  res.headers.forEach((v, k) => {
    if (!['date', 'x-request-id', 'connection', 'keep-alive'].includes(k)) out[k] = v;
  });
  return out;
}

function put(name: string, body: unknown, init: { contentType?: string | null; query?: string } = {}): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` };
  if (init.contentType !== null) headers['content-type'] = init.contentType ?? 'application/json';
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return fetch(`${server.url}/api/v1/nodes/${name}${init.query ?? ''}`, { method: 'PUT', headers, body: text });
}

describe('a failure before the first byte', () => {
  it('answers 502 with a JSON code, not an empty reply, when the first chunk of a range cannot be read', async () => {
    const res = await fetch(iso('reset0'), { headers: { range: 'bytes=1000-1999', 'x-request-id': 'first-byte-1' } });
    expect(res.status).toBe(502);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect((await json(res)).error.code).toBe('UPSTREAM_RESET');
    // The log and the metrics record the status the client got.
    await vi.waitFor(() => expect(server.logs.find((l) => l.reqId === 'first-byte-1' && l.msg === 'request failed')).toMatchObject({ status: 502 }));
    expect(server.logs.some((l) => l.reqId === 'first-byte-1' && l.status === 206)).toBe(false);
    expect(await (await fetch(`${server.url}/metrics`)).text()).toMatch(/^isoproxy_http_requests_total\{route="iso",status="502"\} [1-9]/m);
  });

  it('answers 504 when the first chunk does not come within its budget', async () => {
    const res = await fetch(iso('stall0'));
    expect(res.status).toBe(504);
    expect((await json(res)).error.code).toBe('UPSTREAM_TIMEOUT');
  });

  it('does not promise with HEAD a 206 that GET would fail', async () => {
    const head = await fetch(iso('reset0'), { method: 'HEAD', headers: { range: 'bytes=1000-1999' } });
    expect(head.status).toBe(502);
  });
});

describe('PUT of a node whose base is not a valid ISO', () => {
  it('answers 422 with the format code and stores nothing', async () => {
    server.resolver.failImage = new IsoFormatError('primary volume descriptor', 32768, 'no CD001 signature');
    try {
      const r = await put('broken', { bootIso: 'http://images.example/junk.iso' });
      expect(r.status).toBe(422);
      expect((await json(r)).error.code).toBe('ISO_FORMAT');
      expect((await fetch(`${server.url}/api/v1/nodes/broken`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
    } finally {
      delete server.resolver.failImage;
    }
  });

  it('stores it anyway with ?validate=false, with the reason beside a null ETag', async () => {
    server.resolver.failImage = new IsoFormatError('primary volume descriptor', 32768, 'no CD001 signature');
    try {
      const r = await put('later', { bootIso: 'http://images.example/not-yet.iso' }, { query: '?validate=false' });
      expect(r.status).toBe(201);
      expect(await json(r)).toMatchObject({ etag: null, etagError: { code: 'ISO_FORMAT' } });
      expect((await put('later2', { bootIso: 'http://images.example/x.iso' }, { query: '?validate=maybe' })).status).toBe(400);
    } finally {
      delete server.resolver.failImage;
    }
  });
});

describe('node bodies', () => {
  it('accepts RFC 3339 date-times for expiresAt and nothing else', async () => {
    const bads = [
      '1',
      'March 7',
      '2026-03-07',
      '2026-03-07 12:00',
      '2026-02-30T00:00:00Z',
      '2026-03-07T24:00:00Z',
      '2026-03-07T12:00:00',
      1798761600000,
    ];
    for (const bad of bads) {
      const r = await put('exp', { bootIso: 'http://images.example/b.iso', expiresAt: bad });
      expect(r.status, String(bad)).toBe(400);
      expect((await json(r)).error.code, String(bad)).toBe('INVALID_BODY');
    }
    for (const [good, stored] of [
      ['2026-03-07T12:00:00Z', '2026-03-07T12:00:00.000Z'],
      ['2026-03-07t12:00:00.5+02:00', '2026-03-07T10:00:00.500Z'],
      ['2028-02-29T23:59:59z', '2028-02-29T23:59:59.000Z'],
    ] as const) {
      const r = await put('exp', { bootIso: 'http://images.example/b.iso', expiresAt: good });
      expect(r.status, good).toBeLessThan(300);
      expect((await json(r)).expiresAt, good).toBe(stored);
    }
  });

  it('refuses an expiresAt that is not in the future', async () => {
    for (const past of ['2026-02-28T23:59:59Z', NOW.toISOString()]) {
      const r = await put('past', { bootIso: 'http://images.example/b.iso', expiresAt: past });
      expect(r.status, past).toBe(400);
      expect((await json(r)).error.code).toBe('EXPIRES_IN_PAST');
    }
    expect((await fetch(`${server.url}/api/v1/nodes/past`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
  });

  it('answers 415 to a body that does not say it is JSON', async () => {
    const body = { bootIso: 'http://images.example/b.iso' };
    for (const contentType of [null, 'text/plain', 'application/x-www-form-urlencoded', 'application/jsonx']) {
      const r = await put('ct', body, { contentType });
      expect(r.status, String(contentType)).toBe(415);
      expect((await json(r)).error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    }
    expect((await put('ct', body, { contentType: 'Application/JSON; charset=utf-8' })).status).toBe(201);
  });

  it('refuses unknown top-level fields', async () => {
    for (const extra of [{ bootISO: 'x' }, { edit: {} }, { name: 'uk' }, { url: 'http://x' }]) {
      const r = await put('uk', { bootIso: 'http://images.example/b.iso', ...extra });
      expect(r.status, JSON.stringify(extra)).toBe(400);
      expect((await json(r)).error.message).toContain(Object.keys(extra)[0]);
    }
    expect((await fetch(`${server.url}/api/v1/nodes/uk`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
  });
});

describe('HTTP details', () => {
  it('sends no Content-Type with a 304', async () => {
    const r = await fetch(iso('n'), { headers: { 'if-none-match': '"base1-n"' } });
    expect(r.status).toBe(304);
    expect(r.headers.get('content-type')).toBeNull();
    expect(r.headers.get('etag')).toBe('"base1-n"');
  });

  it('answers HEAD on 404 and 416 with exactly the headers of GET', async () => {
    const cases = [
      [iso('nobody'), {}],
      [iso('n'), { range: 'bytes=999999-' }],
      [`${server.url}/nope`, {}],
      [iso('reset0'), { range: 'bytes=5-9' }],
    ] as const;
    for (const [url, headers] of cases) {
      const get = await fetch(url, { headers });
      const text = await get.text();
      const head = await fetch(url, { method: 'HEAD', headers });
      expect(head.status, url).toBe(get.status);
      expect(comparable(head), url).toEqual(comparable(get));
      expect(head.headers.get('content-type')).toMatch(/^application\/json/);
      expect(Number(head.headers.get('content-length'))).toBe(Buffer.byteLength(text));
    }
  });

  it('evaluates If-Match on GET and HEAD: 412 unless a strong match or *', async () => {
    for (const method of ['GET', 'HEAD']) {
      expect((await fetch(iso('n'), { method, headers: { 'if-match': '"base1-n"' } })).status, method).toBe(200);
      expect((await fetch(iso('n'), { method, headers: { 'if-match': '"x", "base1-n"', range: 'bytes=0-9' } })).status, method).toBe(206);
      expect((await fetch(iso('n'), { method, headers: { 'if-match': '*' } })).status, method).toBe(200);
      for (const tag of ['"other"', 'W/"base1-n"', 'garbage']) {
        const r = await fetch(iso('n'), { method, headers: { 'if-match': tag } });
        expect(r.status, `${method} ${tag}`).toBe(412);
        if (method === 'GET') expect((await json(r)).error.code).toBe('PRECONDITION_FAILED');
      }
    }
  });

  it('evaluates If-Unmodified-Since on GET and HEAD, unless If-Match is there', async () => {
    const before = 'Fri, 02 Jan 2026 03:04:04 GMT';
    for (const method of ['GET', 'HEAD']) {
      expect((await fetch(iso('n'), { method, headers: { 'if-unmodified-since': before } })).status, method).toBe(412);
      expect((await fetch(iso('n'), { method, headers: { 'if-unmodified-since': LAST_MODIFIED } })).status, method).toBe(200);
      expect((await fetch(iso('n'), { method, headers: { 'if-unmodified-since': 'not a date' } })).status, method).toBe(200);
      expect((await fetch(iso('n'), { method, headers: { 'if-unmodified-since': before, 'if-match': '"base1-n"' } })).status, method).toBe(200);
    }
  });
});
