// Per-node cost of files in the initramfs (src/remaster/initrd.ts): each node gets 1 MiB of its
// own files (16 files of 64 KiB, distinct per node) appended to every initrd of a Debian/IPA-like
// base (bench/base-image.ts). Measured:
//  - the engine in process: normalizeEdits + computePatchSet per node (median, p99, max; and the
//    same node's parameter edits without files, for comparison on a loaded machine), the
//    patch set's overlay bytes (the archive once per initrd, plus record bytes) and its base
//    copies (numbers, whatever the initrd's size);
//  - the served path (startServer in process, file:// upstream through the block cache): bytes
//    the cache dir grows by per node after each node's edited initrd is read whole (the initrd's
//    base bytes are shared blocks: expected 0), and the time to first byte of a node's edited
//    initrd from a warm cache, for a node never seen before (its patch set is computed in the
//    worker pool first) and again for the same node (memoized).
//
//   node dist/bench/inject-bench.js [--size-mib 256] [--nodes 50] [--served-nodes 10] [--dir bench/out/inject] [--json out.json]

import { createHash } from 'node:crypto';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { normalizeEdits, type Edits } from '../src/bootconfig/index.js';
import { openFileSource } from '../src/byte-source.js';
import { startServer } from '../src/http/server.js';
import { loadConfig } from '../src/config.js';
import { buildIndex } from '../src/iso9660/index.js';
import { createLogger } from '../src/logger.js';
import { prepareBase } from '../src/remaster/base-context.js';
import { computePatchSet } from '../src/remaster/compute.js';
import { MemoryNodeStore } from '../src/registry/store.js';
import { ensureBaseImage } from './base-image.js';
import { percentile } from './stats.js';

const repo = resolve(import.meta.dirname, '../..');
const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '256' },
    nodes: { type: 'string', default: '50' },
    'served-nodes': { type: 'string', default: '10' },
    dir: { type: 'string', default: join(repo, 'bench/out/inject') },
    json: { type: 'string' },
  },
});
const sizeMiB = Number(values['size-mib']);
const nodes = Number(values.nodes);
const servedNodes = Number(values['served-nodes']);
const dir = resolve(values.dir);

const FILES_PER_NODE = 16;
const FILE_BYTES = 64 * 1024;

/** Node i's files: 1 MiB in 16 files, distinct per node, the kind a conductor sends (configs, keys, certs). */
export function nodeFiles(i: number): Edits['files'] {
  return Array.from({ length: FILES_PER_NODE }, (_, k) => {
    const data = Buffer.alloc(FILE_BYTES);
    let block = createHash('sha256').update(`node-${i}-file-${k}`).digest();
    for (let at = 0; at < FILE_BYTES; at += 32) {
      block.copy(data, at);
      block = createHash('sha256').update(block).digest();
    }
    return { path: `/etc/isoproxy/node/file-${String(k).padStart(2, '0')}.bin`, mode: '0600', contentBase64: data.toString('base64') };
  });
}

const edits = (i: number): Edits => ({ append: [`ipa-node=node-${i}`], files: nodeFiles(i) });

async function dirBytes(path: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(path, { withFileTypes: true, recursive: true })) {
    // A block being written is a temporary file that may be renamed away meanwhile.
    if (e.isFile()) n += (await stat(join(e.parentPath, e.name)).catch(() => ({ size: 0 }))).size;
  }
  return n;
}

/** The cache dir's bytes once its writes have settled (same total, no temporary block files, twice). */
async function settledBytes(path: string): Promise<number> {
  let last = -1;
  for (let tries = 0; tries < 50; tries++) {
    await new Promise((r) => setTimeout(r, 200));
    const entries = await readdir(path, { recursive: true });
    const n = await dirBytes(path);
    if (n === last && !entries.some((e) => e.endsWith('.tmp'))) return n;
    last = n;
  }
  return last;
}

const ms = (x: number): string => x.toFixed(2);
const log = (line: string): void => console.error(`[inject-bench] ${line}`);

