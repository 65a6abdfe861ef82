// The primary's listener and the in-process channel of its own serving part: connections handed
// in turn to the parts that are ready; handed to a worker process and kept until it took them,
// or served by the fallback when the send fails or the worker dies first; and a real server
// (startServer over the fake resolver) serving connections accepted by the listener (paused, so
// no byte is read before they are handed), with Node's HTTP objects and without.

import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Channel } from '../../src/cluster/ipc.js';
import { ClusterListener, handOverTo, type SendWithHandle, WorkerHandover, watchHandovers } from '../../src/cluster/listener.js';
import { localPorts } from '../../src/cluster/local-port.js';
import { UpstreamError } from '../../src/errors.js';
import { eventually } from '../service/harness.js';
import { pseudoRandomBytes } from '../http/fake-image.js';
import { startTestServer, type TestServer } from '../http/server.js';

const SIZE = 3 * 1024 * 1024 + 777;
const IMAGE = pseudoRandomBytes(SIZE);
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Opens a connection and waits until it is connected. */
function dial(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), hostname, () => resolve(s));
    s.once('error', reject);
  });
}

describe('ClusterListener', () => {
  let listener: ClusterListener | undefined;
  afterEach(() => listener?.close());

  it('hands connections to the ready parts in turn, and only to those still there', async () => {
    listener = new ClusterListener();
    const url = await listener.listen(0, '127.0.0.1');
    const got: string[] = [];
    const taker = (name: string) => (s: Socket) => {
      got.push(name);
      s.destroy();
    };
    listener.add(0, taker('own'));
    listener.add(1, taker('w1'));
    listener.add(2, taker('w2'));
    for (let i = 0; i < 6; i++) await dial(url);
    await eventually(() => got.length === 6, 'six connections');
    expect([...got].sort()).toEqual(['own', 'own', 'w1', 'w1', 'w2', 'w2']);
    listener.remove(1);
    got.length = 0;
    for (let i = 0; i < 4; i++) await dial(url);
    await eventually(() => got.length === 4, 'four connections');
    expect([...got].sort()).toEqual(['own', 'own', 'w2', 'w2']);
  });

  it('closes a connection no part can take, and refuses new ones once closed', async () => {
    listener = new ClusterListener();
    const url = await listener.listen(0, '127.0.0.1');
    const s = await dial(url);
    await new Promise((r) => s.once('close', r));
    listener.close();
    await expect(dial(url)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

/** A socket stand-in: the handover only reads `destroyed` and calls `destroy`. */
function fakeSocket(): Socket & { destroyed: boolean } {
  const s = {
    destroyed: false,
    destroy() {
      s.destroyed = true;
      return s;
    },
  };
  return s as unknown as Socket & { destroyed: boolean };
}

describe('WorkerHandover', () => {
  it('gives a socket to the fallback when its send fails or throws, and not when it succeeds', async () => {
    const fellBack: Socket[] = [];
    const [a, b, c] = [fakeSocket(), fakeSocket(), fakeSocket()];
    const failing: SendWithHandle = (_m, _h, _o, cb) => {
      setImmediate(() => cb(new Error('gone')));
      return false;
    };
    const working: SendWithHandle = (_m, _h, _o, cb) => {
      setImmediate(() => cb(null));
      return true;
    };
    new WorkerHandover(failing, (s) => fellBack.push(s)).take(a);
    new WorkerHandover(
      () => {
        throw new Error('ERR_IPC_CHANNEL_CLOSED');
      },
      (s) => fellBack.push(s),
    ).take(b);
    new WorkerHandover(working, (s) => fellBack.push(s)).take(c);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    // The throw falls back at once, the failed send on its callback; the sent one never.
    expect(fellBack).toHaveLength(2);
    expect(fellBack[0]).toBe(b);
    expect(fellBack[1]).toBe(a);
  });

  it('keeps each socket until the worker took it, then closes its copy; what the worker never took goes to the fallback once it is gone', () => {
    const sent: { message: unknown; options: unknown }[] = [];
    const fellBack: Socket[] = [];
    const send: SendWithHandle = (message, _h, options) => {
      sent.push({ message, options });
      return true;
    };
    let now = 1000;
    const handover = new WorkerHandover(
      send,
      (s) => fellBack.push(s),
      () => now,
    );
    const sockets = [fakeSocket(), fakeSocket(), fakeSocket(), fakeSocket(), fakeSocket()];
    expect(handover.oldestWaitMs()).toBe(0);
    for (const s of sockets.slice(0, 4)) {
      handover.take(s);
      now += 10;
    }
    expect(handover.oldestWaitMs()).toBe(40);
    expect(sent.map((x) => x.message)).toEqual([1, 2, 3, 4].map((id) => ({ isoproxy: 'connection', id })));
    expect(sent.every((x) => (x.options as { keepOpen: boolean }).keepOpen)).toBe(true);
    expect(handover.pending).toBe(4);
    handover.took(1, true);
    handover.took(2, false); // a message that came without its socket
    handover.took(1, true); // twice, or unknown: nothing
    handover.took(99, true);
    expect(handover.oldestWaitMs()).toBe(20); // the third, sent at 1020
    expect(sockets.map((s) => s.destroyed)).toEqual([true, false, false, false, false]);
    expect(fellBack).toHaveLength(1);
    expect(fellBack[0]).toBe(sockets[1]);
    handover.take(sockets[4]!);
    handover.refused(); // Node in the worker refused the oldest in flight: the third
    expect(fellBack).toHaveLength(2);
    expect(fellBack[1]).toBe(sockets[2]);
    sockets[3]!.destroy(); // the client went meanwhile
    handover.gone();
    handover.gone();
    expect(fellBack).toHaveLength(3);
    expect(fellBack[2]).toBe(sockets[4]);
    expect(handover.pending).toBe(0);
    expect(handover.oldestWaitMs()).toBe(0);
  });

  // A real child process over Node's IPC, as a cluster worker gets its connections: one that
  // takes them, and one that dies on the first, with more queued behind it in Node's handle queue.
  // A real child process over Node's IPC, as a cluster worker gets its connections: one that
  // takes them (serving once its answer is written, as src/cluster/worker.ts does); one that dies
  // on the first, with more queued behind it in Node's handle queue; and one at its open-file
  // limit, whose Node refuses the descriptor (NODE_HANDLE_NACK) and drops the message.
  it.each(['serves', 'dies', 'refuses', 'hangs'] as const)('a worker that %s: every client is answered, none left hanging', async (mode) => {
    const dir = mkdtempSync(join(tmpdir(), 'isoproxy-handover-'));
    const script = join(dir, 'worker.cjs');
    writeFileSync(
      script,
      `const fs = require('node:fs');
      process.on('message', (m, socket) => {
        if (m === 'fill') {
          try { for (;;) fs.openSync('/dev/null', 'r'); } catch { process.send('full'); }
          return;
        }
        if (!m || m.isoproxy !== 'connection') return;
        if (process.env.MODE === 'dies') process.exit(1);
        if (process.env.MODE === 'hangs') for (;;);
        process.send({ isoproxy: 'took', id: m.id, ok: Boolean(socket) }, undefined, undefined, () =>
          socket.end('HTTP/1.1 200 OK\\r\\ncontent-length: 6\\r\\nconnection: close\\r\\n\\r\\nworker'),
        );
      });
      process.send('up');`,
    );
    // prlimit (util-linux) starts the worker with a low descriptor limit it can fill.
    const child = fork(script, [], {
      env: { ...process.env, MODE: mode },
      serialization: 'advanced',
      stdio: 'ignore',
      ...(mode === 'refuses' ? { execPath: 'prlimit', execArgv: ['--nofile=64:64', process.execPath] } : {}),
    });
    await new Promise((r) => child.once('message', r));
    if (mode === 'refuses') {
      child.send('fill');
      await new Promise((r) => child.once('message', r));
    }
    const handover = handOverTo(child, (socket) => {
      socket.resume();
      socket.end('HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: close\r\n\r\nprimary');
    });
    const listener = new ClusterListener();
    const url = await listener.listen(0, '127.0.0.1');
    listener.add(1, handover.take);
    // As the primary does with a hung worker: out of the rotation, killed.
    const hung: number[] = [];
    const stopWatching = watchHandovers(
      new Map([[1, handover]]),
      (id) => {
        hung.push(id);
        listener.remove(id);
        child.kill('SIGKILL');
      },
      500,
    );
    try {
      const bodies = await Promise.all(Array.from({ length: 6 }, () => fetch(url, { signal: AbortSignal.timeout(10_000) }).then((r) => r.text())));
      expect(new Set(bodies)).toEqual(new Set([mode === 'serves' ? 'worker' : 'primary']));
      await eventually(() => handover.pending === 0, 'every socket taken or given back');
      expect(child.exitCode === null && child.signalCode === null).toBe(mode === 'serves' || mode === 'refuses');
      expect(hung).toEqual(mode === 'hangs' ? [1] : []);
    } finally {
      stopWatching();
      listener.close();
      child.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('localPorts', () => {
  it('delivers structured clones, in order, on a later turn; a closed end delivers nothing', async () => {
    const [a, b] = localPorts();
    const seen: unknown[] = [];
    b.on('message', (m) => seen.push(m));
    const sent = { n: 1, bytes: new Uint8Array([1, 2, 3]), map: new Map([['k', 1]]) };
    a.send(sent);
    a.send({ n: 2 });
    expect(seen).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual([sent, { n: 2 }]);
    expect(seen[0]).not.toBe(sent);
    (seen[0] as typeof sent).bytes[0] = 9;
    expect(sent.bytes[0]).toBe(1);
    b.close();
    const errors: unknown[] = [];
    expect(a.send({ n: 3 }, undefined, {}, (e: Error | null) => errors.push(e))).toBe(false);
    await new Promise((r) => setImmediate(r));
    expect(seen).toHaveLength(2);
    expect(errors).toHaveLength(1);
  });

  it('carries a channel: answers, and errors rebuilt as the classes the HTTP layer maps', async () => {
    const [a, b] = localPorts();
    new Channel(b, async (req) => {
      if (req.op === 'open') throw new UpstreamError('UPSTREAM_UNREACHABLE', req.url, 'connection refused');
      return { op: req.op };
    });
    const asking = new Channel(a, async () => undefined);
    expect(await asking.request({ op: 'metrics' })).toEqual({ op: 'metrics' });
    await expect(asking.request({ op: 'open', url: 'http://x/a.iso' })).rejects.toBeInstanceOf(UpstreamError);
  });
});

describe.each([
  ['with the direct server', true],
  ["with Node's HTTP server only", false],
])('a server whose connections the listener hands over, %s', (_label, directHttp) => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('serves whole images, ranges and the admin API on them, keep-alive included', async () => {
    server = await startTestServer({ handed: true, directHttp });
    server.resolver.add('node-1', { data: IMAGE });
    const whole = await fetch(`${server.url}/iso/node-1.iso`);
    expect(whole.status).toBe(200);
    expect(sha256(new Uint8Array(await whole.arrayBuffer()))).toBe(sha256(IMAGE));
    for (let i = 0; i < 3; i++) {
      const part = await fetch(`${server.url}/iso/node-1.iso`, { headers: { range: `bytes=${i * 1000}-${i * 1000 + 4095}` } });
      expect(part.status).toBe(206);
      expect(Buffer.from(await part.arrayBuffer()).equals(Buffer.from(IMAGE.subarray(i * 1000, i * 1000 + 4096)))).toBe(true);
    }
    expect((await fetch(`${server.url}/healthz`)).status).toBeLessThan(500);
    expect((await fetch(`${server.url}/iso/nope.iso`)).status).toBe(404);
  });

  it('closes handed connections past --max-connections, and every one once closing', async () => {
    server = await startTestServer({ handed: true, directHttp, maxConnections: 2 });
    server.resolver.add('node-1', { data: IMAGE });
    const held = [await dial(server.url), await dial(server.url)];
    const third = await dial(server.url);
    await new Promise((r) => third.once('close', r));
    const res = await fetch(`${server.url}/iso/node-1.iso`, { headers: { range: 'bytes=0-9' } }).catch((e: unknown) => e);
    // The two held ones fill the limit: a new connection is closed as well.
    expect(res).toBeInstanceOf(Error);
    for (const s of held) s.destroy();
    await eventually(
      async () => (await fetch(`${server!.url}/iso/node-1.iso`, { headers: { range: 'bytes=0-9' } }).catch(() => undefined))?.status === 206,
      'a free slot',
    );
  });
  it('closes an idle keep-alive connection when it closes, so the process can exit', async () => {
    server = await startTestServer({ handed: true, directHttp });
    server.resolver.add('node-1', { data: IMAGE });
    const conn = await dial(server.url);
    const closed = new Promise((r) => conn.once('close', r));
    conn.on('data', () => {});
    conn.write('GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n');
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await server.close();
    server = undefined;
    await closed;
    expect(Date.now() - t0).toBeLessThan(1500);
  });

  it('times out a client that drips its request head (slowloris)', async () => {
    server = await startTestServer({ handed: true, directHttp, headersTimeout: '1s' });
    const conn = await dial(server.url);
    const closed = new Promise((r) => conn.once('close', r));
    conn.on('data', () => {});
    conn.write('GET /healthz HTTP/1.1\r\n');
    let line = 0;
    const drip = setInterval(() => conn.writable && conn.write(`X-Drip-${++line}: 1\r\n`), 100);
    try {
      const t0 = Date.now();
      await closed;
      expect(Date.now() - t0).toBeLessThan(4000);
    } finally {
      clearInterval(drip);
    }
  });
});
