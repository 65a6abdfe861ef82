// pipeToNode's outcome at a body's end. A client that reads its last byte and closes at once (curl,
// a BMC that is done) often does so before the serving thread hears from the sender thread that
// the last send ended: the connection is already closed when the writer settles. That transfer
// is complete, every byte handed to the kernel and read; one whose last send failed, or whose
// client left before its last span went out, is aborted. The order of those two events cannot
// be forced with the real addon's threads, so a sender that stands in for it here settles the
// last send only after the response is destroyed; test/http/body.test.ts and
// test/native/chain.test.ts send for real.

import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { openBody, pipeToNode } from '../../src/http/body.js';
import { fileSpan, type Chunk } from '../../src/io/file-span.js';
import { SendError, type Sender, type Sending } from '../../src/native/sendfile.js';
import type { ImageReadStream, NodeImage } from '../../src/serving/types.js';
import { fakeResponse } from './fake-response.js';

const MiB = 1024 * 1024;

/** An image of `blocks` spans of 2 MiB, each released into `released`. */
function imageOfSpans(blocks: number, released: number[]): NodeImage {
  return {
    node: 'n',
    size: blocks * 2 * MiB,
    etag: '"e"',
    lastModified: new Date(0),
    read: () => {
      throw new Error('not used');
    },
    spans: (): ImageReadStream<Chunk> => ({
      single: false,
      async *[Symbol.asyncIterator]() {
        for (let b = 0; b < blocks; b++) yield fileSpan(3, b * 2 * MiB, 2 * MiB, () => released.push(b));
      },
    }),
  };
}

/**
 * A sender whose sends all go to its thread; each settles when the test says, the last one with
 * `last` (ok, or an errno) after the client's close.
 */
function heldSender(): { sender: Sender; settle: (i: number, errno?: number) => void; count: () => number } {
  const pending: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  const sender: Sender = {
    threads: 1,
    stats: { sends: 0, bytes: 0, failed: 0 },
    send: () => Promise.resolve(),
    start(): Sending {
      const s: { id: number; done: Promise<void>; state: Sending['state'] } = { id: pending.length + 1, done: Promise.resolve(), state: 'sending' };
      s.done = new Promise<void>((resolve, reject) => {
        const sent = (): void => {
          s.state = 'sent';
          resolve();
        };
        const failed = (e: unknown): void => {
          s.state = 'failed';
          reject(e);
        };
        pending.push({ resolve: sent, reject: failed });
      });
      s.done.catch(() => {});
      return s;
    },
  };
  const settle = (i: number, errno?: number): void => {
    const p = pending[i]!;
    if (errno === undefined) p.resolve();
    else p.reject(new SendError(errno, 0));
  };
  return { sender, settle, count: () => pending.length };
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

async function run(lastErrno: number | undefined) {
  const released: number[] = [];
  const image = imageOfSpans(3, released);
  const abort = new AbortController();
  const body = await openBody(image, [{ kind: 'image', start: 0, end: image.size - 1 }], abort.signal, true);
  const { out, close, ended } = fakeResponse();
  const { sender, settle, count } = heldSender();
  const piped = pipeToNode(out, body, abort, { bytes: () => {} }, sender);
  // Spans are chained one ahead: the writer waits for span k once span k+1 is handed over.
  for (let i = 0; i < 2; i++) {
    while (count() <= i + 1) await tick();
    settle(i);
  }
  await tick();
  // The client has read everything (or left) and closed before the last send's end is heard.
  close();
  settle(2, lastErrno);
  const result = await piped;
  return { result, released, ended: ended() };
}

describe('pipeToNode at the end of a body', () => {
  it('reports complete when the last span went out whole and the client closed before this thread heard so', async () => {
    const { result, released, ended } = await run(undefined);
    expect(result.outcome).toBe('complete');
    expect(result.bytes).toBe(6 * MiB);
    expect(released.sort()).toEqual([0, 1, 2]);
    // Nothing is written to a destroyed response.
    expect(ended).toBe(false);
  });

  it('reports aborted when the last send failed because the client went away', async () => {
    const { result, released } = await run(constants.errno.ECONNRESET);
    expect(result.outcome).toBe('aborted');
    expect(released.sort()).toEqual([0, 1, 2]);
  });
});
