// sendSpansAtHand: a body that is file spans already at hand (one, or two across a block boundary)
// goes out with its head from the serving thread and the response ends, with no promise when the socket takes it all; a
// promise when the sender thread must finish; nothing at all (undefined) for any other body or
// when Node has something queued on the connection. Real Node HTTP server, real sender addon,
// real files; the client is a raw socket so the test sees the bytes exactly as sent.

import type { FileHandle } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBody, sendSpansAtHand, type PipeResult } from '../../src/http/body.js';
import { openBodyNow } from '../../src/http/body-open.js';
import { LazyAbortController } from '../../src/io/abort.js';
import { fileSpan, type Chunk, type FileSpan } from '../../src/io/file-span.js';
import type { Sender } from '../../src/native/sendfile.js';
import type { ImageReadStream, NodeImage } from '../../src/serving/types.js';
import { senderWithFile, type SenderFile } from '../helpers/sender-file.js';

const SIZE = 16 * 1024 * 1024;
let data: Buffer;
let file: FileHandle;
let sender: Sender;
let fixture: SenderFile | undefined;

beforeAll(async () => {
  fixture = await senderWithFile(SIZE, 'isoproxy-body-');
  ({ sender, data, file } = fixture);
});

afterAll(async () => {
  await fixture?.cleanup();
});

/** An image whose spans() yields the given chunks (one span, marked single, or several). */
function imageOf(chunks: () => Chunk[], single: boolean): NodeImage {
  return {
    node: 'n',
    size: SIZE,
    etag: '"e"',
    lastModified: new Date(0),
    read: () => {
      throw new Error('not used');
    },
    spans: (): ImageReadStream<Chunk> => {
      const list = chunks();
      return {
        single,
        async *[Symbol.asyncIterator]() {
          yield* list;
        },
      };
    },
  };
}

/** An image whose spansNow() hands out the given spans at once (what the cache does for a cached range). */
function imageNowOf(spans: () => FileSpan[]): NodeImage {
  return {
    ...imageOf(() => [], false),
    spansNow: () => ({ spans: spans(), stats: { cacheHits: 2, cacheMisses: 0, upstreamBytes: 0 } }),
  };
}

interface Served {
  readonly result: PipeResult | Promise<PipeResult> | undefined;
  readonly released: () => number;
}

