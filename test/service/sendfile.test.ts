// Zero-copy serving end to end: isoproxy in-process over a real HTTP upstream serving an ISO built
// by xorriso, once with the default `--sendfile auto` (the addon built by `npm run build`, so
// blocks on disk go out with sendfile) and once with `--sendfile off` (every byte copied). With a
// warm cache both must answer whole GETs, single ranges (across 2 MiB block boundaries, inside and
// around the patched sectors), multi-range GETs and HEADs byte for byte as `isoproxy materialize`
// writes the image; isoproxy_sendfile_bytes_total shows which path the bytes took. Raw sockets
// then pipeline requests (a response queued behind another must wait for the sender to finish
// before its head goes out), reuse one connection for many ranges, and abort a download midway:
// the server must stay healthy and give back every descriptor the aborted send held.
//
// The tests marked skip fail on bugs in src/ (their comments say which): they are the
// reproductions, to turn on with the fixes.

import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeEdits } from '../../src/bootconfig/index.js';
import type { Edits } from '../../src/bootconfig/types.js';
import { openLocalBase } from '../../src/commands/local-base.js';
import { SETTLE_MS } from '../../src/cache/checked-file.js';
import { loadSender, senderUnavailable } from '../../src/native/sendfile.js';
import { computePatchSet } from '../../src/remaster/compute.js';
import { startCluster, type ClusterProxy } from '../cluster/cluster-proc.js';
import { RawConnection, request, type RawResponse } from '../helpers/raw-connection.js';
import { missingTools, scratchDir } from '../helpers/tools.js';
import { diskBytes, eventually, expectedImage, MiB, seeded, sha256, startProxy, type ProxyUnderTest } from './harness.js';
import { sizedIso } from './images.js';
import { startUpstream, type TestUpstream } from './upstream.js';

const missing = missingTools('xorriso');

const BLOCK = 2 * MiB;
const SECTOR = 2048;
const EDITS: Edits = { append: ['isoproxy.node=zero-copy', 'ip=dhcp'], set: { quiet: 'no' } };

/** The parts of a multipart/byteranges body, each with its Content-Range. */
function parseMultipart(body: Buffer, contentType: string): Array<{ start: number; end: number; size: number; bytes: Buffer }> {
  const boundary = /boundary=(\S+)/.exec(contentType)?.[1];
  if (!boundary) throw new Error(`no boundary in ${contentType}`);
  const text = body.toString('latin1');
  const parts: Array<{ start: number; end: number; size: number; bytes: Buffer }> = [];
  let at = text.indexOf(`--${boundary}\r\n`);
  while (at >= 0) {
    const headEnd = text.indexOf('\r\n\r\n', at);
    const head = text.slice(at, headEnd);
    const m = /content-range: bytes (\d+)-(\d+)\/(\d+)/i.exec(head);
    if (!m) throw new Error(`part without Content-Range: ${head}`);
    const start = Number(m[1]);
    const end = Number(m[2]);
    const from = headEnd + 4;
    parts.push({ start, end, size: Number(m[3]), bytes: body.subarray(from, from + end - start + 1) });
    const next = text.indexOf(`\r\n--${boundary}`, from + end - start + 1);
    expect(next, 'a part is followed by the boundary').toBe(from + end - start + 1);
    at = text.startsWith(`\r\n--${boundary}--`, next) ? -1 : next + 2;
  }
  return parts;
}

/** The value of a counter in /metrics text, or undefined when it is not exported. */
function counter(metrics: string, name: string): number | undefined {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+(?:\\.\\d+)?(?:e\\+?\\d+)?)$`, 'm').exec(metrics);
  return m ? Number(m[1]) : undefined;
}

/** Open descriptors of this process (the server runs in it). */
const openCount = (): number => readdirSync('/proc/self/fd').length;

/** The inode of the TCP socket with this local and remote port (/proc/net/tcp), if it exists. */
function tcpInode(localPort: number, remotePort: number): string | undefined {
  const hex = (p: number): string => p.toString(16).toUpperCase().padStart(4, '0');
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1]?.endsWith(`:${hex(localPort)}`) && f[2]?.endsWith(`:${hex(remotePort)}`)) return f[9];
  }
  return undefined;
}

/** How many of this process's descriptors are the socket with `inode`. */
function descriptorsOf(inode: string): number {
  let n = 0;
  for (const name of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${name}`) === `socket:[${inode}]`) n++;
    } catch {
      // Closed between the listing and the read.
    }
  }
  return n;
}

