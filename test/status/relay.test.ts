// The cluster's status relay: what one process's observer saw, applied to another process's
// tracker, gives the same node rows; a dead process's open transfers end; batches stay small.

import { describe, expect, it } from 'vitest';
import { trackerObserver } from '../../src/status/observer.js';
import { MAX_BATCH, RelayedTransfers, StatusOutbox, type RelayEvent } from '../../src/status/relay.js';
import { unpackBatch } from '../../src/status/relay-wire.js';
import { WaveTracker } from '../../src/status/wave-tracker.js';

const MiB = 1024 * 1024;
const SIZE = 64 * MiB;

/** Two processes' trackers on one clock; A's outbox feeds B's relayed transfers by hand. */
function pair() {
  let t = Date.parse('2026-01-01T00:00:00Z');
  const now = (): number => t;
  const a = new WaveTracker({ now });
  const b = new WaveTracker({ now });
  const batches: RelayEvent[][] = [];
  const sent = { events: 0, starts: [] as Array<{ etag?: string; base?: string }> };
  const outbox = new StatusOutbox(
    a,
    (batch) => {
      // What crosses IPC: a structured clone of the packed batch, unpacked by the primary.
      const events = unpackBatch(structuredClone(batch));
      sent.events += events.length;
      for (const e of events) if (e[0] === 0) sent.starts.push(e[1]);
      batches.push(events);
    },
    now,
    60_000,
  );
  const relayed = new RelayedTransfers(b, now);
  const observer = trackerObserver(outbox, () => ({ imageSize: SIZE, base: 'http://up/base.iso', etag: '"e1"' }));
  const deliver = (): void => {
    outbox.flush();
    for (const batch of batches.splice(0)) relayed.apply(7, batch);
  };
  return { a, b, observer, outbox, relayed, batches, sent, deliver, tick: (ms: number) => (t += ms) };
}

/** An outbox in front of `tracker` that keeps the batches it sends (flushed by hand). */
function collecting(tracker: WaveTracker): { sent: RelayEvent[][]; outbox: StatusOutbox } {
  const sent: RelayEvent[][] = [];
  return {
    sent,
    outbox: new StatusOutbox(
      tracker,
      (batch) => sent.push(unpackBatch(batch)),
      () => 0,
      60_000,
    ),
  };
}

const transfer = (node: string, start: number, end: number, status = 206) => ({
  ref: { source: 'store', name: node },
  method: 'GET',
  status,
  body: true,
  served: `${start}-${end - 1}`,
  expectedBytes: end - start,
});

/** A BMC reading `count` sequential 256 KiB ranges, each in 64 KiB chunks. */
function readRanges(p: ReturnType<typeof pair>, node: string, count: number): void {
  for (let i = 0; i < count; i++) {
    const t = transfer(node, i * 256 * 1024, (i + 1) * 256 * 1024);
    p.observer.start(t);
    for (let c = 0; c < 4; c++) p.observer.bytes(t, i * 256 * 1024 + c * 64 * 1024, 64 * 1024);
    p.observer.end(t, { outcome: 'complete' });
  }
}

const rows = (tracker: WaveTracker) =>
  tracker.snapshot({ limit: 500 }).nodes.items.map((n) => ({
    name: n.name,
    state: n.state,
    transfers: n.transfers,
    openTransfers: n.openTransfers,
    servedBytes: n.servedBytes,
    distinctBytes: n.distinctBytes,
    imageSize: n.imageSize,
    etag: n.etag,
    base: n.base,
    lastStatus: n.lastStatus,
    error: n.error,
  }));

