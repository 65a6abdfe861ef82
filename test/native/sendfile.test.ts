// The zero-copy sender (src/native/sendfile.c as src/native/sendfile.ts hands it out) on real
// loopback TCP connections and a real file of random bytes: exact bytes at any offset, several
// sends at once, sends far larger than the socket buffers to clients that read slowly or not at
// all, a peer that goes away, aborts, and the property the addon is built around: a send works on
// its own duplicates of the descriptors, so Node closing the socket (and the number being reused
// at once by a new file or socket) can never send bytes anywhere but the original connection.
//
// The addon is built by `npm run build` (the `pretest` script): these tests fail, saying why,
// when loadSender cannot load it, rather than skipping a feature that was meant to be there.
// The addon also fixes glibc's mmap threshold (fixMmapThreshold), tested here in a child process.

import { selfSignedCert } from '../helpers/tls.js';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { constants } from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fileSpan, type FileSpan } from '../../src/io/file-span.js';
import { fixMmapThreshold, loadSender, MMAP_THRESHOLD_ENV, SendError, senderUnavailable, socketFd, type Sender } from '../../src/native/sendfile.js';
import { missingTools, scratchDir } from '../helpers/tools.js';

const MiB = 1024 * 1024;
/**
 * A span no client that does not read can absorb, so its send stays blocked until something ends
 * it: more than the largest send buffer TCP may grow to (tcp_wmem's maximum) plus a receive
 * buffer that never grew (a receiver's grows only as it reads), with room to spare.
 */
const STALLED = Math.max(16 * MiB, 2 * Number(readFileSync('/proc/sys/net/ipv4/tcp_wmem', 'utf8').trim().split(/\s+/)[2]) + 8 * MiB);
/** The file: random bytes, larger than any span sent from it. */
const FILE_BYTES = STALLED + 8 * MiB;

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves with what `p` settled to, or rejects after `ms` (a bound on liveness, not on speed). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Polls until `check` holds, failing with `what` after about `ms`. */
async function eventually(check: () => boolean, what: () => string, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await delay(20)) if (check()) return;
  if (!check()) throw new Error(`gave up waiting: ${what()}`);
}

/** What each descriptor of this process points at ("socket:[inode]", a path, ...). */
function openDescriptors(): string[] {
  const out: string[] = [];
  for (const name of readdirSync('/proc/self/fd')) {
    try {
      out.push(readlinkSync(`/proc/self/fd/${name}`));
    } catch {
      // The directory's own descriptor is gone by the time it is read.
    }
  }
  return out;
}

/** How many of this process's descriptors point at `target`. */
const descriptorsTo = (target: string): number => openDescriptors().filter((l) => l === target).length;

function fdOf(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('socket has no descriptor');
  return fd;
}

/** The socket's kernel object, as /proc/self/fd names it: the same for every duplicate. */
const linkOf = (socket: Socket): string => readlinkSync(`/proc/self/fd/${fdOf(socket)}`);

/** The bytes a socket receives, and a promise for all of them once the peer ends or the socket closes. */
interface Collector {
  received(): number;
  readonly done: Promise<Buffer>;
}

function collect(socket: Socket): Collector {
  const chunks: Buffer[] = [];
  let n = 0;
  socket.on('data', (b: Buffer) => {
    chunks.push(b);
    n += b.length;
  });
  const done = new Promise<Buffer>((resolve) => {
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('close', () => resolve(Buffer.concat(chunks)));
  });
  return { received: () => n, done };
}

describe("glibc's mmap threshold", () => {
  it('is fixed by the addon, unless the environment already sets it', () => {
    expect(fixMmapThreshold({ [MMAP_THRESHOLD_ENV]: '65536' })).toBe('environment');
    // This is glibc on Linux with the addon built (npm run build): anything else is a failure here.
    expect(fixMmapThreshold({})).toBe('set');
  });
});

