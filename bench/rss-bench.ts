// Peak memory of `isoproxy serve --workers N` at C concurrent whole-image transfers, every process
// together (the primary, which serves too, and each worker it forks; a process's piscina threads
// are inside its figures).
// The cache is warm (one whole GET first, and the server's directory is kept under --out, so a
// later run starts warm), the base a bench/base-image.ts image read as file:// (no upstream in
// the measure). Each client is a raw socket that asks for a whole node image and reads it slowly
// (--rate-kib per second), so all C transfers stay open, each held back by its client as a BMC's
// is. /proc/<pid>/status (VmRSS, VmHWM, Threads) and smaps_rollup (PSS: pages shared between the
// processes, Node's own binary above all, counted once) of every process are sampled every 200 ms.
// The target is on the sum of RSS; the sum of PSS says what the processes take together.
//
//   node dist/bench/rss-bench.js [--size-mib 512] [--clients 200] [--workers 2] [--seconds 20]
//        [--rate-kib 512] [--waves 2] [--pause 15] [--out bench/out] [--extra "--flag value ..."]
// Waves: the first is each worker's first sight of the nodes (it indexes the base and computes
// their patch sets); a later one, --pause seconds after, finds them memoized.
// Prints one table; writes <out>/rss-bench.json. No target is checked here: the figure is reported.

import { readFile, writeFile } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureBaseImage } from './base-image.js';
import { childrenOf, pssBytes, startIsoproxy } from './procs.js';
import { nodeEdits } from './remaster-bench.js';
import { MiB } from './stats.js';
import { registerNode } from './wave-bench.js';

const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '512' },
    clients: { type: 'string', default: '200' },
    workers: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '20' },
    'rate-kib': { type: 'string', default: '512' },
    out: { type: 'string', default: join(import.meta.dirname, '../../bench/out') },
    extra: { type: 'string', default: '' },
    waves: { type: 'string', default: '2' },
    pause: { type: 'string', default: '15' },
  },
});
const sizeMiB = Number(values['size-mib']);
const clients = Number(values.clients);
const workers = Number(values.workers);
const seconds = Number(values.seconds);
const rateBytes = Number(values['rate-kib']) * 1024;
const out = resolve(values.out);
const extra = values.extra.split(' ').filter(Boolean);
const waves = Math.max(1, Number(values.waves));
/** Between waves: longer than a cluster worker's patch-set thread stays idle (10 s). */
const pauseSeconds = Number(values.pause);

interface ProcStatus {
  readonly rss: number;
  /** Proportional set size: pages shared with other processes (Node's own binary) counted once across them. */
  readonly pss: number;
  readonly hwm: number;
  readonly threads: number;
}

async function status(pid: number): Promise<ProcStatus | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/status`, 'utf8');
    const kib = (f: string): number => Number(new RegExp(`^${f}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
    return { rss: kib('VmRSS') * 1024, pss: await pssBytes(pid), hwm: kib('VmHWM') * 1024, threads: kib('Threads') };
  } catch {
    return undefined;
  }
}

/** A client reading one whole image at `rateBytes` per second at most (pausing its socket). */
interface Client {
  readonly socket: Socket;
  status: number;
  bytes: number;
  allowance: number;
  paused: boolean;
}

