// A deployment wave in miniature ("hundreds of BMCs on one machine"): 32 nodes on one
// cold base, each with its own parameters, each read at once by a client behaving like OpenBMC's
// nbdkit (256 KiB ranges, two in flight, the last running past the end). Every node must get
// exactly its own image; the base is fetched from upstream once per block; each node's patch set
// is computed once.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Edits } from '../../src/bootconfig/types.js';
import { missingTools, scratchDir } from '../helpers/tools.js';
import { expectedDigests, MiB, startProxy, type ProxyUnderTest } from './harness.js';
import { sizedIso } from './images.js';
import { startUpstream, type TestUpstream } from './upstream.js';

const missing = missingTools('xorriso');
const NODES = 32;
const RANGE = 256 * 1024;
const editsOf = (i: number): Edits => ({
  append: [`isoproxy.node=wave-${i}`, `ip=10.0.${i}.2::10.0.${i}.1:255.255.255.0`],
  set: { 'isoproxy.keep': `k${i}` },
});

/** Reads an image as nbdkit's curl plugin does and hashes it in order: ranges of 256 KiB, two in flight. */
async function nbdkitLikeDigest(url: string): Promise<{ size: number; sha256: string }> {
  const head = await fetch(url, { method: 'HEAD' });
  if (head.status !== 200 || head.headers.get('accept-ranges') !== 'bytes') throw new Error(`HEAD ${url}: ${head.status}`);
  const size = Number(head.headers.get('content-length'));
  const hash = createHash('sha256');
  const get = async (at: number): Promise<Buffer> => {
    // Past the end on purpose at the last range, as OpenBMC's client does.
    const res = await fetch(url, { headers: { range: `bytes=${at}-${at + RANGE}` } });
    if (res.status !== 206) throw new Error(`range at ${at}: ${res.status}`);
    return Buffer.from(await res.arrayBuffer()).subarray(0, RANGE);
  };
  const offsets: number[] = [];
  for (let at = 0; at < size; at += RANGE) offsets.push(at);
  let next = get(offsets[0]!);
  for (let i = 0; i < offsets.length; i++) {
    const after = i + 1 < offsets.length ? get(offsets[i + 1]!) : undefined;
    hash.update(await next);
    if (after !== undefined) next = after;
  }
  return { size, sha256: hash.digest('hex') };
}

const skipped = missing.length > 0 ? ` (skipped: missing ${missing.join(', ')})` : '';

describe.skipIf(missing.length > 0)(`a deployment wave through the whole service${skipped}`, () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  let upstream: TestUpstream;
  let proxy: ProxyUnderTest;
  let want: Array<{ size: number; sha256: string }>;
  let baseSize: number;

  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-service-wave-');
    const iso = await sizedIso(scratch.dir, 'wave', 3, 'wave');
    want = await expectedDigests(
      iso,
      Array.from({ length: NODES }, (_, i) => editsOf(i)),
    );
    const bytes = await readFile(iso);
    baseSize = bytes.length;
    upstream = await startUpstream({ '/wave.iso': bytes });
    proxy = await startProxy({ dir: scratch.dir, allow: [`${upstream.origin}/`] });
  });

  afterAll(async () => {
    await proxy?.close();
    await upstream?.close();
    await scratch?.cleanup();
  });

  it('gives each of 32 nodes read at once its own exact image, fetching each base block once and computing each patch set once', async () => {
    // Registered in parallel too, as a conductor starting a wave would.
    const put = (i: number): Promise<Response> => proxy.putNode(`wave-${i}`, { bootIso: upstream.url('/wave.iso'), edits: editsOf(i) });
    const puts = await Promise.all(Array.from({ length: NODES }, (_, i) => put(i)));
    expect(puts.map((r) => r.status)).toEqual(Array(NODES).fill(201));
    const got = await Promise.all(Array.from({ length: NODES }, (_, i) => nbdkitLikeDigest(proxy.imageUrl(`wave-${i}`))));
    got.forEach((g, i) => {
      expect(g, `wave-${i}`).toEqual(want[i]);
    });
    expect(new Set(got.map((g) => g.sha256)).size).toBe(NODES);

    const blocks = upstream.blockGets('/wave.iso').map((r) => r.range);
    expect(new Set(blocks).size).toBe(blocks.length);
    expect(blocks.length).toBe(Math.ceil(baseSize / MiB));
    const metrics = await proxy.metrics();
    expect(metrics).toMatch(new RegExp(`^isoproxy_patchset_computations_total ${NODES}$`, 'm'));
  });
});
