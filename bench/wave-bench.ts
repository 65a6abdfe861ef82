// The cold-cache benchmarks, each on a fresh `isoproxy serve` process
// with an empty cache whose upstream is nginx behind the throttle (bench/throttle.ts):
//  - cold node: register a node on a never-seen base (the PUT answers with the node's ETag, so it
//    opens, indexes and remasters the base), then time the first 256 KiB range; the upstream bytes
//    read before that byte; then the same for a second node on the now-indexed base;
//  - deployment wave: N distinct nodes registered, then fetched at once as BMCs do (HEAD, then
//    sequential 256 KiB ranges, the last past the end) by the C client; total time, throughput,
//    p50/p99 time to first byte, upstream bytes, cache bytes on disk, peak RSS, patch-set
//    computations from /metrics.

import { request } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Edits } from '../src/bootconfig/index.js';
import { execFileText, runClient, startIsoproxy, trackPeakMemory, type ClientResult, type Server } from './procs.js';
import { nodeEdits } from './remaster-bench.js';
import { median } from './stats.js';
import type { Throttle } from './throttle.js';

export async function registerNode(port: number, name: string, bootIso: string, edits: Edits): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/nodes/${name}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ bootIso, edits }),
  });
  const body = (await res.json()) as { etag?: string | null; etagError?: { message: string } };
  if (!res.ok || !body.etag) throw new Error(`PUT node ${name}: ${res.status} ${JSON.stringify(body)}`);
  return performance.now() - t0;
}

