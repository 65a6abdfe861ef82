// Chained sends (src/native/sendfile.c `after`): span B handed over while span A is still being
// sent goes out right after A, on the sender thread, and fails with A. Real sockets on loopback,
// real files; the client holds off reading so that A is still in flight when B is handed over.

import type { FileHandle } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileSpan } from '../../src/io/file-span.js';
import { SendError, type Sender } from '../../src/native/sendfile.js';
import { senderWithFile, type SenderFile } from '../helpers/sender-file.js';

const SIZE = 24 * 1024 * 1024;
let data: Buffer;
let file: FileHandle;
let sender: Sender;
let fixture: SenderFile | undefined;

beforeAll(async () => {
  fixture = await senderWithFile(SIZE, 'isoproxy-chain-');
  ({ sender, data, file } = fixture);
});

afterAll(async () => {
  await fixture?.cleanup();
});

/** A connected pair: the server side (sent on) and the client side, paused (not reading). */
async function pair(): Promise<{ server: Server; local: Socket; remote: Socket }> {
  const server = createServer();
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const remote = connect(port, '127.0.0.1');
  remote.pause();
  const local = await accepted;
  return { server, local, remote };
}

function collect(remote: Socket, bytes: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  return new Promise((resolve, reject) => {
    remote.on('data', (d: Buffer) => {
      parts.push(d);
      got += d.length;
      if (got >= bytes) resolve(Buffer.concat(parts));
    });
    remote.on('error', reject);
    remote.resume();
  });
}

describe('chained sends', () => {
  it('send the second span right after the first, in order, whatever the socket buffer', async () => {
    const { server, local, remote } = await pair();
    const signal = new AbortController().signal;
    const a = fileSpan(file.fd, 1000, 12 * 1024 * 1024, () => {});
    const b = fileSpan(file.fd, 5, 9 * 1024 * 1024, () => {});
    const first = sender.start(local, a, signal);
    // The client is not reading: 12 MiB cannot all be in the socket yet.
    expect(first.id).toBeGreaterThan(0);
    const second = sender.start(local, b, signal, undefined, first.id);
    const got = collect(remote, a.length + b.length);
    await Promise.all([first.done, second.done]);
    const bytes = await got;
    expect(bytes.length).toBe(a.length + b.length);
    expect(bytes.subarray(0, a.length).equals(data.subarray(1000, 1000 + a.length))).toBe(true);
    expect(bytes.subarray(a.length).equals(data.subarray(5, 5 + b.length))).toBe(true);
    local.destroy();
    remote.destroy();
    server.close();
  });

  it('end the second span with the first when the first fails', async () => {
    const { server, local, remote } = await pair();
    const aborts = new AbortController();
    const a = fileSpan(file.fd, 0, 16 * 1024 * 1024, () => {});
    const b = fileSpan(file.fd, 0, 1024 * 1024, () => {});
    const first = sender.start(local, a, aborts.signal);
    const second = sender.start(local, b, new AbortController().signal, undefined, first.id);
    aborts.abort(new Error('client gone'));
    await expect(first.done).rejects.toThrow('client gone');
    const err = await second.done.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SendError);
    expect((err as SendError).peerGone).toBe(true);
    local.destroy();
    remote.destroy();
    server.close();
  });

  it('refuse a span chained to one that failed before it started', async () => {
    const { server, local, remote } = await pair();
    const failed = sender.start(
      local,
      fileSpan(file.fd, 0, 10, () => {}),
      AbortSignal.abort(new Error('gone')),
    );
    await expect(failed.done).rejects.toThrow('gone');
    const next = sender.start(
      local,
      fileSpan(file.fd, 0, 10, () => {}),
      new AbortController().signal,
      undefined,
      failed.id,
    );
    await expect(next.done).rejects.toBeInstanceOf(SendError);
    local.destroy();
    remote.destroy();
    server.close();
  });

  it('send a span on the sender thread when asked, even with nothing in flight', async () => {
    const { server, local, remote } = await pair();
    const signal = new AbortController().signal;
    const span = (): ReturnType<typeof fileSpan> => fileSpan(file.fd, 7, 64 * 1024, () => {});
    const got = collect(remote, 2 * 64 * 1024);
    // Nothing in flight and room in the socket: out from this thread before start returns.
    const here = sender.start(local, span(), signal);
    expect(here.id).toBe(0);
    expect(here.state).toBe('sent');
    const there = sender.start(local, span(), signal, undefined, 0, true);
    expect(there.id).toBeGreaterThan(0);
    await there.done;
    const bytes = await got;
    expect(bytes.equals(Buffer.concat([data.subarray(7, 7 + 64 * 1024), data.subarray(7, 7 + 64 * 1024)]))).toBe(true);
    local.destroy();
    remote.destroy();
    server.close();
  });
});
