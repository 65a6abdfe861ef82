import { describe, expect, it } from 'vitest';
import { servedSpan, trackerObserver, WaveTracker, type ObservedTransfer } from '../../src/status/index.js';

const MiB = 1024 * 1024;

function transfer(name: string, over: Partial<ObservedTransfer> = {}): ObservedTransfer {
  return { ref: { source: 'ironic', name }, method: 'GET', status: 206, body: true, served: '0-1048575', expectedBytes: MiB, ...over };
}

describe('trackerObserver', () => {
  it.each([
    ['a HEAD', { body: false, served: 'full', expectedBytes: 0 }, { start: 0, end: 0 }],
    ['a full body', { served: 'full', expectedBytes: 4096 }, { start: 0, end: 4096 }],
    ['one range (inclusive end)', { served: '512-1023' }, { start: 512, end: 1024 }],
    ['a multipart body', { served: '0-1,5-9' }, { start: 0, end: 10 }],
  ] as const)('reads the served span of %s', (_t, over, want) => {
    expect(servedSpan({ ...transfer('n'), ...over })).toEqual(want);
  });

  it('feeds the tracker the way the serving core reports a transfer: start, chunks, end', () => {
    const tracker = new WaveTracker();
    const o = trackerObserver(tracker, () => ({ imageSize: 8 * MiB, base: 'http://mirror/b.iso', etag: '"e1"' }));
    const t = transfer('uuid-1');
    o.start(t);
    for (let off = 0; off < MiB; off += 65536) o.bytes(t, off, 65536);
    o.end(t, { outcome: 'complete' });
    const row = tracker.snapshot().nodes.items[0]!;
    expect(row).toMatchObject({
      name: 'uuid-1',
      source: 'ironic',
      base: 'http://mirror/b.iso',
      etag: '"e1"',
      distinctBytes: MiB,
      imageProgress: 1 / 8,
      lastRange: { method: 'GET', start: 0, end: MiB },
    });
    expect(row.state).toBe('reading');
  });

  it('shows a failed transfer as an error with its code, and a client that went away as nothing', () => {
    const tracker = new WaveTracker();
    const o = trackerObserver(tracker);
    const a = transfer('a');
    o.start(a);
    o.end(a, { outcome: 'aborted', error: new Error('client gone') });
    expect(tracker.stateOf('a')).toBe('mounting');
    const b = transfer('b');
    o.start(b);
    o.end(b, { outcome: 'failed', error: Object.assign(new Error('503'), { code: 'UPSTREAM_STATUS' }) });
    expect(tracker.snapshot({ filter: 'b' }).nodes.items.find((n) => n.name === 'b')!.error).toMatchObject({ status: 206, code: 'UPSTREAM_STATUS' });
  });

  it('shows a declared node whose request failed before any transfer began as an error', () => {
    const tracker = new WaveTracker();
    tracker.declare({ name: 'n1' });
    tracker.transferEnd({ node: 'n1', status: 502, code: 'UPSTREAM_NO_VALIDATOR' });
    expect(tracker.stateOf('n1')).toBe('error');
  });
});
