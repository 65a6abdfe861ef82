// The direct server's request-head parser: what it accepts it must read exactly as Node's own
// parser does (checked against a real Node HTTP server on random heads), every prefix of a head
// is incomplete, and everything outside its subset goes to Node. Fuzzed for bounds: no input
// throws, and an accepted head never reaches past its bytes.

import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_HEAD_BYTES, MAX_HEADER_LINES, parseRequestHead, type RequestHead } from '../../../src/http/direct/request-head.js';

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

function head(s: string): RequestHead {
  const r = parseRequestHead(bytes(s));
  if (r.kind !== 'head') throw new Error(`not a head: ${JSON.stringify(r)}`);
  return r.head;
}

const CURL = 'GET /iso/n1.iso HTTP/1.1\r\nHost: 10.0.0.5:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nRange: bytes=0-1048575\r\n\r\n';

describe('parseRequestHead', () => {
  it('reads the heads BMCs send', () => {
    const h = head(CURL);
    expect(h.method).toBe('GET');
    expect(h.target).toBe('/iso/n1.iso');
    expect(h.length).toBe(CURL.length);
    expect(h.close).toBe(false);
    expect(Object.fromEntries(h.headers)).toEqual({ host: '10.0.0.5:8080', 'user-agent': 'curl/8.5.0', accept: '*/*', range: 'bytes=0-1048575' });

    const idrac =
      'HEAD /iso/node-7.iso?x=1 HTTP/1.1\r\nhost: p\r\nIf-Range: "abc"\r\nconnection: Keep-Alive, close\r\nContent-Length: 0\r\nX-Pad:  \t spaced value \t \r\n\r\nGET / HTTP/1.1\r\n';
    const h2 = head(idrac);
    expect(h2.method).toBe('HEAD');
    expect(h2.target).toBe('/iso/node-7.iso?x=1');
    expect(h2.close).toBe(true);
    expect(h2.headers.get('if-range')).toBe('"abc"');
    expect(h2.headers.get('x-pad')).toBe('spaced value');
    // The head ends at its empty line; what follows is the next request's.
    expect(h2.length).toBe(idrac.indexOf('\r\n\r\n') + 4);
  });

  it('says incomplete for every prefix of a head', () => {
    for (let n = 1; n < CURL.length; n++) expect(parseRequestHead(bytes(CURL.slice(0, n))).kind, CURL.slice(0, n)).toBe('incomplete');
  });

  it.each([
    ['another method', 'POST /iso/a.iso HTTP/1.1\r\nHost: p\r\n\r\n'],
    ['lower-case method', 'get /iso/a.iso HTTP/1.1\r\nHost: p\r\n\r\n'],
    ['HTTP/1.0', 'GET /iso/a.iso HTTP/1.0\r\nHost: p\r\n\r\n'],
    ['absolute form', 'GET http://p/iso/a.iso HTTP/1.1\r\nHost: p\r\n\r\n'],
    ['two spaces', 'GET  /iso/a.iso HTTP/1.1\r\nHost: p\r\n\r\n'],
    ['a byte over 0x7e in the target', 'GET /iso/\xe9.iso HTTP/1.1\r\nHost: p\r\n\r\n'],
    ['a bare LF', 'GET /iso/a.iso HTTP/1.1\nHost: p\r\n\r\n'],
    ['a bare LF ending the head', 'GET /iso/a.iso HTTP/1.1\r\nHost: p\r\n\n'],
    ['a bare CR', 'GET /iso/a.iso HTTP/1.1\r\nHost: p\rX: y\r\n\r\n'],
    ['a folded line', 'GET /iso/a.iso HTTP/1.1\r\nHost: p\r\nX-A: b\r\n c\r\n\r\n'],
    ['a space before the colon', 'GET /iso/a.iso HTTP/1.1\r\nHost : p\r\n\r\n'],
    ['an empty name', 'GET /iso/a.iso HTTP/1.1\r\n: p\r\nHost: p\r\n\r\n'],
    ['a control byte in a value', 'GET /iso/a.iso HTTP/1.1\r\nHost: p\x01\r\n\r\n'],
    ['a byte over 0x7e in a value', 'GET /iso/a.iso HTTP/1.1\r\nHost: p\r\nX: \xff\r\n\r\n'],
    ['Transfer-Encoding', 'GET /iso/a.iso HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['a body', 'GET /iso/a.iso HTTP/1.1\r\nHost: p\r\nContent-Length: 3\r\n\r\nabc'],
    ['a signed length', 'GET /iso/a.iso HTTP/1.1\r\nHost: p\r\nContent-Length: +0\r\n\r\n'],
    ['Expect', 'GET /iso/a.iso HTTP/1.1\r\nHost: p\r\nExpect: 100-continue\r\n\r\n'],
    ['Upgrade', 'GET /iso/a.iso HTTP/1.1\r\nHost: p\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n'],
    ['Proxy-Connection', 'GET /iso/a.iso HTTP/1.1\r\nHost: p\r\nProxy-Connection: close\r\n\r\n'],
    ['Connection: upgrade', 'GET /iso/a.iso HTTP/1.1\r\nHost: p\r\nConnection: upgrade\r\n\r\n'],
    ['a repeated header', 'GET /iso/a.iso HTTP/1.1\r\nHost: p\r\nRange: bytes=0-1\r\nrange: bytes=5-6\r\n\r\n'],
    ['a repeated Host', 'GET /iso/a.iso HTTP/1.1\r\nHost: p\r\nHost: q\r\n\r\n'],
    ['no Host', 'GET /iso/a.iso HTTP/1.1\r\nRange: bytes=0-1\r\n\r\n'],
    ['a leading empty line', '\r\nGET /iso/a.iso HTTP/1.1\r\nHost: p\r\n\r\n'],
    ['TLS', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03'],
    ['HTTP/2', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
  ])('gives %s to Node', (_what, text) => {
    expect(parseRequestHead(bytes(text)).kind).toBe('other');
  });

  it('gives a head over 16 KiB, or with too many lines, to Node', () => {
    const long = `GET /iso/a.iso HTTP/1.1\r\nHost: p\r\nX-Long: ${'a'.repeat(MAX_HEAD_BYTES)}\r\n\r\n`;
    expect(parseRequestHead(bytes(long)).kind).toBe('other');
    // Cut short of its end: over the cap already, so it is not worth waiting for.
    expect(parseRequestHead(bytes(long.slice(0, MAX_HEAD_BYTES + 10))).kind).toBe('other');
    expect(parseRequestHead(bytes(long.slice(0, MAX_HEAD_BYTES - 10))).kind).toBe('incomplete');
    const many = `GET /iso/a.iso HTTP/1.1\r\nHost: p\r\n${Array.from({ length: MAX_HEADER_LINES }, (_, i) => `X-${i}: v\r\n`).join('')}\r\n`;
    expect(parseRequestHead(bytes(many)).kind).toBe('other');
  });

  it('never throws nor reads past its input on mutated heads (fuzz)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(CURL.length), fc.nat(CURL.length), (noise, at, cut) => {
        const base = bytes(CURL);
        const mixed = Buffer.concat([base.subarray(0, at), noise, base.subarray(at)]).subarray(0, Math.max(1, cut + noise.length));
        const r = parseRequestHead(mixed);
        if (r.kind === 'head') {
          expect(r.head.length).toBeLessThanOrEqual(mixed.length);
          expect(mixed.subarray(r.head.length - 4, r.head.length).toString('latin1')).toBe('\r\n\r\n');
        }
      }),
      { numRuns: 5000, seed: 14 },
    );
  });
});

