// Side by side in one run: isoproxy at --workers 1 and at --workers = cores, nginx with
// a worker per core (sendfile), and a plain Node file server (bench/node-file-server.ts), each on
// the same patterns, with three clients: the C client (bench/client.c), curl and wrk.
//   (a) one whole GET;  (b) sequential 1 MiB ranges;  (c) 16 and 32 concurrent whole GETs;
//   (d) random 256 KiB ranges from 16 connections.
// Per run: GB/s, req/s, server CPU s/GB (every process of the server), p50/p99 per request; per
// server: peak RSS summed over its processes. isoproxy serves a node with edits from a warm
// cache; nginx and the Node server serve the base file itself.

import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { measure, patterns, STEAL_NOTED_CORES, warmUp } from './serving-bench.js';
import { startIsoproxy, startNodeFileServer, trackPeakMemory, withSteal, type Server } from './procs.js';
import { median, MiB } from './stats.js';
import { registerNode } from './wave-bench.js';
import { nodeEdits } from './remaster-bench.js';

export interface SideRow {
  readonly server: string;
  readonly pattern: string;
  readonly client: 'c' | 'curl' | 'wrk';
  readonly gbPerSecond: number;
  readonly requestsPerSecond: number;
  readonly serverCpuSecondsPerGb: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Cores the hypervisor took over the run (steal: procs.ts machineCpu). */
  readonly stealCores: number;
}

export interface SideBySide {
  readonly servers: ReadonlyArray<{
    readonly name: string;
    readonly processes: string;
    readonly peakRssSumBytes: number;
    readonly peakPssSumBytes: number;
    /** The largest sum of RSS over the processes at one time (sampled). */
    readonly peakRssSampledBytes: number;
  }>;
  readonly rows: readonly SideRow[];
  /**
   * Each server's throughput over nginx's in the same round, round by round, per pattern and
   * client: the machine's speed drifts over minutes, and a ratio of runs a few seconds apart
   * shares the drift that a ratio of medians over the whole run does not.
   */
  readonly roundRatios: ReadonlyArray<{
    readonly pattern: string;
    readonly client: string;
    readonly server: string;
    readonly ratios: readonly number[];
  }>;
}

interface Target {
  readonly server: Server;
  readonly path: string;
  readonly size: number;
  readonly processes: string;
}