async function main(): Promise<void> {
  await mkdir(dir, { recursive: true });
  const image = await ensureBaseImage(dir, sizeMiB, log);
  const source = await openFileSource(image.path);
  const ctx = await prepareBase(await buildIndex(source), source);
  await source.close();
  const initrds = ctx.initrds.map((i) => `${i.path} (${i.size} bytes)`);

  // 1. The engine in process.
  computePatchSet(ctx, normalizeEdits(edits(999_999))); // JIT warm-up, not counted
  const times: number[] = [];
  const baseline: number[] = [];
  const overlayBytes: number[] = [];
  let copies = 0;
  for (let i = 0; i < nodes; i++) {
    const input = edits(i); // generating the node's bytes is the bench's cost, not the engine's
    // The same node without its files, interleaved so that load on the machine hits both alike.
    const b = performance.now();
    computePatchSet(ctx, normalizeEdits({ append: input.append ?? [] }), { node: `node-${i}` });
    baseline.push(performance.now() - b);
    const t = performance.now();
    const r = computePatchSet(ctx, normalizeEdits(input), { node: `node-${i}` });
    times.push(performance.now() - t);
    overlayBytes.push(r.report.overlayBytes);
    copies = r.patchSet.copies.length;
  }

  // 2. The served path: in process, file:// upstream, block cache on disk.
  const dataDir = join(dir, 'serve-data');
  const cacheDir = join(dir, 'serve-cache');
  await rm(dataDir, { recursive: true, force: true });
  await rm(cacheDir, { recursive: true, force: true });
  const config = loadConfig([
    '--port',
    '0',
    '--data-dir',
    dataDir,
    '--cache-dir',
    cacheDir,
    '--cache-budget',
    '4GiB',
    '--allow-dir',
    resolve(image.path, '..'),
    '--admin-token',
    'inject-bench-token-0123456789abcdef',
  ]);
  const store = new MemoryNodeStore();
  const server = await startServer(config, { store, logger: createLogger({ level: 'error' }) });
  const now = new Date().toISOString();
  const put = (i: number) =>
    store.put({ name: `node-${i}`, bootIso: `file://${resolve(image.path)}`, edits: edits(i), createdAt: now, updatedAt: now });
  /** The edited initrd's byte range in node i's image (the engine is deterministic: same as served). */
  const initrdRange = (i: number): [number, number] => {
    const r = computePatchSet(ctx, normalizeEdits(edits(i)));
    const first = r.report.initrds[0]!;
    return [first.lba * 2048, first.lba * 2048 + first.newSize - 1];
  };
  const read = async (i: number, whole: boolean): Promise<{ ttfbMs: number; bytes: number }> => {
    const [start, end] = initrdRange(i);
    const t = performance.now();
    const res = await fetch(`${server.url}/iso/node-${i}.iso`, { headers: { range: `bytes=${start}-${whole ? end : start}` } });
    if (res.status !== 206 || !res.body) throw new Error(`node-${i}: HTTP ${res.status}`);
    const reader = res.body.getReader();
    let ttfbMs = -1;
    let bytes = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (ttfbMs < 0) ttfbMs = performance.now() - t;
      bytes += value.length;
    }
    return { ttfbMs, bytes };
  };
  try {
    // Warm the cache: one node reads its whole edited initrd (the base blocks every node shares).
    await put(0);
    await read(0, true);
    const cacheAfterFirst = await settledBytes(cacheDir);
    const newNode: number[] = [];
    const sameNode: number[] = [];
    for (let i = 1; i <= servedNodes; i++) {
      await put(i);
      newNode.push((await read(i, false)).ttfbMs);
      sameNode.push((await read(i, false)).ttfbMs);
      const whole = await read(i, true);
      if (whole.bytes !== initrdRange(i)[1] - initrdRange(i)[0] + 1) throw new Error(`node-${i}: short read`);
    }
    const cacheAfterAll = await settledBytes(cacheDir);
    const result = {
      image: { bytes: image.sizeBytes, initrds },
      files: { perNode: FILES_PER_NODE, bytesPerNode: FILES_PER_NODE * FILE_BYTES },
      engine: {
        nodes,
        medianMs: percentile(times, 0.5),
        p99Ms: percentile(times, 0.99),
        maxMs: Math.max(...times),
        withoutFilesMedianMs: percentile(baseline, 0.5),
        overlayBytesMedian: percentile(overlayBytes, 0.5),
        overlayBytesMax: Math.max(...overlayBytes),
        baseCopies: copies,
      },
      served: {
        nodes: servedNodes,
        cacheBytesAfterFirstNode: cacheAfterFirst,
        diskBytesPerNode: (cacheAfterAll - cacheAfterFirst) / servedNodes,
        ttfbNewNodeMedianMs: percentile(newNode, 0.5),
        ttfbNewNodeMaxMs: Math.max(...newNode),
        ttfbSameNodeMedianMs: percentile(sameNode, 0.5),
        ttfbSameNodeMaxMs: Math.max(...sameNode),
      },
    };
    if (values.json) await writeFile(values.json, `${JSON.stringify(result, null, 2)}\n`);
    const e = result.engine;
    const s = result.served;
    console.log(
      [
        `files in the initramfs: ${FILES_PER_NODE} files, ${FILES_PER_NODE * FILE_BYTES} bytes per node; base ${image.sizeBytes} bytes, initrds ${initrds.join(', ')}`,
        `  engine (${e.nodes} nodes): median ${ms(e.medianMs)} ms, p99 ${ms(e.p99Ms)} ms, max ${ms(e.maxMs)} ms per node (the same edits without files: median ${ms(e.withoutFilesMedianMs)} ms); patch set ${e.overlayBytesMedian} bytes (max ${e.overlayBytesMax}) + ${e.baseCopies} base copies`,
        `  served (${s.nodes} nodes, warm cache): disk ${s.diskBytesPerNode} bytes per node; TTFB of the edited initrd: new node median ${ms(s.ttfbNewNodeMedianMs)} ms (max ${ms(s.ttfbNewNodeMaxMs)}), same node again median ${ms(s.ttfbSameNodeMedianMs)} ms (max ${ms(s.ttfbSameNodeMaxMs)})`,
      ].join('\n'),
    );
  } finally {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
    await rm(cacheDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