function startClient(port: number, path: string): Client {
  const socket = createConnection({ port, host: '127.0.0.1' });
  const c: Client = { socket, status: 0, bytes: 0, allowance: rateBytes / 10, paused: false };
  let head = '';
  socket.on('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
  socket.on('data', (chunk: Buffer) => {
    if (c.status === 0) {
      head += chunk.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(head);
      if (m) c.status = Number(m[1]);
    }
    c.bytes += chunk.length;
    c.allowance -= chunk.length;
    if (c.allowance <= 0 && !c.paused) {
      c.paused = true;
      socket.pause();
    }
  });
  socket.on('error', () => {});
  return c;
}

async function main(): Promise<void> {
  const image = await ensureBaseImage(out, sizeMiB, (l) => console.log(l));
  const server = await startIsoproxy({
    dir: join(out, `rss-w${workers}`),
    allowUpstream: [],
    cacheBudget: `${sizeMiB * 2}MiB`,
    logLevel: 'warn',
    workers,
    extraArgs: ['--allow-dir', dirname(image.path), ...extra],
  });
  try {
    const nodes = clients;
    for (let i = 0; i < nodes; i++) await registerNode(server.port, `rss-${i}`, `file://${image.path}`, nodeEdits(i));
    // Warm: one whole GET (a no-op when the kept cache directory already holds the image).
    const t0 = performance.now();
    const res = await fetch(`http://127.0.0.1:${server.port}/iso/rss-0.iso`);
    let warmBytes = 0;
    for await (const chunk of res.body!) warmBytes += (chunk as Uint8Array).length;
    console.log(`warm GET: ${(warmBytes / MiB).toFixed(0)} MiB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const pids = async (): Promise<Array<{ role: string; pid: number }>> => {
      const kids = workers > 1 ? await childrenOf(server.pid) : [];
      return [{ role: workers > 1 ? 'primary' : 'server', pid: server.pid }, ...kids.map((pid, i) => ({ role: `worker ${i + 1}`, pid }))];
    };
    const mib = (n: number | undefined): string => (n === undefined ? '-' : `${(n / MiB).toFixed(1)}`);
    const results: unknown[] = [];
    for (let w = 1; w <= waves; w++) {
      if (w > 1) await new Promise((r) => setTimeout(r, pauseSeconds * 1000));
      const idle = new Map<number, ProcStatus>();
      for (const p of await pids()) {
        const s = await status(p.pid);
        if (s) idle.set(p.pid, s);
      }
      const all: Client[] = Array.from({ length: clients }, (_, i) => startClient(server.port, `/iso/rss-${i % nodes}.iso`));
      const refill = setInterval(() => {
        for (const c of all) {
          c.allowance = Math.min(c.allowance + rateBytes / 10, rateBytes / 10);
          if (c.paused && c.allowance > 0) {
            c.paused = false;
            c.socket.resume();
          }
        }
      }, 100);
      const peak = new Map<number, ProcStatus>();
      let peakSum = 0;
      let peakPssSum = 0;
      const deadline = Date.now() + seconds * 1000;
      while (Date.now() < deadline) {
        let sum = 0;
        let pssSum = 0;
        for (const p of await pids()) {
          const s = await status(p.pid);
          if (!s) continue;
          sum += s.rss;
          pssSum += s.pss;
          const prev = peak.get(p.pid);
          peak.set(p.pid, {
            rss: Math.max(prev?.rss ?? 0, s.rss),
            pss: Math.max(prev?.pss ?? 0, s.pss),
            hwm: s.hwm,
            threads: Math.max(prev?.threads ?? 0, s.threads),
          });
        }
        peakSum = Math.max(peakSum, sum);
        peakPssSum = Math.max(peakPssSum, pssSum);
        await new Promise((r) => setTimeout(r, 200));
      }
      clearInterval(refill);
      const open = all.filter((c) => c.status === 200 && !c.socket.destroyed).length;
      const bytes = all.reduce((a, c) => a + c.bytes, 0);
      for (const c of all) c.socket.destroy();

      const rows = (await pids()).map((p) => ({ ...p, idle: idle.get(p.pid), peak: peak.get(p.pid) }));
      // The first wave is each worker's first sight of most nodes (it indexes the base and computes
      // their patch sets); later ones find them memoized.
      console.log(`\nwave ${w}: ${clients} clients at ${values['rate-kib']} KiB/s for ${seconds} s, --workers ${workers} ${extra.join(' ')}`);
      console.log(
        `open 200 responses at the end: ${open}; bytes read: ${(bytes / MiB).toFixed(0)} MiB; load: ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}`,
      );
      console.log('| process | RSS before (MiB) | peak RSS (MiB) | peak PSS (MiB) | VmHWM (MiB) | threads |');
      console.log('|---|---|---|---|---|---|');
      for (const r of rows)
        console.log(
          `| ${r.role} | ${mib(r.idle?.rss)} | ${mib(r.peak?.rss)} | ${mib(r.peak?.pss)} | ${mib(r.peak?.hwm)} | ${r.peak?.threads ?? '-'} |`,
        );
      const hwmSum = rows.reduce((a, r) => a + (r.peak?.hwm ?? 0), 0);
      console.log(
        `| all (peak of the sum) | ${mib(rows.reduce((a, r) => a + (r.idle?.rss ?? 0), 0))} | ${mib(peakSum)} | ${mib(peakPssSum)} | ${mib(hwmSum)} (sum of VmHWM) | |`,
      );
      results.push({ wave: w, open, bytes, peakSumBytes: peakSum, peakPssSumBytes: peakPssSum, hwmSumBytes: hwmSum, rows, load: loadavg() });
    }
    await writeFile(join(out, 'rss-bench.json'), JSON.stringify({ clients, workers, seconds, rateBytes, extra, results }, null, 2));
  } finally {
    await server.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