function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args as string[], { env, timeout: 600_000, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

function pct(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** `n` curl processes at once, each one whole GET. */
async function curlGets(t: Target, n: number): Promise<{ bytes: number; requests: number; seconds: number; lat: number[] }> {
  const url = `http://127.0.0.1:${t.server.port}${t.path}`;
  const t0 = performance.now();
  const args = ['-s', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{time_total}', url];
  const outs = await Promise.all(Array.from({ length: n }, () => run('curl', args)));
  const seconds = (performance.now() - t0) / 1000;
  let bytes = 0;
  const lat: number[] = [];
  for (const o of outs) {
    const [code, size, time] = o.trim().split(' ');
    if (code !== '200' || Number(size) !== t.size) throw new Error(`curl ${url}: ${o}`);
    bytes += Number(size);
    lat.push(Number(time));
  }
  return { bytes, requests: n, seconds, lat: lat.sort((a, b) => a - b) };
}

const WRK_SCRIPT = `local size = tonumber(os.getenv("SIZE"))
local chunk = 262144
math.randomseed(42)
request = function()
  local start = math.random(0, math.floor((size - chunk) / 4096)) * 4096
  return wrk.format("GET", nil, { Range = "bytes=" .. start .. "-" .. (start + chunk - 1) })
end
`;

function wrkMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!m) return NaN;
  const scale = m[2] === 'us' ? 0.001 : m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60_000;
  return Number(m[1]) * scale;
}

/** wrk, 16 connections, random aligned 256 KiB ranges for `seconds`. */
async function wrkRandom(
  t: Target,
  script: string,
  seconds: number,
): Promise<{ bytes: number; requests: number; seconds: number; p50: number; p99: number }> {
  const out = await run('wrk', ['-t2', '-c16', `-d${seconds}s`, '--latency', '-s', script, `http://127.0.0.1:${t.server.port}${t.path}`], {
    ...process.env,
    SIZE: String(t.size),
  });
  const m = /(\d+) requests in ([\d.]+)(s|m)/.exec(out);
  if (!m) throw new Error(`wrk: no result\n${out}`);
  if (/Non-2xx or 3xx responses/.test(out)) throw new Error(`wrk: error responses\n${out}`);
  const requests = Number(m[1]);
  const secs = Number(m[2]) * (m[3] === 'm' ? 60 : 1);
  const p = (q: string): number => wrkMs(new RegExp(`^\\s+${q}%\\s+(\\S+)`, 'm').exec(out)?.[1] ?? '');
  return { bytes: requests * 256 * 1024, requests, seconds: secs, p50: p('50'), p99: p('99') };
}

export async function sideBySide(opts: {
  dir: string;
  clientBin: string;
  image: { path: string; sizeBytes: number };
  nginx: Server;
  upstreamUrl: string;
  cores: number;
  randomSeconds: number;
  rounds: number;
  log: (line: string) => void;
}): Promise<SideBySide> {
  const script = join(opts.dir, 'random-256k.lua');
  await writeFile(script, WRK_SCRIPT);
  const started: Server[] = [];
  const targets: Target[] = [];
  try {
    for (const workers of opts.cores > 1 ? [1, opts.cores] : [1]) {
      const iso = await startIsoproxy({
        dir: join(opts.dir, `sbs-w${workers}`),
        allowUpstream: [opts.upstreamUrl.replace(/[^/]*$/, '')],
        workers,
        cacheBudget: `${Math.ceil(opts.image.sizeBytes / MiB) * 2 + 64}MiB`,
      });
      started.push(iso);
      await registerNode(iso.port, 'bench-sbs', opts.upstreamUrl, nodeEdits(7));
      const size = Number((await fetch(`http://127.0.0.1:${iso.port}/iso/bench-sbs.iso`, { method: 'HEAD' })).headers.get('content-length'));
      targets.push({
        server: iso,
        path: '/iso/bench-sbs.iso',
        size,
        processes: workers > 1 ? `primary + ${workers - 1} worker${workers > 2 ? 's' : ''}, all serving` : '1 process',
      });
    }
    targets.push({ server: opts.nginx, path: '/base.iso', size: opts.image.sizeBytes, processes: `master + ${opts.cores} workers` });
    const nodeFs = await startNodeFileServer(opts.dir, opts.image.path);
    started.push(nodeFs);
    targets.push({ server: nodeFs, path: '/base.iso', size: opts.image.sizeBytes, processes: '1 process' });

    const p16 = patterns(opts.randomSeconds, 16);
    const c32 = patterns(opts.randomSeconds, 32)[2]!;
    const defs = [
      { label: 'a', def: p16[0]! },
      { label: 'b', def: p16[1]! },
      { label: 'c16', def: p16[2]! },
      { label: 'c32', def: c32 },
      { label: 'd', def: p16[3]! },
    ];
    // Warm every server's cache (isoproxy) and page cache (all) with a whole GET, then warm again
    // over a second later: isoproxy checks a block file whole on its first open from disk, and a
    // check within a second of the file's writing is made once more (src/cache/checked-file.ts).
    // The rounds measure the steady state a wave meets after its first nodes.
    for (const t of targets) await measure(opts.clientBin, t.server, p16[0]!, t.path, t.size);
    await new Promise((r) => setTimeout(r, 1_200));
    for (const t of targets) await measure(opts.clientBin, t.server, p16[0]!, t.path, t.size);

    // Memory over the measured rounds, every process of each server together (procs.ts says why PSS).
    const memory = new Map(targets.map((t) => [t.server.name, trackPeakMemory(t.server)] as const));
    const samples = new Map<string, SideRow[]>();
    const add = (r: SideRow): void => {
      const k = `${r.server}|${r.pattern}|${r.client}`;
      samples.set(k, [...(samples.get(k) ?? []), r]);
      opts.log(
        `side by side ${r.pattern.padEnd(3)} ${r.client.padEnd(4)} ${r.server.padEnd(12)} ${r.gbPerSecond.toFixed(2)} GB/s, ` +
          `${r.requestsPerSecond.toFixed(0)} req/s, ${r.serverCpuSecondsPerGb.toFixed(3)} CPU s/GB`,
      );
    };
    for (let round = 0; round < opts.rounds; round++) {
      // Rotated each round, so drift in the machine's load does not favour one server.
      const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
      for (const { label, def } of defs) {
        for (const t of order) {
          await warmUp(opts.clientBin, t.server, def, t.path, t.size);
          const s = await measure(opts.clientBin, t.server, def, t.path, t.size);
          add({
            server: t.server.name,
            pattern: label,
            client: 'c',
            gbPerSecond: s.client.bytes / s.client.seconds / 1e9,
            requestsPerSecond: s.client.requests / s.client.seconds,
            serverCpuSecondsPerGb: s.serverCpuSeconds / (s.client.bytes / 1e9),
            p50Ms: s.client.latP50 * 1000,
            p99Ms: s.client.latP99 * 1000,
            stealCores: s.stealSeconds / s.client.seconds,
          });
        }
      }
      for (const t of order) {
        for (const [label, n] of [
          ['a', 1],
          ['c16', 16],
        ] as const) {
          await warmUp(opts.clientBin, t.server, p16[0]!, t.path, t.size);
          const before = await t.server.sample();
          const { value: r, stealCores } = await withSteal(() => curlGets(t, n));
          const cpu = (await t.server.sample()).cpuSeconds - before.cpuSeconds;
          add({
            server: t.server.name,
            pattern: label,
            client: 'curl',
            gbPerSecond: r.bytes / r.seconds / 1e9,
            requestsPerSecond: r.requests / r.seconds,
            serverCpuSecondsPerGb: cpu / (r.bytes / 1e9),
            p50Ms: pct(r.lat, 0.5) * 1000,
            p99Ms: pct(r.lat, 0.99) * 1000,
            stealCores,
          });
        }
        await warmUp(opts.clientBin, t.server, p16[3]!, t.path, t.size);
        const before = await t.server.sample();
        const { value: w, stealCores } = await withSteal(() => wrkRandom(t, script, opts.randomSeconds));
        const cpu = (await t.server.sample()).cpuSeconds - before.cpuSeconds;
        add({
          server: t.server.name,
          pattern: 'd',
          client: 'wrk',
          gbPerSecond: w.bytes / w.seconds / 1e9,
          requestsPerSecond: w.requests / w.seconds,
          serverCpuSecondsPerGb: cpu / (w.bytes / 1e9),
          p50Ms: w.p50,
          p99Ms: w.p99,
          stealCores,
        });
      }
    }
    const rows = [...samples.values()].map((rs): SideRow => {
      const m = (f: (r: SideRow) => number): number => median(rs.map(f));
      const r0 = rs[0]!;
      return {
        server: r0.server,
        pattern: r0.pattern,
        client: r0.client,
        gbPerSecond: m((r) => r.gbPerSecond),
        requestsPerSecond: m((r) => r.requestsPerSecond),
        serverCpuSecondsPerGb: m((r) => r.serverCpuSecondsPerGb),
        p50Ms: m((r) => r.p50Ms),
        p99Ms: m((r) => r.p99Ms),
        stealCores: m((r) => r.stealCores),
      };
    });
    const roundRatios = [];
    for (const [key, rs] of samples) {
      const [server, pattern, client] = key.split('|') as [string, string, string];
      const ng = samples.get(`nginx|${pattern}|${client}`);
      if (server === 'nginx' || !ng) continue;
      roundRatios.push({ pattern, client, server, ratios: rs.map((r, i) => r.gbPerSecond / (ng[i]?.gbPerSecond ?? NaN)) });
    }
    const servers = [];
    for (const t of targets) {
      const peaks = (await memory.get(t.server.name)?.stop()) ?? { pssSumBytes: 0, rssSumBytes: 0 };
      servers.push({
        name: t.server.name,
        processes: t.processes,
        peakRssSumBytes: (await t.server.sample()).hwmSumBytes,
        peakPssSumBytes: peaks.pssSumBytes,
        peakRssSampledBytes: peaks.rssSumBytes,
      });
    }
    return { servers, rows, roundRatios };
  } finally {
    for (const s of started) await s.stop();
  }
}

/** One cold wave's figures at a number of workers. */
export interface WaveAtWorkers {
  readonly workers: number;
  readonly nodes: number;
  readonly upstreamBytesPerImage: number;
  readonly peakRssBytes: number;
  readonly peakPssBytes: number;
  readonly peakRssSampledBytes: number;
  readonly totalSeconds: number;
}

/** The side-by-side tables: one row per pattern and client, a column group per server. */
export function sideBySideMarkdown(r: SideBySide, waves?: readonly WaveAtWorkers[]): string {
  const names = r.servers.map((s) => s.name);
  const group = (suffix: string): string => names.map((n) => `${n} ${suffix}`).join(' | ');
  const lines = [
    '## Side by side',
    '',
    'Medians over the rounds. Ratios are to nginx in the same run. On a loaded machine (other work on the cores) the figures',
    'say little; compare them only from an idle machine. "steal" is the cores the hypervisor took from this virtual machine',
    `during the server's runs (/proc/stat): it slows the server and the client alike, and a ratio between two servers is`,
    `only fair when their steal is alike; ${STEAL_NOTED_CORES} cores or more is marked with !.`,
    '',
    `| pattern | client | ${group('GB/s (x nginx)')} | ${group('req/s')} | ${group('CPU s/GB')} | ${group('p50/p99 ms')} | ${group('steal')} |`,
    `|---|---|${names
      .map(() => '---|')
      .join('')
      .repeat(5)}`,
  ];
  const keys = [...new Set(r.rows.map((x) => `${x.pattern}|${x.client}`))];
  for (const k of keys) {
    const [pattern, client] = k.split('|');
    const of = (n: string): SideRow | undefined => r.rows.find((x) => x.server === n && x.pattern === pattern && x.client === client);
    const ng = of('nginx');
    const cell = (f: (x: SideRow) => string): string =>
      names
        .map((n) => {
          const x = of(n);
          return x ? f(x) : '-';
        })
        .join(' | ');
    const gbs = cell((x) => `${x.gbPerSecond.toFixed(2)}${ng ? ` (${(x.gbPerSecond / ng.gbPerSecond).toFixed(2)}x)` : ''}`);
    const rps = cell((x) => x.requestsPerSecond.toFixed(0));
    const cpu = cell((x) => x.serverCpuSecondsPerGb.toFixed(3));
    const lat = cell((x) => `${x.p50Ms.toFixed(1)}/${x.p99Ms.toFixed(1)}`);
    const steal = cell((x) => `${x.stealCores.toFixed(2)}${x.stealCores >= STEAL_NOTED_CORES ? ' !' : ''}`);
    lines.push(`| ${pattern} | ${client} | ${gbs} | ${rps} | ${cpu} | ${lat} | ${steal} |`);
  }
  const ratioServers = [...new Set(r.roundRatios.map((x) => x.server))];
  if (ratioServers.length > 0) {
    lines.push(
      '',
      'Throughput over nginx round by round (each ratio from runs a few seconds apart; their median beside them). The spread',
      'is the machine: on a shared 2-core machine the same server can differ by 2x between consecutive runs.',
      '',
      `| pattern | client | ${ratioServers.join(' | ')} |`,
      `|---|---|${ratioServers.map(() => '---|').join('')}`,
    );
    for (const k of keys) {
      const [pattern, client] = k.split('|');
      const cells = ratioServers.map((server) => {
        const x = r.roundRatios.find((y) => y.server === server && y.pattern === pattern && y.client === client);
        return x ? `${x.ratios.map((v) => v.toFixed(2)).join(' ')} (median ${median(x.ratios).toFixed(2)})` : '-';
      });
      lines.push(`| ${pattern} | ${client} | ${cells.join(' | ')} |`);
    }
  }
  const mib = (b: number): string => `${(b / MiB).toFixed(0)} MiB`;
  lines.push(
    '',
    "Peak RSS is each process's VmHWM, summed: pages the processes share (Node's binary, about 42 MiB each) count once per",
    'process, and peaks that came at different times add up. The sampled peaks (every 250 ms over the measured rounds, the',
    'warm-up and registration not in them; for a cold wave, from registration to its end) are the largest sums seen at one',
    'time: of RSS, what all processes held together at once, and of PSS, which counts shared pages once. A peak shorter',
    'than 250 ms can be missed.',
    '',
    '| server | processes | sum of VmHWM | peak of the summed RSS | peak of the summed PSS |',
    '|---|---|---|---|---|',
  );
  for (const s of r.servers)
    lines.push(`| ${s.name} | ${s.processes} | ${mib(s.peakRssSumBytes)} | ${mib(s.peakRssSampledBytes)} | ${mib(s.peakPssSumBytes)} |`);
  if (waves && waves.length > 0) {
    lines.push(
      '',
      '| cold wave | nodes | upstream bytes / one image | sum of VmHWM | peak of the summed RSS | peak of the summed PSS | seconds |',
      '|---|---|---|---|---|---|---|',
    );
    for (const w of waves) {
      lines.push(
        `| --workers ${w.workers} | ${w.nodes} | ${w.upstreamBytesPerImage.toFixed(3)}x | ${mib(w.peakRssBytes)} | ${mib(w.peakRssSampledBytes)} | ${mib(w.peakPssBytes)} | ${w.totalSeconds.toFixed(1)} |`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
