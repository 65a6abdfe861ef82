// Throughput of the block cache's serving path (CachedSource.stream over a warm 1 GiB base) next
// to plain file reads of the same bytes, for tuning chunk size and reads in flight. Not a test:
// nothing here asserts a time. Prints one line per measurement (median of the rounds) with GB/s
// and CPU seconds per GB.
//
//   node dist/bench/cache-bench.js [--size-mib 1024] [--rounds 3] [--chunk-kib 1024] [--in-flight 2]
//                                  [--block-mib 2] [--streams 4] [--dir /tmp/...] [--no-http]
//
// With nginx on the PATH it also measures the cold path over HTTP on loopback: a cold fill, the
// time to first byte of cold 256 KiB reads, and 16 readers walking the image in 256 KiB requests
// on a cold cache (as BMCs do), with the upstream bytes they cost relative to one image.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createBlockCache, type CachedSource } from '../src/cache/block-cache.js';
import { openFileUrl } from '../src/upstream/file-source.js';
import { createUpstreamAgent, openHttpSource } from '../src/upstream/http-source.js';
import { createUpstreamStats } from '../src/upstream/types.js';

const MiB = 1024 * 1024;

const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '1024' },
    rounds: { type: 'string', default: '3' },
    'chunk-kib': { type: 'string', default: '1024' },
    'in-flight': { type: 'string', default: '2' },
    'block-mib': { type: 'string', default: '2' },
    streams: { type: 'string', default: '4' },
    dir: { type: 'string' },
    'no-http': { type: 'boolean', default: false },
  },
});

const sizeBytes = Number(values['size-mib']) * MiB;
const rounds = Number(values.rounds);
const chunkBytes = Number(values['chunk-kib']) * 1024;
const readsInFlight = Number(values['in-flight']);
const blockSize = Number(values['block-mib']) * MiB;
const streams = Number(values.streams);

interface Sample {
  seconds: number;
  cpuSeconds: number;
  bytes: number;
}

async function measure(fn: () => Promise<number>): Promise<Sample> {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const bytes = await fn();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, bytes };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function report(name: string, samples: Sample[]): void {
  const gbps = median(samples.map((s) => s.bytes / s.seconds / 1e9));
  const cpuPerGb = median(samples.map((s) => s.cpuSeconds / (s.bytes / 1e9)));
  console.log(`${name.padEnd(44)} ${gbps.toFixed(2).padStart(6)} GB/s  ${cpuPerGb.toFixed(3)} CPU s/GB`);
}

/** Plain positioned reads of the file: the floor of what Node can do with this chunk size. */
async function plainRead(path: string, inFlight: number): Promise<number> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    let next = 0;
    let total = 0;
    const issue = () => {
      const len = Math.min(chunkBytes, size - next);
      const buf = Buffer.allocUnsafe(len);
      const p = fh.read(buf, 0, len, next).then((r) => r.bytesRead);
      next += len;
      return p;
    };
    const q: Promise<number>[] = [];
    while (next < size && q.length < inFlight) q.push(issue());
    while (q.length > 0) {
      total += await q.shift()!;
      if (next < size) q.push(issue());
    }
    return total;
  } finally {
    await fh.close();
  }
}

async function drain(src: CachedSource, offset: number, length: number): Promise<number> {
  let n = 0;
  for await (const c of src.stream(offset, length)) n += c.length;
  return n;
}