/** What Node's server made of a request: method, URL, headers. */
interface NodeView {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string | string[] | undefined>;
}

describe('parseRequestHead against Node', () => {
  let server: Server;
  let port: number;
  const seen: IncomingMessage[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(req);
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  /** Sends `text` on a new connection; Node's view of it, or undefined when Node refused it. */
  async function nodeView(text: Buffer): Promise<NodeView | undefined> {
    const before = seen.length;
    const socket = connect(port, '127.0.0.1');
    socket.on('data', () => {});
    socket.on('error', () => {});
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.end(text);
    await new Promise<void>((r) => socket.once('close', () => r()));
    const req = seen[before];
    return req && { method: req.method!, url: req.url!, headers: req.headers };
  }

  const token = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/);
  const value = fc.stringMatching(/^[\t\x20-\x7e]{0,24}$/);
  const target = fc.stringMatching(/^\/[\x21-\x7e]{0,30}$/);

  it('reads every head it accepts as Node does (random heads, a real Node server)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'HEAD'),
        target,
        fc.array(fc.tuple(token, value), { maxLength: 6 }),
        fc.boolean(),
        async (method, path, fields, withRange) => {
          const lines = [['Host', 'p'] as [string, string], ...fields, ...(withRange ? [['Range', 'bytes=1-2'] as [string, string]] : [])];
          const text = bytes(`${method} ${path} HTTP/1.1\r\n${lines.map(([n, v]) => `${n}:${v}\r\n`).join('')}\r\n`);
          const ours = parseRequestHead(text);
          if (ours.kind !== 'head') return;
          const node = await nodeView(text);
          expect(node, 'Node refused a head the direct parser accepted').toBeDefined();
          expect(node!.method).toBe(ours.head.method);
          expect(node!.url).toBe(ours.head.target);
          for (const [name, v] of ours.head.headers) expect(node!.headers[name], name).toBe(v);
        },
      ),
      { numRuns: 150, seed: 14 },
    );
  });
});