describe('the sendfile sender on loopback TCP', () => {
  let sender: Sender;
  let scratch: { dir: string; cleanup: () => Promise<void> };
  let path: string;
  let data: Buffer;
  let fd: number;
  let listener: Server;
  let accepted: Socket[] = [];
  let waiters: Array<(s: Socket) => void> = [];
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    const loaded = loadSender();
    if (!loaded) throw new Error(`the sendfile sender did not load: ${senderUnavailable()} (run npm run build first)`);
    sender = loaded;
    scratch = await scratchDir('isoproxy-sendfile-');
    path = join(scratch.dir, 'random.bin');
    data = randomBytes(FILE_BYTES);
    writeFileSync(path, data);
    fd = openSync(path, 'r');
    listener = createServer((s) => {
      const w = waiters.shift();
      if (w) w(s);
      else accepted.push(s);
    });
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  });

  afterEach(() => {
    for (const s of sockets) s.destroy();
    sockets.clear();
    accepted = [];
    waiters = [];
  });

  afterAll(async () => {
    await new Promise<void>((r) => (listener ? listener.close(() => r()) : r()));
    if (fd !== undefined) closeSync(fd);
    await scratch?.cleanup();
  });

  /**
   * A connected pair on 127.0.0.1: `server` (the accepted side, which the sender writes to) and
   * `client`, paused unless asked, so nothing is read until a test says so. Resets are expected.
   */
  async function pair(options: { paused?: boolean } = {}): Promise<{ server: Socket; client: Socket }> {
    const serverSide = new Promise<Socket>((resolve) => {
      const ready = accepted.shift();
      if (ready) resolve(ready);
      else waiters.push(resolve);
    });
    const client = connect((listener.address() as AddressInfo).port, '127.0.0.1');
    if (options.paused !== false) client.pause();
    client.on('error', () => {});
    sockets.add(client);
    await new Promise<void>((resolve, reject) => {
      client.once('connect', resolve);
      client.once('error', reject);
    });
    const server = await serverSide;
    server.on('error', () => {});
    sockets.add(server);
    return { server, client };
  }

  const span = (offset: number, length: number, onRelease: () => void = () => {}): FileSpan => fileSpan(fd, offset, length, onRelease);
  const signal = (): AbortSignal => new AbortController().signal;

  it('sends exactly the bytes of the span at an unaligned offset, and counts them', async () => {
    const { server, client } = await pair({ paused: false });
    const got = collect(client);
    const before = { ...sender.stats };
    const offset = 12_345;
    const length = 3 * MiB + 77;
    await within(sender.send(server, span(offset, length), signal()), 20_000, 'send');
    server.end();
    const bytes = await got.done;
    expect(bytes.length).toBe(length);
    expect(bytes.equals(data.subarray(offset, offset + length))).toBe(true);
    expect(sender.stats.sends).toBe(before.sends + 1);
    expect(sender.stats.bytes).toBe(before.bytes + length);
    expect(sender.stats.failed).toBe(before.failed);
  });

  it('sends back-to-back spans on one socket in order, and node writes after them land after them', async () => {
    const { server, client } = await pair({ paused: false });
    const got = collect(client);
    const pieces: Array<[number, number]> = [
      [0, 1],
      [FILE_BYTES - 1, 1],
      [5 * MiB - 3, 2 * MiB + 6],
      [100, 65_536],
    ];
    for (const [offset, length] of pieces) await sender.send(server, span(offset, length), signal());
    server.end(Buffer.from('trailer'));
    const bytes = await got.done;
    const want = Buffer.concat([...pieces.map(([o, l]) => data.subarray(o, o + l)), Buffer.from('trailer')]);
    expect(bytes.length).toBe(want.length);
    expect(bytes.equals(want)).toBe(true);
  });

  it('runs several sends on different sockets at once, each delivering its own span', async () => {
    const jobs = await Promise.all(
      [0, 1, 2, 3, 4, 5].map(async (i) => {
        const { server, client } = await pair({ paused: false });
        const offset = i * 3 * MiB + i * 7;
        const length = 2 * MiB + i * 4099;
        return { server, got: collect(client), offset, length };
      }),
    );
    await within(
      Promise.all(
        jobs.map(async (j) => {
          await sender.send(j.server, span(j.offset, j.length), signal());
          j.server.end();
        }),
      ),
      30_000,
      'concurrent sends',
    );
    for (const j of jobs) {
      const bytes = await j.got.done;
      expect(bytes.length).toBe(j.length);
      expect(bytes.equals(data.subarray(j.offset, j.offset + j.length))).toBe(true);
    }
  });

  it('completes a send much larger than the socket buffers to a client that reads in fits and starts', async () => {
    const { server, client } = await pair();
    const got = collect(client);
    // Pause after every chunk and resume a little later: the sender must wait for room many times.
    client.on('data', () => {
      client.pause();
      setTimeout(() => client.resume(), 2);
    });
    const sending = sender.send(server, span(MiB + 1, STALLED), signal());
    let settled = false;
    void sending.then(
      () => (settled = true),
      () => (settled = true),
    );
    await delay(100);
    // The span cannot all be in the kernel's buffers for a client that has read nothing yet.
    expect(settled).toBe(false);
    client.resume();
    await within(sending, 45_000, 'a send to a slow reader');
    server.end();
    const bytes = await got.done;
    expect(bytes.length).toBe(STALLED);
    expect(bytes.equals(data.subarray(MiB + 1, MiB + 1 + STALLED))).toBe(true);
  });

  it('rejects with a SendError saying the peer is gone when the client closes mid-send, and counts a failure', async () => {
    const { server, client } = await pair({ paused: false });
    const link = linkOf(server);
    let received = 0;
    client.on('data', (b: Buffer) => {
      received += b.length;
      // Unread bytes are left in its buffer: closing now resets the connection, as a client that
      // gives up mid-download does.
      if (received >= MiB) client.destroy();
    });
    const failedBefore = sender.stats.failed;
    const err = await within(
      sender.send(server, span(0, STALLED), signal()).then(
        () => undefined,
        (e: unknown) => e,
      ),
      10_000,
      'a send to a closed peer',
    );
    expect(err).toBeInstanceOf(SendError);
    const e = err as SendError;
    expect(e.code).toBe('SEND_FAILED');
    expect(e.peerGone).toBe(true);
    expect([constants.errno.EPIPE, constants.errno.ECONNRESET]).toContain(e.errno);
    expect(e.sent).toBeGreaterThanOrEqual(MiB);
    expect(e.sent).toBeLessThan(STALLED);
    expect(sender.stats.failed).toBe(failedBefore + 1);
    // The job's duplicate of the socket is closed: only Node's own descriptor (if any) is left.
    await eventually(
      () => descriptorsTo(link) <= 1,
      () => `${descriptorsTo(link)} descriptors still point at the connection`,
    );
  });

  it('reports a file shorter than the span as an I/O error after the bytes that were there, not as the peer going away', async () => {
    const { server, client } = await pair({ paused: false });
    const got = collect(client);
    const err = await sender.send(server, span(FILE_BYTES - 1000, 5000), signal()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SendError);
    expect((err as SendError).errno).toBe(constants.errno.EIO);
    expect((err as SendError).peerGone).toBe(false);
    expect((err as SendError).sent).toBe(1000);
    server.end();
    expect((await got.done).equals(data.subarray(FILE_BYTES - 1000))).toBe(true);
  });

  it('rejects at once with the reason of a signal aborted before the send, starting nothing', async () => {
    const { server } = await pair();
    const ac = new AbortController();
    const reason = new Error('aborted before');
    ac.abort(reason);
    const before = { ...sender.stats };
    let released = false;
    await expect(
      sender.send(
        server,
        span(0, MiB, () => (released = true)),
        ac.signal,
      ),
    ).rejects.toBe(reason);
    expect(sender.stats).toEqual(before);
    // The span stays the caller's to release.
    expect(released).toBe(false);
  });

  it('rejects a send to a destroyed socket with EBADF without starting a job', async () => {
    const { server } = await pair();
    server.destroy();
    const err = await sender.send(server, span(0, MiB), signal()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SendError);
    expect((err as SendError).errno).toBe(constants.errno.EBADF);
    expect((err as SendError).sent).toBe(0);
  });

  it('cancels a blocked send on abort: rejects with the reason, and its duplicated descriptors are closed', async () => {
    const { server, client } = await pair();
    const link = linkOf(server);
    const baseline = readdirSync('/proc/self/fd').length;
    expect(descriptorsTo(link)).toBe(1);
    expect(descriptorsTo(path)).toBe(1);
    const ac = new AbortController();
    const sending = sender.send(server, span(0, STALLED), ac.signal);
    // While it runs the job holds its own socket and file.
    await eventually(
      () => descriptorsTo(link) === 2 && descriptorsTo(path) === 2,
      () => `the job's descriptors: socket ${descriptorsTo(link)}, file ${descriptorsTo(path)}`,
    );
    await delay(50);
    const failedBefore = sender.stats.failed;
    const reason = new Error('stop sending');
    ac.abort(reason);
    await expect(within(sending, 5000, 'an aborted send')).rejects.toBe(reason);
    expect(sender.stats.failed).toBe(failedBefore + 1);
    await eventually(
      () => descriptorsTo(link) === 1 && descriptorsTo(path) === 1 && readdirSync('/proc/self/fd').length <= baseline,
      () =>
        `descriptors after the abort: socket ${descriptorsTo(link)}, file ${descriptorsTo(path)}, ` +
        `${readdirSync('/proc/self/fd').length} open (was ${baseline})`,
    );
    // The connection is still Node's and still works: the client sees the bytes sent before the abort, then what Node writes.
    const got = collect(client);
    client.resume();
    server.end();
    const bytes = await got.done;
    expect(bytes.length).toBeLessThan(STALLED);
    expect(bytes.equals(data.subarray(0, bytes.length))).toBe(true);
  });

  /**
   * Starts a send that stays blocked (the client reads nothing), has Node destroy the server
   * socket under it, and fills the freed descriptor number at once with a new writable file; also
   * opens a new connection. Returns all of it for the test to end the send its own way.
   */
  async function blockedThenReused() {
    const { server, client } = await pair();
    const link = linkOf(server);
    const number = fdOf(server);
    const ac = new AbortController();
    const sending = sender.send(server, span(0, STALLED), ac.signal);
    const outcome = sending.then(
      () => 'sent' as const,
      (e: unknown) => e,
    );
    await eventually(
      () => descriptorsTo(link) === 2,
      () => 'the job never held its own socket',
    );
    await delay(50);
    // Node closes its descriptor at once; the connection lives on in the job's duplicate.
    server.destroy();
    const files: Array<{ fd: number; path: string }> = [];
    for (let i = 0; i < 256 && !files.some((f) => f.fd === number); i++) {
      const p = join(scratch.dir, `reused-${number}-${i}`);
      files.push({ fd: openSync(p, 'w+'), path: p });
    }
    expect(
      files.map((f) => f.fd),
      'a new file took the socket descriptor number',
    ).toContain(number);
    const fresh = await pair({ paused: false });
    const freshGot = [collect(fresh.server), collect(fresh.client)];
    return { client, link, ac, outcome, files, fresh, freshGot };
  }

  /** Nothing reached the descriptors opened after the socket was destroyed. */
  function expectUntouched(r: Awaited<ReturnType<typeof blockedThenReused>>): void {
    for (const f of r.files) {
      expect(fstatSync(f.fd).size, `file on descriptor ${f.fd}`).toBe(0);
      closeSync(f.fd);
      expect(readFileSync(f.path).length).toBe(0);
    }
    expect(r.freshGot.map((c) => c.received())).toEqual([0, 0]);
  }

  it('after Node destroys the socket under a blocked send, an abort ends it and a reused descriptor number gets nothing', async () => {
    const r = await blockedThenReused();
    const got = collect(r.client);
    await delay(100);
    const reason = new Error('client timed out');
    r.ac.abort(reason);
    expect(await within(r.outcome, 5000, 'the aborted send')).toBe(reason);
    // The job's duplicate was the connection's last descriptor: closing it ends the connection,
    // and what the client saw is a prefix of the span (nothing from anywhere else).
    await eventually(
      () => descriptorsTo(r.link) === 0,
      () => `${descriptorsTo(r.link)} descriptors still point at the destroyed socket`,
    );
    r.client.resume();
    const bytes = await within(got.done, 5000, 'the end of the abandoned connection');
    expect(bytes.length).toBeLessThan(STALLED);
    expect(bytes.equals(data.subarray(0, bytes.length))).toBe(true);
    await delay(50);
    expectUntouched(r);
  });

  it('after Node destroys the socket under a blocked send, the send goes on only to its own connection', async () => {
    const r = await blockedThenReused();
    const got = collect(r.client);
    // The client reads again: the job, holding the connection by its duplicate, finishes there.
    r.client.resume();
    expect(await within(r.outcome, 30_000, 'the send on the duplicated socket')).toBe('sent');
    await eventually(
      () => descriptorsTo(r.link) === 0,
      () => `${descriptorsTo(r.link)} descriptors still point at the destroyed socket`,
    );
    const bytes = await within(got.done, 5000, 'the end of the connection');
    expect(bytes.length).toBe(STALLED);
    expect(bytes.equals(data.subarray(0, STALLED))).toBe(true);
    expectUntouched(r);
  });

  it('gives a descriptor for a connected plain socket, and none for a destroyed one', async () => {
    const { server, client } = await pair();
    expect(socketFd(server)).toBe(fdOf(server));
    expect(socketFd(client)).toBe(fdOf(client));
    client.destroy();
    expect(socketFd(client)).toBeUndefined();
    expect(socketFd(undefined)).toBeUndefined();
    expect(socketFd(null)).toBeUndefined();
  });

  const noOpenssl = missingTools('openssl').length > 0;
  it.skipIf(noOpenssl)('gives no descriptor for either end of a TLS connection, and a send to one is refused without writing', async () => {
    const tlsServer = createTlsServer(await selfSignedCert(scratch.dir));
    const accepted = new Promise<TLSSocket>((resolve) => tlsServer.once('secureConnection', resolve));
    await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
    try {
      const client = tlsConnect({ port: (tlsServer.address() as AddressInfo).port, host: '127.0.0.1', rejectUnauthorized: false });
      sockets.add(client);
      await new Promise<void>((resolve, reject) => {
        client.once('secureConnect', resolve);
        client.once('error', reject);
      });
      const server = await accepted;
      sockets.add(server);
      const got = collect(client);
      expect(socketFd(client)).toBeUndefined();
      expect(socketFd(server)).toBeUndefined();
      const err = await sender.send(server, span(0, MiB), signal()).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((err as SendError).errno).toBe(constants.errno.EBADF);
      // The TLS stream is intact: what Node writes arrives decrypted and alone.
      server.end('over tls');
      expect((await got.done).toString()).toBe('over tls');
    } finally {
      await new Promise<void>((r) => tlsServer.close(() => r()));
    }
  });

  // Cancels that reach the sender thread in the same epoll batch as the cancelled job's own
  // EPOLLOUT once ended the job twice (a double free in sendfile.c). A process of its own runs the
  // race, so a crash fails this test instead of the test runner.
  it('survives aborts racing with the same sockets becoming writable, many at once', async () => {
    const script = join(scratch.dir, 'race.mjs');
    writeFileSync(script, raceScript(new URL('../../dist/src/native/sendfile.js', import.meta.url).href, path));
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b));
    child.stderr.on('data', (b: Buffer) => (output += b));
    const [code, sig] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    expect({ code, signal: sig, output }).toMatchObject({ code: 0, signal: null });
    expect(output).toContain('all settled');
  });
});

