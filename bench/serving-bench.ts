// Serving from a warm cache, isoproxy (a node with edits) next to nginx serving the upstream file
// with sendfile. Four patterns, each driven by the C client (bench/client.c):
//   (a) one whole-image GET;  (b) sequential 1 MiB ranges on one keep-alive connection;
//   (c) 32 concurrent whole-image GETs;  (d) random 256 KiB ranges from 16 connections.
// Rounds alternate which server goes first, so drift in the machine's load hits both alike.
// Server CPU comes from /proc (all of isoproxy's threads; nginx's master and workers), the
// client's from its own getrusage, so each row can say which side was the bottleneck.

import type { ClientResult, Server } from './procs.js';
import { machineCpu, runClient } from './procs.js';
import { median, MiB } from './stats.js';

export type PatternId = 'a' | 'b' | 'c' | 'd';

export interface PatternDef {
  readonly id: PatternId;
  readonly title: string;
  readonly mode: 'get' | 'seq' | 'rand';
  readonly args: (path: string, size: number) => string[];
}

export function patterns(randomSeconds: number, concurrent: number): PatternDef[] {
  return [
    { id: 'a', title: 'one whole-image GET', mode: 'get', args: (p) => ['--conns', '1', '--path', p] },
    {
      id: 'b',
      title: 'sequential 1 MiB ranges, one keep-alive connection',
      mode: 'seq',
      args: (p, s) => ['--path', p, '--size', String(s), '--chunk', String(MiB)],
    },
    { id: 'c', title: `${concurrent} concurrent whole-image GETs`, mode: 'get', args: (p) => ['--conns', String(concurrent), '--path', p] },
    {
      id: 'd',
      title: 'random 256 KiB ranges, 16 connections',
      mode: 'rand',
      args: (p, s) => ['--conns', '16', '--path', p, '--size', String(s), '--chunk', String(256 * 1024), '--seconds', String(randomSeconds)],
    },
  ];
}

export interface Sample {
  readonly client: ClientResult;
  readonly serverCpuSeconds: number;
  /** CPU seconds the machine spent on anything else over the run (other processes on a shared machine). */
  readonly otherCpuSeconds: number;
  /** CPU seconds the hypervisor took from this machine over the run (procs.ts machineCpu). */
  readonly stealSeconds: number;
}

/** Seconds of random ranges run, unmeasured, before each measured run of (d). */
export const WARM_UP_SECONDS = 2;

/**
 * A short unmeasured run right before a measured one, the same for every server: random ranges for
 * WARM_UP_SECONDS before (d), one whole GET before the others. On this 2-core virtual machine a
 * server left idle for half a minute (while the other servers of the side by side ran) started
 * its next run in a state where the client's and the server's wake-ups crossed cores as
 * interrupts: 3.4 interrupts per request (local timer, function-call IPIs) against 0.4, and 2-2.5x
 * the server's CPU per request for the whole 5 s of (d) (isoproxy 167-255 against 64-90 us,
 * nginx 94 against 76), while the run right after was normal. With two seconds of the pattern
 * first, isoproxy after the same idle measured 64-90 us and nginx 76-82.
 */
export async function warmUp(clientBin: string, server: Server, def: PatternDef, path: string, size: number): Promise<void> {
  const [wholeGet, , , ranges] = patterns(WARM_UP_SECONDS, 1);
  const warm = def.mode === 'rand' ? ranges! : wholeGet!;
  await runClient(clientBin, warm.mode, server.port, warm.args(path, size));
}

/** Runs one pattern against one server, with the server's CPU time over the run. */
export async function measure(clientBin: string, server: Server, def: PatternDef, path: string, size: number): Promise<Sample> {
  const before = await server.sample();
  const cpu0 = await machineCpu();
  const client = await runClient(clientBin, def.mode, server.port, def.args(path, size));
  const cpu1 = await machineCpu();
  const after = await server.sample();
  const serverCpuSeconds = after.cpuSeconds - before.cpuSeconds;
  return {
    client,
    serverCpuSeconds,
    otherCpuSeconds: Math.max(0, cpu1.busy - cpu0.busy - serverCpuSeconds - client.clientCpuSeconds),
    stealSeconds: cpu1.steal - cpu0.steal,
  };
}

export interface PatternFigures {
  readonly gbPerSecond: number;
  /** Spread over the rounds: on a shared machine the rounds can differ severalfold. */
  readonly gbPerSecondMin: number;
  readonly gbPerSecondMax: number;
  readonly requestsPerSecond: number;
  readonly msPerRequestP50: number;
  readonly msPerRequestP99: number;
  readonly ttfbMsP50: number;
  readonly serverCpuSecondsPerGb: number;
  /** Cores busy on average over the run. */
  readonly serverCores: number;
  readonly clientCores: number;
  /** Cores busy with other work on the machine over the run. */
  readonly otherCores: number;
  /** Cores the hypervisor took over the run (steal). */
  readonly stealCores: number;
  readonly rounds: number;
}

/** Medians over the rounds of each figure. */
export function summarize(samples: readonly Sample[]): PatternFigures {
  const m = (f: (s: Sample) => number) => median(samples.map(f));
  return {
    gbPerSecond: m((s) => s.client.bytes / s.client.seconds / 1e9),
    gbPerSecondMin: Math.min(...samples.map((s) => s.client.bytes / s.client.seconds / 1e9)),
    gbPerSecondMax: Math.max(...samples.map((s) => s.client.bytes / s.client.seconds / 1e9)),
    requestsPerSecond: m((s) => s.client.requests / s.client.seconds),
    msPerRequestP50: m((s) => s.client.latP50 * 1000),
    msPerRequestP99: m((s) => s.client.latP99 * 1000),
    ttfbMsP50: m((s) => s.client.ttfbP50 * 1000),
    serverCpuSecondsPerGb: m((s) => s.serverCpuSeconds / (s.client.bytes / 1e9)),
    serverCores: m((s) => s.serverCpuSeconds / s.client.seconds),
    clientCores: m((s) => s.client.clientCpuSeconds / s.client.seconds),
    otherCores: m((s) => s.otherCpuSeconds / s.client.seconds),
    stealCores: m((s) => s.stealSeconds / s.client.seconds),
    rounds: samples.length,
  };
}

/** Steal (cores, averaged over a run) from which a run's figures are marked as low. */
export const STEAL_NOTED_CORES = 0.2;

/**
 * Which side limited a run. The server's ceiling is its processes' cores (isoproxy: one event
 * loop; nginx: one worker per connection, up to its worker count), the client's is one thread per
 * connection, and both share the machine's cores.
 */
export function bottleneck(f: PatternFigures, serverMaxCores: number, machineCores: number): string {
  const total = f.serverCores + f.clientCores + f.otherCores;
  const stolen = f.stealCores >= STEAL_NOTED_CORES ? `; hypervisor steal ${f.stealCores.toFixed(2)} cores: the figures are low` : '';
  const s = `server ${f.serverCores.toFixed(2)} / client ${f.clientCores.toFixed(2)} / other work ${f.otherCores.toFixed(2)} cores${stolen}`;
  if (total >= machineCores * 0.85) {
    const top =
      f.otherCores >= Math.max(f.serverCores, f.clientCores) ? 'other work on the machine' : f.serverCores >= f.clientCores ? 'server' : 'client';
    return `machine CPU (${s}; largest share: ${top})`;
  }
  if (f.serverCores >= serverMaxCores * 0.85) return `server CPU (${s})`;
  if (f.clientCores >= 0.85) return `client CPU (${s})`;
  return `neither saturated: latency-bound (${s})`;
}
