// The serving core without HTTP: specs kept per source until the source says they changed,
// nothing keyed by a spec object's identity, the caller's signal honoured while shared work goes
// on, expiry in one place, and the transfer hub's bookkeeping.

import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../../src/errors.js';
import { NodeExpiredError } from '../../src/registry/errors.js';
import { MemoryNodeStore, type NodeSpec } from '../../src/registry/store.js';
import { abortable } from '../../src/io/abort.js';
import type { NodeSource } from '../../src/serving/node-source.js';
import { createServing } from '../../src/serving/serving.js';
import { createTransferHub } from '../../src/serving/transfers.js';
import type { ImageResolver, NodeImage, NodeRef } from '../../src/serving/types.js';

const POLICY = { checkUpstreamAllowed: () => {}, validateEdits: () => {} };
const T = '2026-01-01T00:00:00.000Z';
const spec = (name: string, extra: Partial<NodeSpec> = {}): NodeSpec => ({
  name,
  bootIso: 'http://u/a.iso',
  edits: {},
  createdAt: T,
  updatedAt: T,
  ...extra,
});

/** Images whose ETag is a function of the spec's content: what a content-keyed resolver gives. */
class ContentImages implements ImageResolver {
  readonly forgotten: string[] = [];
  readonly seen: NodeSpec[] = [];
  async image(ref: NodeRef, s: NodeSpec): Promise<NodeImage> {
    this.seen.push(s);
    const etag = `"${s.bootIso}|${JSON.stringify(s.edits)}"`;
    return { node: ref.name, size: 0, etag, lastModified: new Date(0), read: () => (async function* () {})() };
  }
  forget(ref: NodeRef): void {
    this.forgotten.push(ref.name);
  }
}

describe('the serving core', () => {
  it('keeps a spec from a store that announces changes, and sees a change at once', async () => {
    const store = new MemoryNodeStore();
    let gets = 0;
    const get = store.get.bind(store);
    store.get = async (name) => {
      gets++;
      return get(name);
    };
    const images = new ContentImages();
    const serving = createServing({ store, images, policy: POLICY });
    await store.put(spec('a', { edits: { append: ['x=1'] } }));
    const first = await serving.image({ source: 'store', name: 'a' });
    await serving.image({ source: 'store', name: 'a' });
    expect(gets).toBe(1);
    await store.put(spec('a', { edits: { append: ['x=2'] } }));
    expect(images.forgotten).toContain('a');
    const second = await serving.image({ source: 'store', name: 'a' });
    expect(second.etag).not.toBe(first.etag);
    expect(gets).toBe(2);
  });

  it('asks a source without change notices every time, and gives equal content the same image', async () => {
    let lookups = 0;
    // A new object per lookup, as a shared store or Ironic gives.
    const fresh: NodeSource = {
      kind: 'fresh',
      lookup: async (name) => {
        lookups++;
        return spec(name, { edits: { append: ['same'] } });
      },
    };
    const images = new ContentImages();
    const serving = createServing({ store: new MemoryNodeStore(), images, policy: POLICY, sources: new Map([['fresh', fresh]]) });
    const a = await serving.image({ source: 'fresh', name: 'n' });
    const b = await serving.image({ source: 'fresh', name: 'n' });
    expect(lookups).toBe(2);
    expect(images.seen[0]).not.toBe(images.seen[1]);
    expect(b.etag).toBe(a.etag);
  });

  it('drops every spec of a source that says anything may have changed', async () => {
    let version = 1;
    let notify: (name?: string) => void = () => {};
    const source: NodeSource = {
      kind: 'shared',
      lookup: async (name) => spec(name, { edits: { append: [`v=${version}`] } }),
      onChange: (l) => {
        notify = l;
      },
    };
    const serving = createServing({
      store: new MemoryNodeStore(),
      images: new ContentImages(),
      policy: POLICY,
      sources: new Map([['shared', source]]),
    });
    const before = await serving.image({ source: 'shared', name: 'n' });
    version = 2;
    expect((await serving.image({ source: 'shared', name: 'n' })).etag).toBe(before.etag);
    notify();
    expect((await serving.image({ source: 'shared', name: 'n' })).etag).not.toBe(before.etag);
  });

  it('answers 410 past expiry and drops the node, 404 for unknown nodes and sources', async () => {
    let now = new Date('2026-03-01T00:00:00Z');
    const store = new MemoryNodeStore();
    const images = new ContentImages();
    const serving = createServing({ store, images, policy: POLICY, now: () => now });
    await store.put(spec('e', { expiresAt: '2026-03-02T00:00:00.000Z' }));
    await serving.image({ source: 'store', name: 'e' });
    now = new Date('2026-03-02T00:00:00Z');
    await expect(serving.image({ source: 'store', name: 'e' })).rejects.toBeInstanceOf(NodeExpiredError);
    expect(images.forgotten).toContain('e');
    await expect(serving.image({ source: 'store', name: 'nobody' })).rejects.toBeInstanceOf(NotFoundError);
    await expect(serving.image({ source: 'ironic', name: 'e' })).rejects.toBeInstanceOf(NotFoundError);
  });

  it("stops waiting on shared work when the caller's signal aborts, and leaves the work alone", async () => {
    let finish: (v: string) => void = () => {};
    const work = new Promise<string>((resolve) => {
      finish = resolve;
    });
    const controller = new AbortController();
    const waiting = abortable(work, controller.signal);
    controller.abort(new Error('gone'));
    await expect(waiting).rejects.toThrow('gone');
    finish('done');
    expect(await abortable(work, new AbortController().signal)).toBe('done');
  });

  it('tells observers of every transfer: start, each chunk, one end; counts only bodies as active', async () => {
    const hub = createTransferHub();
    const events: string[] = [];
    hub.observe({
      start: (t) => events.push(`start ${t.ref.name}`),
      bytes: (_t, o, n) => events.push(`${o}+${n}`),
      end: (_t, r) => events.push(`end ${r.outcome}`),
    });
    const base = { id: 'r1', ref: { source: 'store', name: 'n' }, method: 'GET', status: 206, served: '0-9', expectedBytes: 10 };
    const probe = hub.begin({ ...base, method: 'HEAD', body: false });
    expect(hub.active()).toBe(0);
    probe.end({ bytes: 0, outcome: 'complete' });
    const t = hub.begin({ ...base, body: true });
    expect(hub.active()).toBe(1);
    const idle = hub.idle();
    t.bytes(0, 4);
    t.bytes(4, 6);
    t.end({ bytes: 10, outcome: 'complete' });
    t.end({ bytes: 10, outcome: 'failed' });
    await idle;
    expect(hub.active()).toBe(0);
    expect(events).toEqual(['start n', 'end complete', 'start n', '0+4', '4+6', 'end complete']);
  });
});
