// Processes the benchmark starts and measures: nginx (Debian, a temporary config on a free port,
// sendfile on) and `isoproxy serve` as its own process, so CPU time and peak memory are per server
// process, read from /proc/<pid>/stat (utime + stime, proc(5) fields 14 and 15, in clock ticks)
// and /proc/<pid>/status (VmHWM, VmRSS). nginx's workers are separate processes: they are found
// through /proc/<pid>/task/<pid>/children and summed with the master.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { join, resolve } from 'node:path';

/** proc(5): utime and stime are in clock ticks; Linux user space uses 100 ticks per second. */
const CLOCK_TICKS = 100;

export async function execFileText(cmd: string, args: readonly string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      cmd,
      args as string[],
      { cwd: options.cwd, timeout: options.timeoutMs ?? 300_000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
        else resolvePromise(stdout);
      },
    );
  });
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export async function waitForPort(port: number, proc: ChildProcess, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode}`);
    const ok = await new Promise<boolean>((r) => {
      const s = createConnection({ port, host: '127.0.0.1' }, () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not listen on port ${port} within ${timeoutMs} ms`);
}

/**
 * CPU seconds the whole machine has spent since boot (proc(5) /proc/stat, "cpu" line): `busy` is
 * user, nice, system, irq and softirq (guest time is inside user); `steal` is time this virtual
 * machine was ready to run but the hypervisor ran something else. Steal is not work on this
 * machine, but it slows whatever runs here: a run with much of it measures the host's neighbours.
 */
export async function machineCpu(): Promise<{ readonly busy: number; readonly steal: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const at = (i: number): number => (Number.isFinite(f[i]) ? f[i]! : 0);
  return { busy: (at(0) + at(1) + at(2) + at(5) + at(6)) / CLOCK_TICKS, steal: at(7) / CLOCK_TICKS };
}

/** Runs `f` and says how many cores the hypervisor took as steal, on average, meanwhile. */
export async function withSteal<T>(f: () => Promise<T>): Promise<{ readonly value: T; readonly stealCores: number }> {
  const t0 = performance.now();
  const c0 = await machineCpu();
  const value = await f();
  const c1 = await machineCpu();
  return { value, stealCores: (c1.steal - c0.steal) / Math.max(1e-3, (performance.now() - t0) / 1000) };
}

export interface ProcSample {
  /** user + system CPU seconds of the process and of the children listed with it. */
  readonly cpuSeconds: number;
  /** Peak resident set (VmHWM) of the largest process, and the sum over them. */
  readonly hwmBytes: number;
  readonly hwmSumBytes: number;
  readonly rssSumBytes: number;
}