/** One server whose handler answers each request with `answer` and records what sendSpansAtHand said. */
async function serverWith(
  answer: (req: IncomingMessage, res: ServerResponse) => Promise<Served>,
): Promise<{ server: Server; port: number; seen: Served[] }> {
  const seen: Served[] = [];
  const server = createServer((req, res) => {
    void answer(req, res).then((s) => seen.push(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, seen };
}

/**
 * Sends raw request text and collects the response: its head, then the body its Content-Length
 * names (or what came before the server closed). With `holdMs`, reading starts that much later.
 */
async function raw(port: number, text: string, holdMs = 0): Promise<{ head: string; body: Buffer }> {
  const socket = connect(port, '127.0.0.1');
  const parts: Buffer[] = [];
  if (holdMs > 0) socket.pause();
  const split = (all: Buffer) => {
    const at = all.indexOf('\r\n\r\n');
    if (at < 0) return undefined;
    const head = all.subarray(0, at).toString('latin1');
    const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
    return { head, body: all.subarray(at + 4), length };
  };
  return new Promise((resolve, reject) => {
    const done = (): void => {
      const all = split(Buffer.concat(parts));
      socket.destroy();
      resolve({ head: all?.head ?? '', body: all?.body ?? Buffer.alloc(0) });
    };
    let have = 0;
    let want: number | undefined;
    socket.on('data', (b: Buffer) => {
      parts.push(b);
      have += b.length;
      if (want === undefined) {
        const all = split(Buffer.concat(parts));
        if (all) want = have - all.body.length + all.length;
      }
      if (want !== undefined && have >= want) done();
    });
    socket.on('error', reject);
    socket.on('close', done);
    socket.write(text);
    if (holdMs > 0) setTimeout(() => socket.resume(), holdMs);
  });
}

function answerWith(offset: number, length: number, single: boolean) {
  return async (_req: IncomingMessage, res: ServerResponse): Promise<Served> => {
    let released = 0;
    const span = () => [fileSpan(file.fd, offset, length, () => released++)];
    const abort = new AbortController();
    const body = await openBody(imageOf(span, single), [{ kind: 'image', start: 0, end: length - 1 }], abort.signal, true);
    res.writeHead(200, { 'Content-Length': String(length) });
    const sink = { bytes: () => {} };
    return { result: sendSpansAtHand(res, body, abort, sink, sender), released: () => released };
  };
}

describe('sendSpansAtHand', () => {
  it('sends a span the socket takes whole with its head, at once, and ends the response', async () => {
    const length = 256 * 1024;
    const { server, port, seen } = await serverWith(answerWith(1000, length, true));
    try {
      const got = await raw(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(got.head).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*Content-Length: 262144(\r\n|$)/);
      const r = seen[0]!.result;
      expect(r).not.toBeInstanceOf(Promise);
      expect(r).toMatchObject({ bytes: length, outcome: 'complete' });
      expect(seen[0]!.released()).toBe(1);
      expect(Buffer.compare(got.body, data.subarray(1000, 1000 + length))).toBe(0);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('hands the rest to the sender thread when the socket is full, and ends the response when it is sent', async () => {
    const length = 12 * 1024 * 1024;
    const { server, port, seen } = await serverWith(answerWith(0, length, true));
    try {
      // The client reads nothing for a while: the socket fills and the send goes on elsewhere.
      const got = await raw(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 200);
      const r = seen[0]!.result;
      expect(r).toBeInstanceOf(Promise);
      expect(await r).toMatchObject({ bytes: length, outcome: 'complete' });
      expect(seen[0]!.released()).toBe(1);
      expect(Buffer.compare(got.body, data.subarray(0, length))).toBe(0);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  /** A range of `length` bytes at `offset` in the file, as two spans split `split` bytes in (two blocks' parts). */
  function answerWithTwo(offset: number, length: number, split: number) {
    return async (_req: IncomingMessage, res: ServerResponse): Promise<Served> => {
      let released = 0;
      const spans = () => [fileSpan(file.fd, offset, split, () => released++), fileSpan(file.fd, offset + split, length - split, () => released++)];
      const abort = new AbortController();
      const body = openBodyNow(imageNowOf(spans), [{ kind: 'image', start: 0, end: length - 1 }], abort.signal)!;
      res.writeHead(206, { 'Content-Length': String(length) });
      const seen: [number, number][] = [];
      const result = sendSpansAtHand(res, body, abort, { bytes: (at, n) => void seen.push([at, n]) }, sender);
      expect(seen).toEqual([
        [0, split],
        [split, length - split],
      ]);
      return { result, released: () => released };
    };
  }

  it('sends two spans at hand (a range across a block boundary) one after the other with the head, and ends the response', async () => {
    const length = 256 * 1024;
    const { server, port, seen } = await serverWith(answerWithTwo(3 * 1024 * 1024 - 4096, length, 4096));
    try {
      const got = await raw(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(got.head).toMatch(/^HTTP\/1\.1 206 Partial Content\r\n[\s\S]*Content-Length: 262144(\r\n|$)/);
      const r = await seen[0]!.result;
      expect(r).toMatchObject({ bytes: length, outcome: 'complete', stats: { cacheHits: 2 } });
      expect(seen[0]!.released()).toBe(2);
      expect(Buffer.compare(got.body, data.subarray(3 * 1024 * 1024 - 4096, 3 * 1024 * 1024 - 4096 + length))).toBe(0);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('chains the second span after the first on the sender thread when the socket is full, in order', async () => {
    const length = 12 * 1024 * 1024;
    const split = 7 * 1024 * 1024 + 123;
    const { server, port, seen } = await serverWith(answerWithTwo(1000, length, split));
    try {
      const got = await raw(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 200);
      const r = seen[0]!.result;
      expect(r).toBeInstanceOf(Promise);
      expect(await r).toMatchObject({ bytes: length, outcome: 'complete' });
      expect(seen[0]!.released()).toBe(2);
      expect(Buffer.compare(got.body, data.subarray(1000, 1000 + length))).toBe(0);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('reports a client that goes away in the middle as aborted and releases both spans', async () => {
    const length = 12 * 1024 * 1024;
    const { server, port, seen } = await serverWith(answerWithTwo(0, length, 6 * 1024 * 1024));
    try {
      const socket = connect(port, '127.0.0.1');
      socket.pause();
      socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      while (seen.length === 0) await new Promise((r) => setTimeout(r, 10));
      socket.destroy();
      expect(await seen[0]!.result).toMatchObject({ bytes: 0, outcome: 'aborted' });
      expect(seen[0]!.released()).toBe(2);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('cancels a send left to the sender thread when a lazy abort fires, its signal made only then', async () => {
    const length = 12 * 1024 * 1024;
    let abort: LazyAbortController | undefined;
    const { server, port, seen } = await serverWith(async (_req, res) => {
      let released = 0;
      abort = new LazyAbortController();
      const spans = () => [fileSpan(file.fd, 0, length, () => released++)];
      const body = openBodyNow(imageNowOf(spans), [{ kind: 'image', start: 0, end: length - 1 }], abort)!;
      res.writeHead(200, { 'Content-Length': String(length) });
      return { result: sendSpansAtHand(res, body, abort, { bytes: () => {} }, sender), released: () => released };
    });
    const socket = connect(port, '127.0.0.1');
    try {
      // A client that reads nothing: the span cannot go out at once and waits on the sender thread.
      socket.pause();
      socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      while (seen.length === 0) await new Promise((r) => setTimeout(r, 10));
      expect(seen[0]!.result).toBeInstanceOf(Promise);
      abort!.abort(new Error('client went away'));
      expect(await seen[0]!.result).toMatchObject({ outcome: 'aborted' });
      expect(seen[0]!.released()).toBe(1);
    } finally {
      socket.destroy();
      server.closeAllConnections();
      server.close();
    }
  });

  it('takes nothing that is not spans at hand: the body is left untouched for the streaming writer', async () => {
    const { server, port, seen } = await serverWith(async (req, res) => {
      const abort = new AbortController();
      const length = 1000;
      let released = 0;
      const spans = () => [fileSpan(file.fd, 0, length, () => released++)];
      // The same span from a reader that does not say it yields one chunk only.
      const body = await openBody(imageOf(spans, false), [{ kind: 'image', start: 0, end: length - 1 }], abort.signal, true);
      res.writeHead(200, { 'Content-Length': String(length) });
      const result = sendSpansAtHand(res, body, abort, { bytes: () => {} }, sender);
      await body.cancel();
      res.destroy();
      void req;
      return { result, released: () => released };
    });
    try {
      await raw(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await new Promise((r) => setTimeout(r, 50));
      expect(seen[0]!.result).toBeUndefined();
      expect(seen[0]!.released()).toBe(1); // released by the cancel, not sent
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