describe('status relay', () => {
  it("gives another process's tracker the same node rows, from batches a fraction of the calls", () => {
    const p = pair();
    readRanges(p, 'n1', 40);
    readRanges(p, 'n2', 8);
    const failed = transfer('n3', 0, MiB, 502);
    p.observer.start(failed);
    p.observer.end(failed, { outcome: 'failed', error: Object.assign(new Error('down'), { code: 'UPSTREAM_UNREACHABLE' }) });
    p.deliver();
    expect(rows(p.b)).toEqual(rows(p.a));
    expect(rows(p.b).find((r) => r.name === 'n1')).toMatchObject({ transfers: 40, servedBytes: 40 * 256 * 1024, imageSize: SIZE, etag: '"e1"' });
    expect(rows(p.b).find((r) => r.name === 'n3')?.error).toMatchObject({ status: 502, code: 'UPSTREAM_UNREACHABLE' });
    // 49 transfers, 192 chunk calls: one start, one run of bytes and one end each; the base and
    // ETag went with each node's first start only.
    expect(p.sent.events).toBe(48 * 3 + 2);
    expect(p.sent.starts.filter((s) => s.etag !== undefined).length).toBe(3);
  });

  it('coalesces sequential bytes and sends a base and ETag only when they change', () => {
    const p = pair();
    const { sent, outbox } = collecting(p.a);
    const observer = trackerObserver(outbox, () => ({ imageSize: SIZE, base: 'http://up/base.iso', etag: '"e1"' }));
    for (let i = 0; i < 3; i++) {
      const t = transfer('n1', i * MiB, (i + 1) * MiB);
      observer.start(t);
      for (let c = 0; c < 16; c++) observer.bytes(t, i * MiB + c * 64 * 1024, 64 * 1024);
      observer.end(t, { outcome: 'complete' });
    }
    outbox.flush();
    const events = sent.flat();
    expect(events.map((e) => e[0])).toEqual([0, 1, 2, 0, 1, 2, 0, 1, 2]);
    expect(events.filter((e) => e[0] === 1).map((e) => e.slice(2))).toEqual([
      [0, MiB],
      [MiB, MiB],
      [2 * MiB, MiB],
    ]);
    const starts = events.filter((e): e is Extract<RelayEvent, [0, ...unknown[]]> => e[0] === 0);
    expect(starts.map((s) => s[1].etag)).toEqual(['"e1"', undefined, undefined]);
    expect(starts.map((s) => s[2])).toEqual([206, 206, 206]);
  });

  it('sends a full batch at once, and nothing when there is nothing to send', () => {
    const p = pair();
    const { sent, outbox } = collecting(p.a);
    outbox.flush();
    expect(sent).toEqual([]);
    for (let i = 0; i < MAX_BATCH; i++) outbox.transferEnd({ node: `n${i}`, status: 206 });
    expect(sent.map((b) => b.length)).toEqual([MAX_BATCH]);
    outbox.close();
  });

  it('ends the open transfers of a process that is gone, as aborted, not as errors', () => {
    const p = pair();
    const t1 = transfer('n1', 0, MiB);
    const t2 = transfer('n2', 0, MiB);
    p.observer.start(t1);
    p.observer.bytes(t1, 0, 512 * 1024);
    p.observer.start(t2);
    p.observer.start(t2);
    p.observer.end(t2, { outcome: 'complete' });
    p.deliver();
    expect(p.relayed.openCount()).toBe(2);
    expect(p.b.snapshot().totals.openTransfers).toBe(2);
    p.relayed.originGone(7);
    expect(p.relayed.openCount()).toBe(0);
    const after = p.b.snapshot();
    expect(after.totals.openTransfers).toBe(0);
    expect(after.nodes.items.every((n) => n.error === null)).toBe(true);
    // A batch of the gone process arriving late is dropped; another process's still applies.
    p.relayed.apply(7, [[0, { node: 'n1', source: 'store', method: 'GET', start: 0, end: 1 }, 206]]);
    expect(p.b.snapshot().totals.openTransfers).toBe(0);
    p.relayed.apply(8, [[0, { node: 'n1', source: 'store', method: 'GET', start: 0, end: 1 }, 206]]);
    expect(p.b.snapshot().totals.openTransfers).toBe(1);
  });

  it('skips what is not an event', () => {
    const p = pair();
    const junk = [null, 5, [0, null, 1], [1, 'n1', 'x', 3], [2, {}], [9, 'x']] as unknown as RelayEvent[];
    p.relayed.apply(1, junk);
    expect(p.b.snapshot().totals.nodes).toBe(0);
  });
});