/** The direct children of `pid` (nginx's workers, a cluster's workers); none once it is gone. */
export async function childrenOf(pid: number): Promise<number[]> {
  try {
    const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
    return text.split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function statusKiB(pid: number, field: string): Promise<number> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

async function cpuTicks(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces: split after its closing parenthesis.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  return Number(fields[11]) + Number(fields[12]);
}

/** CPU and memory of `pid` and (with `withChildren`) its direct children, e.g. nginx's workers. */
export async function sampleProc(pid: number, withChildren = false): Promise<ProcSample> {
  const pids = [pid, ...(withChildren ? await childrenOf(pid) : [])];
  let ticks = 0;
  let hwm = 0;
  let hwmSum = 0;
  let rss = 0;
  for (const p of pids) {
    try {
      ticks += await cpuTicks(p);
      const h = (await statusKiB(p, 'VmHWM')) * 1024;
      hwm = Math.max(hwm, h);
      hwmSum += h;
      rss += (await statusKiB(p, 'VmRSS')) * 1024;
    } catch {
      // A process that just exited: nothing to add.
    }
  }
  return { cpuSeconds: ticks / CLOCK_TICKS, hwmBytes: hwm, hwmSumBytes: hwmSum, rssSumBytes: rss };
}

/** Proportional set size of `pid` in bytes (0 once it is gone): its shared pages counted once across the processes sharing them. */
export async function pssBytes(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
  const m = /^Pss:\s+(\d+) kB/m.exec(text);
  return m ? Number(m[1]) * 1024 : 0;
}

/** The resident size of a process now (VmRSS), 0 once it is gone. */
async function rssBytes(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const m = /^VmRSS:\s+(\d+) kB/m.exec(text);
  return m ? Number(m[1]) * 1024 : 0;
}

/** Peaks of a server's memory summed over its processes, sampled (trackPeakMemory). */
export interface MemoryPeaks {
  /** The largest sum of PSS seen. */
  readonly pssSumBytes: number;
  /** The largest sum of RSS seen at one time: what "all processes together" held at once. */
  readonly rssSumBytes: number;
}

/**
 * The peaks of a server's PSS and RSS summed over its processes, sampled every `everyMs` from now
 * until `stop`. Summed RSS counts each process's copy of the pages they share (Node's own binary,
 * about 42 MiB per process) once per process; PSS splits them, so its sum is what the processes
 * hold together. The sum of each process's VmHWM (ProcSample.hwmSumBytes) adds peaks that came at
 * different times; the sampled sum of RSS does not, but a peak shorter than `everyMs` can be
 * missed (VmHWM cannot be).
 */
export function trackPeakMemory(server: Server, everyMs = 250): { stop(): Promise<MemoryPeaks> } {
  let pssPeak = 0;
  let rssPeak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const pids = [server.pid, ...(server.withChildren ? await childrenOf(server.pid) : [])];
      let pss = 0;
      let rss = 0;
      for (const p of pids) {
        pss += await pssBytes(p);
        rss += await rssBytes(p);
      }
      pssPeak = Math.max(pssPeak, pss);
      rssPeak = Math.max(rssPeak, rss);
      // Unreferenced: a run that throws before `stop` must not be kept alive by this.
      await new Promise((r) => setTimeout(r, everyMs).unref());
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { pssSumBytes: pssPeak, rssSumBytes: rssPeak };
    },
  };
}

export interface Server {
  readonly name: string;
  readonly port: number;
  readonly pid: number;
  /** True for servers whose worker processes are children (nginx). */
  readonly withChildren: boolean;
  sample(): Promise<ProcSample>;
  stop(): Promise<void>;
}