describe.skipIf(missing.length > 0)(`zero-copy serving${missing.length > 0 ? ` (skipped: missing ${missing.join(', ')})` : ''}`, () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  let upstream: TestUpstream;
  let want: Buffer;
  /** Where the patch set puts bytes of its own: the first and last patched byte, and the longest overlay. */
  let patched: { first: number; last: number; bytes: number; longest: { start: number; end: number } };
  let on: ProxyUnderTest;
  let off: ProxyUnderTest;
  const PATH = '/iso/n.iso';

  beforeAll(async () => {
    // Without the addon, `auto` would quietly copy and this file would prove nothing about sendfile.
    if (!loadSender()) throw new Error(`the sendfile addon does not load: ${senderUnavailable()} (run npm run build)`);
    scratch = await scratchDir('isoproxy-service-sendfile-');
    // Six 2 MiB blocks and a bit: the filler puts plain base bytes in every block.
    const iso = await sizedIso(scratch.dir, 'zc', 11);
    const base = await readFile(iso);
    want = await expectedImage(iso, EDITS, join(scratch.dir, 'zc.expected.iso'));
    expect(want.length).toBeGreaterThan(5 * BLOCK);
    // The overlays of the same patch set the server computes: the bytes that come from memory.
    const local = await openLocalBase(iso);
    try {
      const { overlays } = computePatchSet(local.ctx, normalizeEdits(EDITS)).patchSet;
      expect(overlays.length, 'the edits patch some bytes').toBeGreaterThan(0);
      const longest = overlays.reduce((a, b) => (b.data.length > a.data.length ? b : a));
      expect(longest.data.length).toBeGreaterThan(32);
      const last = overlays[overlays.length - 1]!;
      patched = {
        first: overlays[0]!.offset,
        last: last.offset + last.data.length - 1,
        bytes: overlays.reduce((n, o) => n + o.data.length, 0),
        longest: { start: longest.offset, end: longest.offset + longest.data.length - 1 },
      };
    } finally {
      await local.source.close();
    }
    upstream = await startUpstream({ '/zc.iso': base });
    const allow = [`${upstream.origin}/`];
    on = await startProxy({ dir: join(scratch.dir, 'on'), allow, extraArgs: ['--block-size', '2MiB'] });
    // Without sendfile, and through Node's HTTP server rather than the direct one (src/http/direct).
    off = await startProxy({
      dir: join(scratch.dir, 'off'),
      allow,
      extraArgs: ['--block-size', '2MiB', '--sendfile', 'off', '--direct-http', 'off'],
    });
    for (const proxy of [on, off]) {
      expect((await proxy.putNode('n', { bootIso: upstream.url('/zc.iso'), edits: EDITS })).status).toBe(201);
      // Warm: one whole download, then every block's file written, so later reads find them on disk.
      const res = await fetch(proxy.imageUrl('n'));
      expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(sha256(want));
    }
    for (const dir of ['on', 'off'])
      await eventually(async () => (await diskBytes(join(scratch.dir, dir, 'cache'))) >= base.length, `the ${dir} cache holding every block`);
  });

  afterAll(async () => {
    await on?.close();
    await off?.close();
    await upstream?.close();
    await scratch?.cleanup();
  });

  const sentBytes = async (proxy: ProxyUnderTest): Promise<number | undefined> => counter(await proxy.metrics(), 'isoproxy_sendfile_bytes_total');

  /** Single ranges: block boundaries, the patched sectors and their edges, the ends of the image. */
  const ranges = (): Array<[number, number]> => {
    const size = want.length;
    const { longest } = patched;
    const p = longest.start - (longest.start % SECTOR);
    return [
      [0, 0],
      [0, BLOCK],
      [BLOCK - 1, BLOCK],
      [BLOCK - 1000, BLOCK + 1000],
      [2 * BLOCK - 300_000, 3 * BLOCK + 5],
      [BLOCK + 17, 4 * BLOCK + 123_457],
      [longest.start + 1, longest.end - 1],
      [longest.start, longest.end],
      [p, p + SECTOR - 1],
      [longest.start - 100, longest.start + 100],
      [longest.end - 10, longest.end + 300_000],
      [patched.first, patched.last],
      [Math.max(0, patched.first - 5000), patched.last + 5000],
      [size - 2 * BLOCK - 99, size - 1],
      [size - 1, size - 1],
    ];
  };

  const multiRanges = (): string[] => {
    const size = want.length;
    return [
      `bytes=0-9,${BLOCK - 5}-${BLOCK + 5},${patched.longest.start}-${patched.longest.start + 99},${size - 100}-`,
      `bytes=100-3000000,5000000-7000000`,
      `bytes=${patched.first - 3}-${patched.last + 3},${3 * BLOCK - 1}-${3 * BLOCK},-77`,
    ];
  };

  /** Whole GET, every single range, every multi-range and HEADs of each kind: all exact. */
  async function checkAll(proxy: ProxyUnderTest): Promise<void> {
    const url = proxy.imageUrl('n');
    const whole = await fetch(url);
    expect(whole.status).toBe(200);
    expect(Number(whole.headers.get('content-length'))).toBe(want.length);
    expect(sha256(Buffer.from(await whole.arrayBuffer()))).toBe(sha256(want));
    for (const [start, end] of ranges()) {
      const res = await fetch(url, { headers: { range: `bytes=${start}-${end}` } });
      expect(res.status, `${start}-${end}`).toBe(206);
      expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/${want.length}`);
      const body = Buffer.from(await res.arrayBuffer());
      expect(body.length, `${start}-${end}`).toBe(end - start + 1);
      expect(body.equals(want.subarray(start, end + 1)), `bytes ${start}-${end}`).toBe(true);
    }
    for (const range of multiRanges()) {
      const res = await fetch(url, { headers: { range } });
      expect(res.status, range).toBe(206);
      const type = res.headers.get('content-type') ?? '';
      expect(type).toMatch(/^multipart\/byteranges; boundary=/);
      const body = Buffer.from(await res.arrayBuffer());
      expect(body.length, range).toBe(Number(res.headers.get('content-length')));
      const parts = parseMultipart(body, type);
      expect(parts.length, range).toBe(range.split(',').length);
      for (const part of parts) {
        expect(part.size).toBe(want.length);
        expect(part.bytes.equals(want.subarray(part.start, part.end + 1)), `${range}: part ${part.start}-${part.end}`).toBe(true);
      }
    }
    for (const range of [undefined, `bytes=${BLOCK - 10}-${BLOCK + 10}`, multiRanges()[0]]) {
      const headers: Record<string, string> = range ? { range } : {};
      const get = await fetch(url, { headers });
      const getBody = Buffer.from(await get.arrayBuffer());
      const head = await fetch(url, { method: 'HEAD', headers });
      expect(head.status, range).toBe(get.status);
      expect(head.headers.get('content-length'), range).toBe(String(getBody.length));
      expect(head.headers.get('content-range'), range).toBe(get.headers.get('content-range'));
      expect(head.headers.get('etag'), range).toBe(get.headers.get('etag'));
      expect((await head.arrayBuffer()).byteLength).toBe(0);
    }
  }

  it('starts with sendfile on by default (auto, addon built), and off when told', () => {
    const listening = (p: ProxyUnderTest) => p.logs.find((l) => l.msg === 'listening');
    expect(listening(on)?.sendfile).toBe('on');
    expect(listening(off)?.sendfile).toBe('off: turned off (--sendfile off)');
  });

  it('with sendfile on, serves whole GETs, ranges, multi-range GETs and HEADs exactly, sending cached blocks with sendfile', async () => {
    let before = (await sentBytes(on)) ?? 0;
    const whole = await fetch(on.imageUrl('n'));
    expect(sha256(Buffer.from(await whole.arrayBuffer()))).toBe(sha256(want));
    // Every byte of a warm image but the patch set's own is on disk: exactly those go out as
    // sendfile sends. (The counter moves when a send's completion reaches JavaScript, which may
    // trail the client's last byte.)
    await eventually(
      async () => ((await sentBytes(on)) ?? 0) - before === want.length - patched.bytes,
      'the whole image but its patched bytes counted as sent by sendfile',
    );
    before = (await sentBytes(on)) ?? 0;
    await checkAll(on);
    await eventually(async () => ((await sentBytes(on)) ?? 0) - before >= want.length, 'sendfile bytes for the downloads');
    expect(counter(await on.metrics(), 'isoproxy_sendfile_failed_total')).toBe(0);
  });

  it('with sendfile on, sends a range of plain base bytes entirely with sendfile, and patched bytes by copy', async () => {
    const url = on.imageUrl('n');
    // Past every patched byte, inside the filler, across a block boundary.
    const start = Math.max(patched.last + 1, 3 * BLOCK - 123_456);
    const end = 4 * BLOCK + 99;
    let before = (await sentBytes(on)) ?? 0;
    const res = await fetch(url, { headers: { range: `bytes=${start}-${end}` } });
    expect(Buffer.from(await res.arrayBuffer()).equals(want.subarray(start, end + 1))).toBe(true);
    await eventually(async () => ((await sentBytes(on)) ?? 0) - before === end - start + 1, 'the range counted as sent by sendfile');
    before = (await sentBytes(on)) ?? 0;
    const { start: ps, end: pe } = patched.longest;
    const patchedRes = await fetch(url, { headers: { range: `bytes=${ps}-${pe}` } });
    expect(Buffer.from(await patchedRes.arrayBuffer()).equals(want.subarray(ps, pe + 1))).toBe(true);
    // A range of patch bytes only has nothing on disk to send: none of it goes through sendfile.
    await new Promise((r) => setTimeout(r, 100));
    expect((await sentBytes(on)) ?? 0).toBe(before);
  });

  it('with sendfile off, serves the same requests exactly, with no sendfile counter and no sendfile sends', async () => {
    const sentByOn = (await sentBytes(on)) ?? 0;
    await checkAll(off);
    const metrics = await off.metrics();
    expect(counter(metrics, 'isoproxy_sendfile_bytes_total') ?? 0).toBe(0);
    expect(counter(metrics, 'isoproxy_sendfile_failed_total') ?? 0).toBe(0);
    // The sender is one per process: had the off server used it, the on server's counter would show it.
    expect((await sentBytes(on)) ?? 0).toBe(sentByOn);
  });

  it('answers a cached range of a built image at once, exactly, and everything else by waiting, as before', async () => {
    const atOnce = async (p: ProxyUnderTest): Promise<number> => counter(await p.metrics(), 'isoproxy_image_answers_at_once_total') ?? 0;
    // Ranges of plain base bytes, each inside one block past every patched byte: what a BMC reads.
    const rand = seeded(21);
    const first = Math.floor(patched.last / BLOCK) + 1;
    const blocks = Math.floor(want.length / BLOCK) - first;
    const plain = Array.from({ length: 20 }, () => {
      const block = first + Math.floor(rand() * blocks);
      const start = block * BLOCK + Math.floor(rand() * (BLOCK - 300_000));
      return { start, end: start + 262_143 };
    });
    const exact = async (conn: RawConnection, range: string, method = 'GET'): Promise<RawResponse> => {
      conn.write(request(PATH, range, method));
      return conn.response(method);
    };
    for (const p of [on, off]) {
      const conn = await RawConnection.open(p.url);
      try {
        // Once to have each block's file open, then again: the second pass is answered at once.
        // A block written less than SETTLE_MS ago is trusted only provisionally, and between that
        // second and its check once more (in the background, or by the next reader that waits) it
        // is not handed out at once: a pass after the settle window and before the counted one
        // leaves every file checked for good, however slow the machine.
        for (const r of plain) expect((await exact(conn, `bytes=${r.start}-${r.end}`)).body.equals(want.subarray(r.start, r.end + 1))).toBe(true);
        await new Promise((r) => setTimeout(r, SETTLE_MS + 200));
        for (const r of plain) expect((await exact(conn, `bytes=${r.start}-${r.end}`)).body.equals(want.subarray(r.start, r.end + 1))).toBe(true);
        const before = await atOnce(p);
        for (const r of plain) {
          const res = await exact(conn, `bytes=${r.start}-${r.end}`);
          expect(res.status).toBe(206);
          expect(res.headers['content-range']).toBe(`bytes ${r.start}-${r.end}/${want.length}`);
          expect(res.body.equals(want.subarray(r.start, r.end + 1))).toBe(true);
        }
        // Pipelined: the span at hand waits behind the response before it, and goes out whole.
        conn.write(
          plain
            .slice(0, 5)
            .map((r) => request(PATH, `bytes=${r.start}-${r.end}`))
            .join(''),
        );
        for (const r of plain.slice(0, 5)) expect((await conn.response()).body.equals(want.subarray(r.start, r.end + 1))).toBe(true);
        // Only with sendfile: without it the body is copied through the reader, which waits.
        expect((await atOnce(p)) - before).toBe(p === on ? plain.length + 5 : 0);
        // A range across one block boundary, both blocks' files open: two spans, at once too.
        const across = (first + 1) * BLOCK - 1000;
        for (const at of [across - 10_000, across + 10_000]) await exact(conn, `bytes=${at}-${at + 99}`);
        const beforeAcross = await atOnce(p);
        expect((await exact(conn, `bytes=${across}-${across + 1999}`)).body.equals(want.subarray(across, across + 2000))).toBe(true);
        expect((await atOnce(p)) - beforeAcross).toBe(p === on ? 1 : 0);
        // What needs more than two open file spans waits, and is as exact as ever: patched bytes,
        // a range across three blocks, several ranges, a HEAD, a 304.
        const others = await atOnce(p);
        const { start: ps, end: pe } = patched.longest;
        expect((await exact(conn, `bytes=${ps}-${pe}`)).body.equals(want.subarray(ps, pe + 1))).toBe(true);
        const three = { start: across, end: across + BLOCK + 1999 };
        expect((await exact(conn, `bytes=${three.start}-${three.end}`)).body.equals(want.subarray(three.start, three.end + 1))).toBe(true);
        const multi = await exact(conn, `bytes=${plain[0]!.start}-${plain[0]!.start + 9},${plain[1]!.start}-${plain[1]!.start + 9}`);
        expect(parseMultipart(multi.body, multi.headers['content-type'] ?? '').map((x) => x.bytes.equals(want.subarray(x.start, x.end + 1)))).toEqual(
          [true, true],
        );
        const head = await exact(conn, `bytes=${plain[2]!.start}-${plain[2]!.end}`, 'HEAD');
        expect([head.status, head.headers['content-length'], head.body.length]).toEqual([206, '262144', 0]);
        conn.write(
          `GET ${PATH} HTTP/1.1\r\nHost: isoproxy.test\r\nIf-None-Match: ${head.headers.etag}\r\nRange: bytes=${plain[3]!.start}-${plain[3]!.end}\r\n\r\n`,
        );
        expect((await conn.response()).status).toBe(304);
        expect(await atOnce(p)).toBe(others);
      } finally {
        conn.close();
      }
    }
  });

  for (const mode of ['on', 'off'] as const) {
    it(`answers pipelined requests in order, each exact, a response queued behind a large one included (sendfile ${mode})`, async () => {
      const proxy = mode === 'on' ? on : off;
      const sentBefore = (await sentBytes(on)) ?? 0;
      const conn = await RawConnection.open(proxy.url);
      try {
        const size = want.length;
        const asks: Array<{ method: string; range?: string; check: (r: RawResponse) => void }> = [
          {
            method: 'GET',
            range: `bytes=${BLOCK - 1}-${4 * BLOCK}`,
            check: (r) => expect(r.body.equals(want.subarray(BLOCK - 1, 4 * BLOCK + 1))).toBe(true),
          },
          {
            method: 'GET',
            range: `bytes=${patched.longest.start - 2000}-${patched.longest.start + 2095}`,
            check: (r) => expect(r.body.equals(want.subarray(patched.longest.start - 2000, patched.longest.start + 2096))).toBe(true),
          },
          { method: 'HEAD', check: (r) => expect(r.headers['content-length']).toBe(String(size)) },
          { method: 'GET', check: (r) => expect(sha256(r.body)).toBe(sha256(want)) },
          {
            method: 'GET',
            range: multiRanges()[1],
            check: (r) => {
              for (const part of parseMultipart(r.body, r.headers['content-type'] ?? ''))
                expect(part.bytes.equals(want.subarray(part.start, part.end + 1))).toBe(true);
            },
          },
          { method: 'GET', range: `bytes=${size - 5}-`, check: (r) => expect(r.body.equals(want.subarray(size - 5))).toBe(true) },
        ];
        // All of them in one write: every response after the first is queued behind another.
        conn.write(asks.map((a) => request(PATH, a.range, a.method)).join(''));
        for (const a of asks) {
          const r = await conn.response(a.method);
          expect(r.status, `${a.method} ${a.range ?? 'whole'}`).toBe(a.range ? 206 : 200);
          a.check(r);
        }
        expect(conn.received).toBe(0);
        // With sendfile on, the queued responses went out through it too (at least the whole image's base bytes).
        if (mode === 'on') await eventually(async () => ((await sentBytes(on)) ?? 0) - sentBefore >= size, 'the pipelined bytes sent by sendfile');
      } finally {
        conn.close();
      }
    });

    it(`serves 50 random ranges in a row over one kept-alive connection, each exact (sendfile ${mode})`, async () => {
      const proxy = mode === 'on' ? on : off;
      const conn = await RawConnection.open(proxy.url);
      const rand = seeded(mode === 'on' ? 11 : 12);
      try {
        for (let i = 0; i < 50; i++) {
          const start = Math.floor(rand() * want.length);
          // Mostly small, some spanning blocks.
          const end = Math.min(want.length - 1, start + Math.floor(rand() ** 3 * 3 * BLOCK));
          conn.write(request(PATH, `bytes=${start}-${end}`));
          const r = await conn.response();
          expect(r.status).toBe(206);
          expect(r.headers['content-range']).toBe(`bytes ${start}-${end}/${want.length}`);
          expect(r.body.equals(want.subarray(start, end + 1)), `range ${i}: ${start}-${end}`).toBe(true);
        }
      } finally {
        conn.close();
      }
    });

    it(`stays healthy when clients drop a whole-image download midway, and gives back their descriptors (sendfile ${mode})`, async () => {
      const proxy = mode === 'on' ? on : off;
      await settle(proxy);
      const failedBefore = counter(await proxy.metrics(), 'isoproxy_sendfile_failed_total') ?? 0;
      const baseline = openCount();
      // One that reads on until it leaves, one that stops reading first (the server's send then
      // waits on a full socket when the connection goes).
      await dropMidway(proxy, { stall: false });
      await dropMidway(proxy, { stall: true });
      await eventually(() => openCount() <= baseline, `open descriptors back to ${baseline}`);
      if (mode === 'on') expect(counter(await proxy.metrics(), 'isoproxy_sendfile_failed_total')).toBeGreaterThan(failedBefore);
      // The next requests work and are exact.
      const res = await fetch(proxy.imageUrl('n'), { headers: { range: `bytes=${BLOCK - 3}-${BLOCK + 3}` } });
      expect(Buffer.from(await res.arrayBuffer()).equals(want.subarray(BLOCK - 3, BLOCK + 4))).toBe(true);
      const whole = await fetch(proxy.imageUrl('n'));
      expect(sha256(Buffer.from(await whole.arrayBuffer()))).toBe(sha256(want));
    });

    // Node never closes a response still queued behind another when the connection goes (its
    // request closes, the response does not): the image routes watch the connection too, or the
    // queued transfer would wait forever (in flushed() with sendfile, in drained() without),
    // holding its reader, its block file and a place in the per-client cap. The direct server
    // (the `on` proxy) reads a pipelined request only after the one before it is answered: the
    // queued one never begins.
    it(`ends a pipelined request queued behind a download the client drops (sendfile ${mode})`, async () => {
      const proxy = mode === 'on' ? on : off;
      await settle(proxy);
      const baseline = openCount();
      await dropMidway(proxy, { stall: false, queued: request(PATH, `bytes=${BLOCK - 10}-${3 * BLOCK}`) });
      await eventually(() => openCount() <= baseline, `open descriptors back to ${baseline}`);
    });
  }

  // Clients that reset their connections at random points of concurrent downloads: a cancel and
  // the cancelled job's own socket event then meet in one epoll batch of the sender thread (which
  // once ended the job twice: a double free). The server runs as a process of its own (the built
  // CLI) so that a crash fails this test, not the test runner.
  it('survives many clients resetting concurrent downloads at random points (a server process of its own)', async () => {
    const server = await clusterWithNode('resets');
    try {
      expect(server.logs.find((l) => l.msg === 'listening')?.sendfile).toBe('on');
      const rand = seeded(99);
      const dropAt = async (bytes: number): Promise<void> => {
        const conn = await RawConnection.open(server.url);
        conn.write(request(PATH));
        await eventually(() => conn.received >= bytes || server.proc.exitCode !== null || server.proc.signalCode !== null, 'bytes or an exit');
        conn.socket.resetAndDestroy();
        await conn.closed;
      };
      for (let round = 0; round < 12 && server.proc.exitCode === null && server.proc.signalCode === null; round++)
        await Promise.all(Array.from({ length: 8 }, () => dropAt(Math.floor(rand() * (want.length - MiB)))));
      expect({ exitCode: server.proc.exitCode, signal: server.proc.signalCode }).toEqual({ exitCode: null, signal: null });
      const res = await fetch(server.imageUrl('n'), { headers: { range: `bytes=${BLOCK - 3}-${BLOCK + 3}` } });
      expect(Buffer.from(await res.arrayBuffer()).equals(want.subarray(BLOCK - 3, BLOCK + 4))).toBe(true);
    } finally {
      await server.stop();
    }
  });

  // A cluster worker reads block files the primary named and hands ranges out at once as well:
  // one span, or two across a block boundary, each byte as the whole image has it.
  it('answers cached ranges across a block boundary at once in a cluster worker too, exactly', async () => {
    const server = await clusterWithNode('worker-spans');
    try {
      const atOnce = async (): Promise<number> => counter(await server.metrics(), 'isoproxy_image_answers_at_once_total') ?? 0;
      const firstPlain = Math.floor(patched.last / BLOCK) + 1;
      const lastBoundary = Math.floor(want.length / BLOCK) - 1;
      const ranges = Array.from({ length: Math.min(8, lastBoundary - firstPlain) }, (_, i) => {
        const start = (firstPlain + 1 + i) * BLOCK - 100_000 - i * 1000;
        return { start, end: start + 262_143 };
      });
      const conn = await RawConnection.open(server.url);
      try {
        // Once so the worker has each block's file open, once more after the settle window (a block
        // written less than SETTLE_MS ago is trusted only provisionally, and is not handed out at
        // once until checked again), then the counted pass: answered at once.
        for (const pass of [0, 1, 2]) {
          if (pass === 1) await new Promise((r) => setTimeout(r, SETTLE_MS + 200));
          const before = await atOnce();
          for (const r of ranges) {
            conn.write(request(PATH, `bytes=${r.start}-${r.end}`));
            const res = await conn.response();
            expect(res.status).toBe(206);
            expect(res.body.equals(want.subarray(r.start, r.end + 1))).toBe(true);
          }
          if (pass === 2) expect((await atOnce()) - before).toBe(ranges.length);
        }
      } finally {
        conn.close();
      }
    } finally {
      await server.stop();
    }
  });

  /** A cluster of one worker (the built CLI, a process of its own) serving node n, read whole once and checked. */
  async function clusterWithNode(name: string): Promise<ClusterProxy> {
    const server = await startCluster({
      dir: join(scratch.dir, name),
      allow: [`${upstream.origin}/`],
      workers: 1,
      extraArgs: ['--block-size', '2MiB'],
    });
    try {
      expect((await server.putNode('n', { bootIso: upstream.url('/zc.iso'), edits: EDITS })).status).toBe(201);
      expect(sha256(Buffer.from(await (await fetch(server.imageUrl('n'))).arrayBuffer()))).toBe(sha256(want));
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  /** Lets earlier tests' transfers end and closes idle keep-alive connections, so descriptors can be counted. */
  async function settle(proxy: ProxyUnderTest): Promise<void> {
    await eventually(() => proxy.running.app.activeTransfers() === 0, 'no transfers before the test');
    proxy.running.server.closeIdleConnections();
    // Let fetch's pool see those connections close, so its next request opens a new one.
    await new Promise((r) => setTimeout(r, 200));
  }

  /**
   * GETs the whole image on a raw connection (with `queued` pipelined behind it), reads a few
   * hundred KiB (then, with `stall`, stops reading for a moment) and resets the connection; then
   * waits for every transfer to end and for the connection to have no descriptor left in this
   * process: neither Node's nor a sender's duplicate.
   */
  async function dropMidway(proxy: ProxyUnderTest, options: { stall: boolean; queued?: string }): Promise<void> {
    const serverPort = (proxy.running.server.address() as AddressInfo).port;
    const conn = await RawConnection.open(proxy.url);
    const inode = tcpInode(serverPort, conn.socket.localPort!);
    expect(inode, 'the server side of the connection').toBeDefined();
    const transfersBefore = proxy.logs.filter((l) => l.msg === 'transfer').length;
    conn.readLimit = 300 * 1024;
    conn.write(request(PATH) + (options.queued ?? ''));
    await eventually(() => conn.received >= conn.readLimit, 'the first few hundred KiB');
    if (options.queued && proxy === off) await eventually(() => proxy.running.app.activeTransfers() === 2, 'the queued transfer begun');
    if (options.queued && proxy === on) expect(proxy.running.app.activeTransfers()).toBe(1);
    // With the client not reading, the server's send waits for room in the socket until the reset.
    if (options.stall) await new Promise((r) => setTimeout(r, 200));
    conn.close();
    await conn.closed;
    await eventually(() => proxy.running.app.activeTransfers() === 0, 'every transfer ended after the client left').catch((err: Error) => {
      throw new Error(`${err.message}: ${proxy.running.app.activeTransfers()} still active`);
    });
    await eventually(() => descriptorsOf(inode!) === 0, `no descriptor of the dropped connection (socket:[${inode}])`);
    // Its log line says it ended early, short of the image.
    // (A queued transfer ends on the same close: the two lines may come in either order.)
    const ended = proxy.logs.filter((l) => l.msg === 'transfer').slice(transfersBefore);
    const whole = ended.find((l) => l.status === 200);
    expect(whole).toMatchObject({ status: 200, outcome: 'aborted' });
    expect(whole!.bytes as number).toBeLessThan(want.length);
  }
});