async function startNginx(root: string, wwwDir: string): Promise<{ url: string; proc: ChildProcess } | undefined> {
  if (spawnSync('sh', ['-c', 'command -v nginx']).status !== 0) return undefined;
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  const t = join(root, 'nginx-tmp');
  await mkdir(t, { recursive: true });
  const conf = [
    process.getuid?.() === 0 ? 'user root;' : '',
    'worker_processes 1;',
    `pid ${join(root, 'nginx.pid')};`,
    `error_log ${join(root, 'nginx-error.log')};`,
    'events { worker_connections 256; }',
    'http {',
    '  access_log off;',
    `  client_body_temp_path ${t}; proxy_temp_path ${t}; fastcgi_temp_path ${t}; uwsgi_temp_path ${t}; scgi_temp_path ${t};`,
    '  sendfile on;',
    `  server { listen 127.0.0.1:${port}; root ${wwwDir}; }`,
    '}',
  ].join('\n');
  await writeFile(join(root, 'nginx.conf'), conf);
  const proc = spawn('nginx', ['-p', root, '-c', join(root, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    const up = await new Promise<boolean>((r) => {
      const sock = createConnection({ port, host: '127.0.0.1' }, () => {
        sock.destroy();
        r(true);
      });
      sock.on('error', () => r(false));
    });
    if (up) return { url: `http://127.0.0.1:${port}/base.iso`, proc };
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill('SIGTERM');
  return undefined;
}

async function httpColdPath(root: string): Promise<void> {
  const nginx = await startNginx(root, root);
  if (!nginx) {
    console.log('\nnginx not found: skipping the cold path over HTTP');
    return;
  }
  const agent = createUpstreamAgent();
  try {
    console.log(`\ncold path over HTTP (nginx on loopback, ${blockSize / MiB} MiB blocks)`);
    let n = 0;
    const fresh = async () => {
      const stats = createUpstreamStats();
      const cache = await createBlockCache({
        dir: join(root, `http-cache-${n++}`),
        budgetBytes: sizeBytes + 64 * MiB,
        blockSize,
        readaheadBlocks: 4,
        chunkBytes,
        readsInFlight,
        upstreamStats: stats,
      });
      const src = cache.source(await openHttpSource(nginx.url, { dispatcher: agent, stats }));
      return { cache, src, stats };
    };

    {
      const { cache, src, stats } = await fresh();
      const s = await measure(() => drain(src, 0, sizeBytes));
      await cache.flush();
      report('cold fill, 1 stream', [s]);
      console.log(`  upstream: ${stats.requests} requests, ${(stats.bytes / sizeBytes).toFixed(3)} x the image`);
      await cache.close();
    }
    {
      const { cache, src } = await fresh();
      const ttfb: number[] = [];
      for (let i = 0; i < 7; i++) {
        const off = Math.floor(((i * 2 + 1) / 16) * (sizeBytes - 256 * 1024));
        const t0 = process.hrtime.bigint();
        const it = src.stream(off, 256 * 1024)[Symbol.asyncIterator]();
        await it.next();
        ttfb.push(Number(process.hrtime.bigint() - t0) / 1e6);
        await it.return?.();
      }
      console.log(`cold 256 KiB read, time to first byte: median ${median(ttfb).toFixed(1)} ms (max ${Math.max(...ttfb).toFixed(1)} ms)`);
      await cache.close();
    }
    {
      const { cache, src, stats } = await fresh();
      const readers = 16;
      const piece = 256 * 1024;
      const s = await measure(async () => {
        const totals = await Promise.all(
          Array.from({ length: readers }, async () => {
            let total = 0;
            for (let off = 0; off < sizeBytes; off += piece) total += await drain(src, off, Math.min(piece, sizeBytes - off));
            return total;
          }),
        );
        return totals.reduce((a, b) => a + b, 0);
      });
      await cache.flush();
      report(`${readers} readers x sequential 256 KiB requests, cold`, [s]);
      console.log(`  upstream: ${stats.requests} requests, ${(stats.bytes / sizeBytes).toFixed(3)} x the image`);
      await cache.close();
    }
  } finally {
    await agent.close();
    nginx.proc.kill('SIGTERM');
  }
}

async function main(): Promise<void> {
  const root = values.dir ?? (await mkdtemp(join(tmpdir(), 'isoproxy-cache-bench-')));
  await mkdir(root, { recursive: true });
  const basePath = join(root, 'base.iso');
  try {
    console.log(`making a ${sizeBytes / MiB} MiB base in ${root}`);
    const fh = await open(basePath, 'w');
    const pattern = randomBytes(4 * MiB);
    for (let pos = 0; pos < sizeBytes; pos += pattern.length) await fh.write(pattern, 0, Math.min(pattern.length, sizeBytes - pos), pos);
    await fh.close();

    const upstream = await openFileUrl(pathToFileURL(basePath).href, [root]);
    const cache = await createBlockCache({
      dir: join(root, 'cache'),
      budgetBytes: sizeBytes + 64 * MiB,
      blockSize,
      readaheadBlocks: 4,
      chunkBytes,
      readsInFlight,
    });
    const src = cache.source(upstream);
    const cold = await measure(() => drain(src, 0, sizeBytes));
    await cache.flush();
    report('cold fill from a local file upstream', [cold]);
    console.log(`chunk ${chunkBytes / 1024} KiB, ${readsInFlight} reads in flight, block ${blockSize / MiB} MiB, ${rounds} rounds\n`);

    const plain1: Sample[] = [];
    const plainN: Sample[] = [];
    const cached1: Sample[] = [];
    const cachedN: Sample[] = [];
    const random: Sample[] = [];
    for (let r = 0; r < rounds; r++) {
      // Alternating, so drift in the machine's load hits both sides alike.
      plain1.push(await measure(() => plainRead(basePath, readsInFlight)));
      cached1.push(await measure(() => drain(src, 0, sizeBytes)));
      plainN.push(
        await measure(async () =>
          (await Promise.all(Array.from({ length: streams }, () => plainRead(basePath, readsInFlight)))).reduce((a, b) => a + b, 0),
        ),
      );
      cachedN.push(
        await measure(async () => (await Promise.all(Array.from({ length: streams }, () => drain(src, 0, sizeBytes)))).reduce((a, b) => a + b, 0)),
      );
      random.push(
        await measure(async () => {
          // 2048 reads of 256 KiB at deterministic pseudo-random offsets, 16 at a time.
          let x = 42 + r;
          let total = 0;
          for (let batch = 0; batch < 128; batch++) {
            const reads: Promise<number>[] = [];
            for (let i = 0; i < 16; i++) {
              x = (x * 1103515245 + 12345) % 2 ** 31;
              const off = (x % Math.floor((sizeBytes - 256 * 1024) / 4096)) * 4096;
              reads.push(drain(src, off, 256 * 1024));
            }
            total += (await Promise.all(reads)).reduce((a, b) => a + b, 0);
          }
          return total;
        }),
      );
    }
    report('plain fs positioned reads, 1 stream', plain1);
    report('CachedSource.stream warm, 1 stream', cached1);
    report(`plain fs positioned reads, ${streams} streams`, plainN);
    report(`CachedSource.stream warm, ${streams} streams`, cachedN);
    report('CachedSource.stream warm, random 256 KiB x16', random);
    const rps = median(random.map((s) => 2048 / s.seconds));
    console.log(`random 256 KiB reads: ${Math.round(rps)} reads/s`);
    console.log('\ncache stats', cache.stats());
    await cache.close();
    await upstream.close();
    if (!values['no-http']) await httpColdPath(root);
  } finally {
    if (!values.dir) await rm(root, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
