// The ISO route through a real listening server and real clients (curl; nbdkit's curl plugin read
// by nbdcopy, the client OpenBMC's virtual media uses), over a fake resolver whose image is a
// deterministic pseudo-random byte array.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { request, Agent } from 'node:http';
import { connect } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { missingTools, scratchDir } from '../helpers/tools.js';
import { pseudoRandomBytes } from './fake-image.js';
import { startTestServer, type TestServer } from './server.js';

// 3 MiB + 12345: not a multiple of any block or chunk size.
const SIZE = 3 * 1024 * 1024 + 12345;
const IMAGE = pseudoRandomBytes(SIZE);
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

interface CurlResult {
  readonly code: number;
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly rawHeaders: string;
  readonly body: Buffer;
  readonly stderr: string;
}

let server: TestServer;
let dir: string;
let cleanup: () => Promise<void>;
let seq = 0;

/** Runs curl; headers of the last response parsed (lower-case names). */
function curl(args: string[]): Promise<CurlResult> {
  const n = seq++;
  const headerFile = join(dir, `h${n}`);
  const bodyFile = join(dir, `b${n}`);
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '-D', headerFile, '-o', bodyFile, ...args], { encoding: 'utf8' }, (err, _stdout, stderr) => {
      void (async () => {
        const raw = await readFile(headerFile, 'utf8').catch(() => '');
        const body = await readFile(bodyFile).catch(() => Buffer.alloc(0));
        const blocks = raw.split(/\r\n\r\n/).filter((b) => b.trim() !== '');
        const last = blocks[blocks.length - 1] ?? '';
        const lines = last.split('\r\n');
        const status = Number(/^HTTP\/[\d.]+ (\d+)/.exec(lines[0] ?? '')?.[1] ?? 0);
        const headers: Record<string, string> = {};
        for (const l of lines.slice(1)) {
          const i = l.indexOf(':');
          if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
        }
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, status, headers, rawHeaders: last, body, stderr });
      })();
    });
  });
}

beforeAll(async () => {
  ({ dir, cleanup } = await scratchDir('isoproxy-http-'));
  server = await startTestServer();
  server.resolver.add('node-1', { data: IMAGE });
});

afterAll(async () => {
  await server?.close();
  await cleanup?.();
});

const iso = (name = 'node-1'): string => `${server.url}/iso/${name}.iso`;

