// Which thread a response's spans go out from (src/http/span-writer.ts): the first
// STREAM_ON_THREAD_BYTES may go out from the event loop, the rest of a long response from the
// sender thread. A recording sender stands in for the addon here, since what is checked is the
// writer's choice; test/native/chain.test.ts sends for real on both paths.

import { describe, expect, it } from 'vitest';
import { fileSpan } from '../../src/io/file-span.js';
import type { Sender, Sending } from '../../src/native/sendfile.js';
import { SpanWriter, STREAM_ON_THREAD_BYTES } from '../../src/http/span-writer.js';
import { fakeResponse } from './fake-response.js';

const MiB = 1024 * 1024;

interface StartCall {
  readonly length: number;
  readonly after: number | undefined;
  readonly onThread: boolean | undefined;
}

function recordingSender(): { sender: Sender; calls: StartCall[] } {
  const calls: StartCall[] = [];
  const sender: Sender = {
    threads: 1,
    stats: { sends: 0, bytes: 0, failed: 0 },
    send: () => Promise.resolve(),
    start(_socket, span, _signal, _head, after, onThread): Sending {
      calls.push({ length: span.length, after, onThread });
      return { id: 0, done: Promise.resolve(), state: 'sent' };
    },
  };
  return { sender, calls };
}

describe('SpanWriter', () => {
  it('lets a range go out from the event loop, and a long response from the sender thread past its first block', async () => {
    const { sender, calls } = recordingSender();
    const writer = new SpanWriter(fakeResponse().out, sender, new AbortController().signal);
    const sizes = [MiB, MiB, 2 * MiB, 2 * MiB, 512 * 1024];
    for (const length of sizes) expect(await writer.write(fileSpan(3, 0, length, () => {}))).toBe(true);
    expect(await writer.drain()).toBe(true);
    expect(STREAM_ON_THREAD_BYTES).toBe(2 * MiB);
    expect(calls.map((c) => c.length)).toEqual(sizes);
    // The first span has nothing to chain to and is not asked onto the thread; nor is the second
    // (1 MiB handed before it); from the third on (2 MiB handed) every span is.
    expect(calls.map((c) => c.onThread === true)).toEqual([false, false, true, true, true]);
  });

  it('keeps a short range off the sender thread', async () => {
    const { sender, calls } = recordingSender();
    const writer = new SpanWriter(fakeResponse().out, sender, new AbortController().signal);
    await writer.write(fileSpan(3, 0, 200 * 1024, () => {}));
    await writer.write(fileSpan(3, 0, 56 * 1024, () => {}));
    await writer.drain();
    expect(calls.every((c) => c.onThread !== true)).toBe(true);
  });
});