/**
 * A standalone script (run by node from dist/) for the race above: 16 sends blocked on clients
 * that read nothing, one long send to a fast reader in another process to keep the sender thread
 * busy, then for each blocked send an abort immediately followed by draining its client so its
 * socket becomes writable before the thread looks at its events again.
 */
function raceScript(senderModule: string, file: string): string {
  const spanModule = senderModule.replace(/native\/sendfile\.js$/, 'io/file-span.js');
  return `
import { loadSender } from ${JSON.stringify(senderModule)};
import { fileSpan } from ${JSON.stringify(spanModule)};
import { createServer, connect } from 'node:net';
import { openSync, readSync, fstatSync } from 'node:fs';
import { spawn } from 'node:child_process';
const sender = loadSender();
const fd = openSync(${JSON.stringify(file)}, 'r');
const size = fstatSync(fd).size;
const listener = createServer();
await new Promise((r) => listener.listen(0, '127.0.0.1', r));
const port = listener.address().port;
const conns = [];
listener.on('connection', (s) => { s.on('error', () => {}); conns.push(s); });
const nextConn = async (n) => { while (conns.length <= n) await new Promise((r) => setTimeout(r, 1)); return conns[n]; };
for (let round = 0; round < 3; round++) {
  const base = conns.length;
  const victims = [];
  for (let k = 0; k < 16; k++) {
    const c = connect(port, '127.0.0.1');
    c.on('error', () => {});
    c.pause();
    const srv = await nextConn(base + k);
    const ac = new AbortController();
    const p = sender.send(srv, fileSpan(fd, 0, 16 << 20, () => {}), ac.signal).then(() => 'sent', () => 'rejected');
    victims.push({ c, srv, ac, p });
  }
  await new Promise((r) => setTimeout(r, 200));
  const reader = spawn(process.execPath, ['-e', "require('net').connect(" + port + ", '127.0.0.1').on('data', () => {}).on('end', () => process.exit(0))"], { stdio: 'ignore' });
  const busySrv = await nextConn(base + 16);
  const busy = sender.send(busySrv, fileSpan(fd, 0, size, () => {}), new AbortController().signal).then(() => busySrv.end());
  for (const t = Date.now(); Date.now() - t < 2; );
  const buf = Buffer.alloc(256 << 10);
  for (const v of victims) {
    v.ac.abort(new Error('stop'));
    for (let i = 0, got = 0; i < 64 && got < 3 << 20; i++) {
      try { got += readSync(v.c._handle.fd, buf, 0, buf.length, null); } catch (e) { if (e.code !== 'EAGAIN') throw e; }
    }
  }
  await busy;
  await Promise.all(victims.map((v) => v.p));
  for (const v of victims) { v.c.destroy(); v.srv.destroy(); }
  await new Promise((r) => reader.on('exit', r));
}
console.log('all settled');
listener.close();
`;
}