async function stopChild(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

export interface NginxOptions {
  readonly dir: string;
  /** Directory served at / */
  readonly root: string;
  readonly workers: number;
  /** Extra lines inside the server block. */
  readonly extra?: readonly string[];
}

/** nginx with a temporary config: sendfile on, access log on (like isoproxy's transfer log). */
export async function startNginx(options: NginxOptions): Promise<Server> {
  const dir = resolve(options.dir);
  await mkdir(join(dir, 'tmp'), { recursive: true });
  const port = await freePort();
  const t = join(dir, 'tmp');
  const conf = [
    process.getuid?.() === 0 ? 'user root;' : '',
    `worker_processes ${options.workers};`,
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'error.log')};`,
    'events { worker_connections 1024; }',
    'http {',
    `  access_log ${join(dir, 'access.log')};`,
    `  client_body_temp_path ${t}; proxy_temp_path ${t}; fastcgi_temp_path ${t}; uwsgi_temp_path ${t}; scgi_temp_path ${t};`,
    '  sendfile on;',
    '  tcp_nopush on;',
    '  keepalive_requests 1000000;',
    '  default_type application/octet-stream;',
    `  server { listen 127.0.0.1:${port}; root ${resolve(options.root)}; ${(options.extra ?? []).join(' ')} }`,
    '}',
  ].join('\n');
  await writeFile(join(dir, 'nginx.conf'), conf);
  const proc = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' });
  await waitForPort(port, proc, 'nginx');
  const pid = proc.pid!;
  return { name: 'nginx', port, pid, withChildren: true, sample: () => sampleProc(pid, true), stop: () => stopChild(proc) };
}

export interface IsoproxyOptions {
  readonly dir: string;
  readonly allowUpstream: readonly string[];
  readonly cacheBudget: string;
  readonly logLevel?: string;
  readonly extraArgs?: readonly string[];
  /** Arguments for node itself (e.g. --cpu-prof when investigating). */
  readonly nodeArgs?: readonly string[];
  /** Serving processes (--workers); default 1, one process as the earlier sections measured. */
  readonly workers?: number;
}

/** `node dist/src/cli.js serve` as its own process on a free port; its log goes to dir/isoproxy.log. */
export async function startIsoproxy(options: IsoproxyOptions): Promise<Server> {
  const dir = resolve(options.dir);
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const cli = resolve(import.meta.dirname, '../src/cli.js');
  const workers = options.workers ?? 1;
  const args = [
    ...(options.nodeArgs ?? []),
    cli,
    'serve',
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--data-dir',
    join(dir, 'data'),
    '--cache-dir',
    join(dir, 'cache'),
    '--cache-budget',
    options.cacheBudget,
    '--log-level',
    options.logLevel ?? 'info',
    '--workers',
    String(workers),
    ...options.allowUpstream.flatMap((u) => ['--allow-upstream', u]),
    // Every benchmark client connects from 127.0.0.1: a crowd of BMCs on one address.
    '--max-transfers-per-client',
    '100000',
    ...(options.extraArgs ?? []),
  ];
  // The transfer log goes straight to a file, as nginx's access log does: a pipe through this
  // process would put the benchmark's own event loop on isoproxy's logging path.
  const log = openSync(join(dir, 'isoproxy.log'), 'a');
  const proc = spawn(process.execPath, args, { stdio: ['ignore', log, log] });
  closeSync(log);
  await waitForPort(port, proc, 'isoproxy');
  const pid = proc.pid!;
  // With several workers, the primary serves and so do its children: CPU and memory sum them.
  const many = workers > 1;
  return {
    name: many ? `isoproxy-w${workers}` : 'isoproxy',
    port,
    pid,
    withChildren: many,
    sample: () => sampleProc(pid, many),
    stop: () => stopChild(proc),
  };
}

/**
 * A plain Node file server (bench/node-file-server.ts) as its own process: what Node itself costs
 * to serve a file in 1 MiB reads, the floor isoproxy at one worker is measured against.
 */
export async function startNodeFileServer(dir: string, file: string): Promise<Server> {
  const port = await freePort();
  const script = resolve(import.meta.dirname, 'node-file-server.js');
  const proc = spawn(process.execPath, [script, String(port), resolve(file)], { stdio: 'ignore', cwd: dir });
  await waitForPort(port, proc, 'node file server');
  const pid = proc.pid!;
  return { name: 'node-fs', port, pid, withChildren: false, sample: () => sampleProc(pid, false), stop: () => stopChild(proc) };
}

export interface ClientResult {
  readonly mode: string;
  readonly conns: number;
  readonly bytes: number;
  readonly requests: number;
  readonly errors: number;
  readonly seconds: number;
  readonly latP50: number;
  readonly latP99: number;
  readonly ttfbP50: number;
  readonly ttfbP99: number;
  readonly firstByteP50: number;
  readonly firstByteP99: number;
  readonly clientCpuSeconds: number;
}

/** Runs the C client; rejects when it reports errors (wrong status or length). */
export async function runClient(binary: string, mode: string, port: number, args: readonly string[]): Promise<ClientResult> {
  return new Promise((resolvePromise, reject) => {
    execFile(binary, [mode, '127.0.0.1', String(port), ...args], { timeout: 1_800_000, maxBuffer: 1024 * 1024 }, (err, stdout, stderr) => {
      let parsed: ClientResult | undefined;
      try {
        parsed = JSON.parse(stdout) as ClientResult;
      } catch {
        // reported below
      }
      if (parsed && parsed.errors === 0 && !err) resolvePromise(parsed);
      else
        reject(
          new Error(`client ${mode} ${args.join(' ')}: ${parsed ? `${parsed.errors} errors` : 'no result'} ${stderr.trim()} ${err?.message ?? ''}`),
        );
    });
  });
}