/** The numeric samples of /metrics without labels, by name. */
export async function scrapeMetrics(port: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+) ([0-9.eE+-]+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/** Time to the first body byte (and to the end) of one range request, with Node's http client. */
async function firstRange(port: number, path: string, length: number): Promise<{ ttfbMs: number; totalMs: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let ttfb = -1;
    const req = request({ host: '127.0.0.1', port, path, headers: { range: `bytes=0-${length - 1}` }, agent: false }, (res) => {
      if (res.statusCode !== 206) reject(new Error(`GET ${path}: ${res.statusCode}`));
      res.on('data', () => {
        if (ttfb < 0) ttfb = performance.now() - t0;
      });
      res.on('end', () => resolve({ ttfbMs: ttfb, totalMs: performance.now() - t0 }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function duBytes(dir: string): Promise<number> {
  try {
    return Number((await execFileText('du', ['-s', '-B1', dir])).split(/\s+/)[0]);
  } catch {
    return 0;
  }
}

export interface ColdNodeFigures {
  readonly rounds: number;
  /** PUT on a never-seen base: open, index, prepare, remaster (median ms). */
  readonly putMs: number;
  /** First 256 KiB range of that node after its PUT. */
  readonly ttfbMs: number;
  /** PUT + first byte: what a conductor then a BMC wait for, end to end. */
  readonly firstByteAfterPutStartMs: number;
  readonly upstreamBytesBeforeFirstByte: number;
  /** A second node on the now-indexed base. */
  readonly indexedBasePutMs: number;
  readonly indexedBaseTtfbMs: number;
}

export async function coldNode(dir: string, throttle: Throttle, bootIso: string, rounds: number): Promise<ColdNodeFigures> {
  const put: number[] = [];
  const ttfb: number[] = [];
  const both: number[] = [];
  const upstream: number[] = [];
  const put2: number[] = [];
  const ttfb2: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const server = await startIsoproxy({ dir: join(dir, `cold-${r}`), allowUpstream: [bootIso], cacheBudget: '4GiB' });
    try {
      const before = throttle.bytes();
      const p = await registerNode(server.port, 'cold-node', bootIso, nodeEdits(5000 + r));
      const first = await firstRange(server.port, '/iso/cold-node.iso', 256 * 1024);
      put.push(p);
      ttfb.push(first.ttfbMs);
      both.push(p + first.ttfbMs);
      // Bytes read by the time the first range completed; a block (not just 256 KiB) is fetched for it.
      upstream.push(throttle.bytes() - before);
      const p2 = await registerNode(server.port, 'second-node', bootIso, nodeEdits(6000 + r));
      put2.push(p2);
      ttfb2.push((await firstRange(server.port, '/iso/second-node.iso', 256 * 1024)).ttfbMs);
    } finally {
      await server.stop();
    }
  }
  return {
    rounds,
    putMs: median(put),
    ttfbMs: median(ttfb),
    firstByteAfterPutStartMs: median(both),
    upstreamBytesBeforeFirstByte: median(upstream),
    indexedBasePutMs: median(put2),
    indexedBaseTtfbMs: median(ttfb2),
  };
}

export interface WaveFigures {
  readonly nodes: number;
  readonly imageBytes: number;
  readonly bytesPerNode: number;
  readonly registerSeconds: number;
  readonly totalSeconds: number;
  readonly aggregateGbPerSecond: number;
  readonly requests: number;
  /** Per node: from the wave's start to its first body byte. */
  readonly firstByteP50Ms: number;
  readonly firstByteP99Ms: number;
  /** Per range request: request sent to first body byte. */
  readonly requestTtfbP50Ms: number;
  readonly requestTtfbP99Ms: number;
  readonly upstreamBytes: number;
  readonly upstreamBytesPerImage: number;
  /** The distinct byte span the nodes read (the whole image, or the first part plus the last range). */
  readonly distinctBytesRead: number;
  readonly upstreamBytesFromMetrics: number;
  readonly upstreamRequests: number;
  readonly cacheBytesOnDisk: number;
  readonly peakRssBytes: number;
  /** Peak of the PSS summed over the server's processes, sampled from registration to the wave's end. */
  readonly peakPssBytes: number;
  /** Peak of the RSS summed over the server's processes at one time, sampled the same way. */
  readonly peakRssSampledBytes: number;
  readonly serverCpuSeconds: number;
  readonly serverCores: number;
  readonly clientCores: number;
  readonly patchSetComputations: number;
  readonly patchSetMemoHits: number;
  readonly upstreamRateBytesPerSecond: number;
}

export async function deploymentWave(opts: {
  dir: string;
  clientBin: string;
  throttle: Throttle;
  bootIso: string;
  imageBytes: number;
  nodes: number;
  limitBytes: number;
  upstreamRate: number;
  /** Serving processes (--workers); default 1. */
  workers?: number;
  /** Directory name under `dir`; default "wave". */
  name?: string;
}): Promise<WaveFigures> {
  const name = opts.name ?? 'wave';
  const server: Server = await startIsoproxy({
    dir: join(opts.dir, name),
    allowUpstream: [opts.bootIso],
    cacheBudget: '4GiB',
    workers: opts.workers ?? 1,
  });
  try {
    const upstream0 = opts.throttle.bytes();
    const memory = trackPeakMemory(server);
    // Registration, as a conductor does before it inserts the media: 8 PUTs at a time.
    const tReg = performance.now();
    const names = Array.from({ length: opts.nodes }, (_, i) => `wave-${String(i).padStart(4, '0')}`);
    for (let i = 0; i < names.length; i += 8) {
      await Promise.all(names.slice(i, i + 8).map((n, k) => registerNode(server.port, n, opts.bootIso, nodeEdits(i + k))));
    }
    const registerSeconds = (performance.now() - tReg) / 1000;
    const pathsFile = join(opts.dir, `${name}-paths.txt`);
    await writeFile(pathsFile, names.map((n) => `/iso/${n}.iso\n`).join(''));
    const cpu1 = (await server.sample()).cpuSeconds;
    const client: ClientResult = await runClient(opts.clientBin, 'wave', server.port, [
      '--paths',
      pathsFile,
      '--chunk',
      String(256 * 1024),
      ...(opts.limitBytes > 0 ? ['--limit-bytes', String(opts.limitBytes)] : []),
    ]);
    const after = await server.sample();
    const peaks = await memory.stop();
    const metrics = await scrapeMetrics(server.port);
    const upstreamBytes = opts.throttle.bytes() - upstream0;
    return {
      nodes: opts.nodes,
      imageBytes: opts.imageBytes,
      bytesPerNode: client.bytes / opts.nodes,
      registerSeconds,
      totalSeconds: client.seconds,
      aggregateGbPerSecond: client.bytes / client.seconds / 1e9,
      requests: client.requests,
      firstByteP50Ms: client.firstByteP50 * 1000,
      firstByteP99Ms: client.firstByteP99 * 1000,
      requestTtfbP50Ms: client.ttfbP50 * 1000,
      requestTtfbP99Ms: client.ttfbP99 * 1000,
      upstreamBytes,
      upstreamBytesPerImage: upstreamBytes / opts.imageBytes,
      distinctBytesRead:
        opts.limitBytes > 0 && opts.limitBytes < opts.imageBytes ? Math.min(opts.imageBytes, opts.limitBytes + 256 * 1024) : opts.imageBytes,
      upstreamBytesFromMetrics: metrics.get('isoproxy_upstream_bytes_total') ?? NaN,
      upstreamRequests: metrics.get('isoproxy_upstream_requests_total') ?? NaN,
      cacheBytesOnDisk: await duBytes(join(opts.dir, name, 'cache')),
      peakRssBytes: after.hwmSumBytes,
      peakPssBytes: peaks.pssSumBytes,
      peakRssSampledBytes: peaks.rssSumBytes,
      serverCpuSeconds: after.cpuSeconds - cpu1,
      serverCores: (after.cpuSeconds - cpu1) / client.seconds,
      clientCores: client.clientCpuSeconds / client.seconds,
      patchSetComputations: metrics.get('isoproxy_patchset_computations_total') ?? NaN,
      patchSetMemoHits: metrics.get('isoproxy_patchset_memo_hits_total') ?? NaN,
      upstreamRateBytesPerSecond: opts.upstreamRate,
    };
  } finally {
    await server.stop();
  }
}