describe.skipIf(missingTools('curl').length > 0)('GET /iso/<node>.iso with curl (skipped without curl)', () => {
  it('serves the whole image with 200, Content-Length and no chunking', async () => {
    const r = await curl([iso()]);
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBe(String(SIZE));
    expect(r.headers['transfer-encoding']).toBeUndefined();
    expect(r.headers['accept-ranges']).toBe('bytes');
    expect(r.headers['etag']).toBe('"base1-node-1"');
    expect(r.headers['last-modified']).toBe('Fri, 02 Jan 2026 03:04:05 GMT');
    expect(r.headers['content-type']).toBe('application/octet-stream');
    expect(r.headers['content-disposition']).toBe('attachment; filename="node-1.iso"');
    expect(sha256(r.body)).toBe(sha256(IMAGE));
  });

  it('answers HEAD with exactly the headers of GET', async () => {
    const strip = (h: Record<string, string>): Record<string, string> => {
      const { date: _d, 'x-request-id': _r, ...rest } = h;
      return rest;
    };
    for (const range of [[], ['-r', '100-5000'], ['-r', '0-1,10-20']]) {
      const head = await curl(['-I', ...range, iso()]);
      const get = await curl([...range, iso()]);
      expect(head.status).toBe(get.status);
      expect(strip(head.headers)).toEqual(strip(get.headers));
      // curl -I writes the header block to its output: nothing of the image follows it.
      expect(head.body.toString('latin1').trimEnd()).toBe(head.rawHeaders.trimEnd());
    }
  });

  it('serves a bounded range with 206 and Content-Range', async () => {
    const r = await curl(['-r', '1000-2047', iso()]);
    expect(r.status).toBe(206);
    expect(r.headers['content-range']).toBe(`bytes 1000-2047/${SIZE}`);
    expect(r.headers['content-length']).toBe('1048');
    expect(Buffer.compare(r.body, Buffer.from(IMAGE.subarray(1000, 2048)))).toBe(0);
  });

  it('serves open-ended and suffix ranges', async () => {
    const open = await curl(['-r', `${SIZE - 10}-`, iso()]);
    expect(open.status).toBe(206);
    expect(open.headers['content-range']).toBe(`bytes ${SIZE - 10}-${SIZE - 1}/${SIZE}`);
    expect(Buffer.compare(open.body, Buffer.from(IMAGE.subarray(SIZE - 10)))).toBe(0);
    const suffix = await curl(['-r', '-500', iso()]);
    expect(suffix.headers['content-range']).toBe(`bytes ${SIZE - 500}-${SIZE - 1}/${SIZE}`);
    expect(Buffer.compare(suffix.body, Buffer.from(IMAGE.subarray(SIZE - 500)))).toBe(0);
  });

  it('clamps a range that runs past the end to the last byte (OpenBMC asks 256 KiB + 1 past it)', async () => {
    const start = SIZE - 1000;
    const r = await curl(['-r', `${start}-${start + 256 * 1024}`, iso()]);
    expect(r.status).toBe(206);
    expect(r.headers['content-range']).toBe(`bytes ${start}-${SIZE - 1}/${SIZE}`);
    expect(r.body.length).toBe(1000);
  });

  it('answers 416 with Content-Range bytes */size for a range past the end', async () => {
    const r = await curl(['-r', `${SIZE}-${SIZE + 10}`, iso()]);
    expect(r.status).toBe(416);
    expect(r.headers['content-range']).toBe(`bytes */${SIZE}`);
  });

  it('ignores a malformed Range and serves the whole image with 200', async () => {
    for (const h of ['bytes=abc', 'bytes=10-5', 'lines=0-10', 'bytes 0-10']) {
      const r = await curl(['-H', `Range: ${h}`, iso()]);
      expect(r.status, h).toBe(200);
      expect(r.body.length).toBe(SIZE);
    }
  });

  it('serves several ranges as multipart/byteranges with the right parts', async () => {
    const r = await curl(['-r', '0-9,100-199,150-299,5000-5001', iso()]);
    expect(r.status).toBe(206);
    const m = /^multipart\/byteranges; boundary=(\S+)$/.exec(r.headers['content-type'] ?? '');
    expect(m).not.toBeNull();
    expect(r.headers['content-length']).toBe(String(r.body.length));
    const text = r.body.toString('latin1');
    const parts = text.split(`--${m![1]}`).slice(1, -1);
    const ranges = parts.map((p) => {
      const [head, ...rest] = p.split('\r\n\r\n');
      const cr = /Content-Range: bytes (\d+)-(\d+)\/(\d+)/.exec(head!)!;
      const data = Buffer.from(rest.join('\r\n\r\n').replace(/\r\n$/, ''), 'latin1');
      return { start: Number(cr[1]), end: Number(cr[2]), data };
    });
    // 100-199 and 150-299 overlap: coalesced into one part.
    expect(ranges.map((x) => [x.start, x.end])).toEqual([
      [0, 9],
      [100, 299],
      [5000, 5001],
    ]);
    for (const x of ranges) expect(Buffer.compare(x.data, Buffer.from(IMAGE.subarray(x.start, x.end + 1)))).toBe(0);
    expect(text.endsWith(`--${m![1]}--\r\n`)).toBe(true);
  });

  it('honours If-Range with the current ETag or date and serves 200 when it does not match', async () => {
    expect((await curl(['-r', '0-99', '-H', 'If-Range: "base1-node-1"', iso()])).status).toBe(206);
    expect((await curl(['-r', '0-99', '-H', 'If-Range: Fri, 02 Jan 2026 03:04:05 GMT', iso()])).status).toBe(206);
    const stale = await curl(['-r', '0-99', '-H', 'If-Range: "base0-node-1"', iso()]);
    expect(stale.status).toBe(200);
    expect(stale.body.length).toBe(SIZE);
    expect((await curl(['-r', '0-99', '-H', 'If-Range: W/"base1-node-1"', iso()])).status).toBe(200);
  });

  it('answers 304 to If-None-Match and If-Modified-Since when unchanged', async () => {
    const a = await curl(['-H', 'If-None-Match: "x", "base1-node-1"', iso()]);
    expect(a.status).toBe(304);
    expect(a.headers['etag']).toBe('"base1-node-1"');
    expect(a.body.length).toBe(0);
    expect((await curl(['-H', 'If-Modified-Since: Fri, 02 Jan 2026 03:04:05 GMT', iso()])).status).toBe(304);
    expect((await curl(['-H', 'If-Modified-Since: Fri, 02 Jan 2026 03:04:04 GMT', iso()])).status).toBe(200);
    expect((await curl(['-H', 'If-None-Match: "other"', '-r', '0-0', iso()])).status).toBe(206);
  });

  it('serves HTTP/1.0 clients with Content-Length', async () => {
    const r = await curl(['--http1.0', iso()]);
    expect(r.rawHeaders.startsWith('HTTP/1.0 200') || r.rawHeaders.startsWith('HTTP/1.1 200')).toBe(true);
    expect(r.headers['content-length']).toBe(String(SIZE));
    expect(sha256(r.body)).toBe(sha256(IMAGE));
  });

  it('reuses one keep-alive connection for consecutive range requests', async () => {
    const out = await new Promise<string>((resolve, reject) => {
      const one = (range: string): string[] => ['-r', range, '-o', '/dev/null', '-w', '%{num_connects}\\n', iso()];
      execFile('curl', ['-sS', ...one('0-99'), ...one('100-199')], (err, stdout) => (err ? reject(err) : resolve(stdout)));
    });
    expect(out.trim().split('\n')).toEqual(['1', '0']);
  });

  it('answers 404 for an unknown node and for names outside the allowed pattern', async () => {
    expect((await curl([iso('nobody')])).status).toBe(404);
    expect((await curl([`${server.url}/iso/a%3Ab.iso`])).status).toBe(404);
    expect((await curl([`${server.url}/iso/node-1`])).status).toBe(404);
  });

  it('answers 410 for a node past its expiry and drops its plan', async () => {
    server.resolver.add('gone', { data: IMAGE.subarray(0, 1000) });
    await server.store.put({
      name: 'gone',
      bootIso: 'http://images.example/a.iso',
      edits: {},
      expiresAt: '2020-01-01T00:00:00.000Z',
      createdAt: '2019-01-01T00:00:00.000Z',
      updatedAt: '2019-01-01T00:00:00.000Z',
    });
    const r = await curl([iso('gone')]);
    expect(r.status).toBe(410);
    expect(JSON.parse(r.body.toString()).error.code).toBe('NODE_EXPIRED');
    expect(server.resolver.forgotten).toContain('gone');
  });

  it('gives a short body, never wrong bytes, when the image fails mid-stream', async () => {
    server.resolver.add('flaky', { data: IMAGE, failAfterBytes: 512 * 1024 });
    const r = await curl([iso('flaky')]);
    expect(r.status).toBe(200);
    expect(r.code).not.toBe(0);
    expect(r.body.length).toBeLessThan(SIZE);
    expect(Buffer.compare(r.body, Buffer.from(IMAGE.subarray(0, r.body.length)))).toBe(0);
    await vi.waitFor(() => expect(server.logs.some((l) => l.msg === 'transfer failed' && l.node === 'flaky')).toBe(true));
  });
});

