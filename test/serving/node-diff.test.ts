// The status page's hover diff: the same text `isoproxy preview` prints for the node's edits on its
// base, from the pool's patch set, formatted once per (node, ETag), and nothing for a node no source
// knows. The base is the demo ISO in memory; the pool computes in this thread (the real one uses
// piscina, tested in test/remaster/pool.test.ts).

import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { normalizeEdits } from '../../src/bootconfig/index.js';
import type { CachedSource } from '../../src/cache/block-cache.js';
import { demoIsoSpec } from '../../src/demo/demo-iso.js';
import { writeIso } from '../../src/iso9660/writer.js';
import { MemoryNodeStore } from '../../src/registry/store.js';
import { computePatchSet } from '../../src/remaster/compute.js';
import type { BaseContext } from '../../src/remaster/base-context.js';
import { previewText } from '../../src/remaster/preview-text.js';
import { createBases } from '../../src/serving/bases.js';
import { createNodeDiff } from '../../src/serving/node-diff.js';
import { storeSource } from '../../src/serving/store-source.js';
import type { UpstreamSource } from '../../src/upstream/types.js';
import { versionKey } from '../../src/upstream/validator.js';

const ISO = writeIso(demoIsoSpec());
const AT = '2026-01-01T00:00:00.000Z';
const URL_ = 'http://mirror/demo.iso';

function setup() {
  const upstream = (url: string): UpstreamSource => {
    const version = { url, size: ISO.length, etag: '"demo"' };
    return {
      size: ISO.length,
      version,
      supportsRanges: true,
      read: async (offset, length) => ISO.slice(offset, offset + length),
      stream: async function* (offset, length) {
        yield ISO.slice(offset, offset + length);
      },
      close: async () => {},
    };
  };
  const bases = createBases({
    open: async (url) => upstream(url),
    cache: {
      source: (u): CachedSource => ({ size: u.size, version: u.version, versionKey: versionKey(u.version), read: u.read, stream: u.stream }),
    },
    logger: pino({ level: 'silent' }),
  });
  let computations = 0;
  const pool = {
    patchSet: async (_id: string, context: () => Promise<BaseContext>, edits: Parameters<typeof computePatchSet>[1]) => {
      computations++;
      return computePatchSet(await context(), edits);
    },
  };
  const store = new MemoryNodeStore();
  const diff = createNodeDiff({ sources: new Map([['store', storeSource(store)]]), bases, pool });
  return { store, bases, diff, computations: () => computations };
}

describe('a node diff for the status page', () => {
  it("is the preview's text for the node's edits, formatted once per node and ETag", async () => {
    const { store, bases, diff } = setup();
    const edits = { append: ['ip=dhcp', 'ignition.config.url=http://10.0.0.1/ign'], remove: ['quiet'] };
    await store.put({ name: 'n1', bootIso: URL_, edits, createdAt: AT, updatedAt: AT });
    const text = await diff({ source: 'store', name: 'n1' });
    const ctx = await (await bases.current(URL_)).context();
    expect(text).toBe(previewText(ctx, computePatchSet(ctx, normalizeEdits(edits))));
    expect(text).toMatch(/^\+.*ignition\.config\.url=http:\/\/10\.0\.0\.1\/ign/m);
    expect(text).toMatch(/^--- a\/boot\/grub\/grub\.cfg$/m);
    expect(text).toContain('patch set: ');
    // Asked again: the same text from the LRU (the same string, not formatted again).
    expect(await diff({ source: 'store', name: 'n1' })).toBe(text);
    expect(diff.cached()).toBe(1);
    // New edits are a new ETag: a new entry with the new text.
    await store.put({ name: 'n1', bootIso: URL_, edits: { append: ['console=ttyS1'] }, createdAt: AT, updatedAt: AT });
    const changed = await diff({ source: 'store', name: 'n1' });
    expect(changed).toMatch(/^\+.*console=ttyS1/m);
    expect(changed).not.toContain('ignition');
    expect(diff.cached()).toBe(2);
    await bases.close();
  });

  it('is undefined for a node no source knows, and for an unknown source', async () => {
    const { diff, computations, bases } = setup();
    expect(await diff({ source: 'store', name: 'nobody' })).toBeUndefined();
    expect(await diff({ source: 'elsewhere', name: 'n1' })).toBeUndefined();
    expect(computations()).toBe(0);
    await bases.close();
  });
});