describe('GET /iso/<node>.iso with Node clients', () => {
  it('downloads the image by sequential 1 MiB ranges and by random ranges on keep-alive', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    const get = (start: number, end: number): Promise<Buffer> =>
      new Promise((resolve, reject) => {
        request(iso(), { agent, headers: { Range: `bytes=${start}-${end}` } }, (res) => {
          const parts: Buffer[] = [];
          res.on('data', (d: Buffer) => parts.push(d));
          res.on('end', () => (res.statusCode === 206 ? resolve(Buffer.concat(parts)) : reject(new Error(`status ${res.statusCode}`))));
          res.on('error', reject);
        })
          .on('error', reject)
          .end();
      });
    const seqParts: Buffer[] = [];
    for (let pos = 0; pos < SIZE; pos += 1024 * 1024) seqParts.push(await get(pos, pos + 1024 * 1024 - 1));
    expect(sha256(Buffer.concat(seqParts))).toBe(sha256(IMAGE));

    // Random cut points (a fixed-seed generator), fetched out of order, reassembled.
    const cuts = new Set<number>([0, SIZE]);
    let x = 12345;
    while (cuts.size < 40) {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      cuts.add(x % SIZE);
    }
    const points = [...cuts].sort((a, b) => a - b);
    const pieces = points.slice(0, -1).map((s, i) => ({ s, e: points[i + 1]! - 1 }));
    const order = pieces.map((_, i) => i).sort((a, b) => ((a * 7919) % 41) - ((b * 7919) % 41));
    const got = new Map<number, Buffer>();
    await Promise.all(order.map(async (i) => got.set(i, await get(pieces[i]!.s, pieces[i]!.e))));
    expect(sha256(Buffer.concat(pieces.map((_, i) => got.get(i)!)))).toBe(sha256(IMAGE));
    agent.destroy();
  });

  it('cancels the image iterator at once when the client goes away', async () => {
    server.resolver.add('big', { size: 1024 * 1024 * 1024 });
    const finishedBefore = server.resolver.readsFinished;
    const startedBefore = server.resolver.readsStarted;
    const u = new URL(iso('big'));
    await new Promise<void>((resolve, reject) => {
      const sock = connect(Number(u.port), u.hostname, () => {
        sock.write(`GET ${u.pathname} HTTP/1.1\r\nHost: x\r\n\r\n`);
      });
      let seen = 0;
      sock.on('data', (d: Buffer) => {
        seen += d.length;
        // Read a little, then stop reading and hang up.
        if (seen > 256 * 1024) {
          sock.destroy();
          resolve();
        }
      });
      sock.on('error', reject);
    });
    await vi.waitFor(() => {
      expect(server.resolver.readsStarted).toBe(startedBefore + 1);
      expect(server.resolver.readsFinished).toBe(finishedBefore + 1);
    });
    await vi.waitFor(() => expect(server.logs.some((l) => l.msg === 'transfer' && l.node === 'big' && l.outcome === 'aborted')).toBe(true));
    expect(server.running.app.activeTransfers()).toBe(0);
  });
});

describe.skipIf(missingTools('nbdkit', 'nbdcopy').length > 0)('nbdkit curl plugin + nbdcopy (skipped without nbdkit or nbdcopy)', () => {
  it('copies the image byte-identical, as OpenBMC virtual media reads it', async () => {
    const out = join(dir, 'nbd-out.img');
    await new Promise<void>((resolve, reject) => {
      execFile(
        'nbdkit',
        ['-U', '-', 'curl', `url=${iso()}`, '--run', `nbdcopy "$uri" ${JSON.stringify(out)}`],
        { timeout: 60_000 },
        (err, _o, stderr) => (err ? reject(new Error(`nbdkit failed: ${stderr}`)) : resolve()),
      );
    });
    expect(sha256(await readFile(out))).toBe(sha256(IMAGE));
  });
});
