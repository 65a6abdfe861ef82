// Issue 12's bench: what the Ironic node source costs Ironic and the BMC.
//   1. Ironic calls per node in a 50-node wave: every node reads its image by ranges, paced so
//      the wave spans several cache periods; calls are counted in Ironic's own access log
//      (`GET /v1/nodes/<uuid>?fields=...`), not in isoproxy's counters. Expected: about one per
//      cache period per node, never one per range.
//   2. The first-byte latency a cold Ironic lookup adds: the first range of a node isoproxy has
//      never looked up, next to the same range again (Ironic data cached), for nodes whose edits
//      are the same so the patch set is warm and only the lookup differs.
// A real Ironic (Debian's python3-ironic 21.4, noauth, one process, sqlite), started by the Ironic
// tests' harness (test/ironic/harness.ts, compiled into dist/test/ by `npm run build` through this
// import) with its debug log off, and `isoproxy serve`'s composition root in-process; the base is a
// local file (file:// with --allow-dir) so no upstream is measured. Skips with a message when
// python3-ironic is not installed. Runnable alone: node dist/bench/ironic-bench.js [--nodes 50]
// [--ttl 1s] [--ranges 48] [--range-kib 256] [--pace-ms 100] [--size-mib 64] [--dir DIR]

import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { request } from 'undici';
import { startServer } from '../src/http/server.js';
import { loadConfig } from '../src/config.js';
import { type Ironic, startIronic } from '../test/ironic/harness.js';
import { ironicMissing } from '../test/ironic/python-ironic.js';
import { ensureBaseImage } from './base-image.js';

const repo = resolve(import.meta.dirname, '../..');

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '50' },
    ttl: { type: 'string', default: '1s' },
    ranges: { type: 'string', default: '48' },
    'range-kib': { type: 'string', default: '256' },
    'pace-ms': { type: 'string', default: '100' },
    'latency-nodes': { type: 'string', default: '10' },
    'size-mib': { type: 'string', default: '64' },
    dir: { type: 'string', default: join(repo, 'bench/out') },
  },
});
const opt = {
  nodes: Number(values.nodes),
  ttl: values.ttl!,
  ranges: Number(values.ranges),
  rangeBytes: Number(values['range-kib']) * 1024,
  paceMs: Number(values['pace-ms']),
  latencyNodes: Number(values['latency-nodes']),
  sizeMiB: Number(values['size-mib']),
  dir: resolve(values.dir!),
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};

/** A node whose image isoproxy can serve; its BMC is never asked (nothing is deployed). */
async function enroll(ironic: Ironic, name: string, base: string, append: string): Promise<string> {
  const res = await ironic.api('POST', '/v1/nodes', {
    name,
    driver: 'redfish',
    boot_interface: 'redfish-virtual-media',
    deploy_interface: 'ramdisk',
    network_interface: 'noop',
    driver_info: { redfish_address: 'http://127.0.0.1:9', redfish_system_id: '/redfish/v1/Systems/1', redfish_username: 'u', redfish_password: 'p' },
    instance_info: { isoproxy_base_iso: base, kernel_append_params: append, ramdisk_image_download_source: 'http' },
  });
  if (res.status !== 201) throw new Error(`enroll ${name}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.uuid as string;
}

/** Time to the first body byte of one range, and the whole answer drained. */
async function ttfb(url: string, start: number, end: number): Promise<number> {
  const t0 = performance.now();
  const res = await request(url, { headers: { range: `bytes=${start}-${end}` } });
  if (res.statusCode !== 206) throw new Error(`${url} ${start}-${end}: ${res.statusCode} ${await res.body.text()}`);
  let t = NaN;
  // Drained by iterating: dump() after a manual next() never settles.
  for await (const _ of res.body) if (Number.isNaN(t)) t = performance.now() - t0;
  return t;
}

export async function ironicBench(log: (line: string) => void = console.log): Promise<string> {
  const missing = ironicMissing();
  if (missing) return `ironic-bench skipped: ${missing}`;
  await mkdir(opt.dir, { recursive: true });
  const scratch = await mkdtemp(join(tmpdir(), 'isoproxy-ironic-bench-'));
  const image = await ensureBaseImage(opt.dir, opt.sizeMiB, log);
  const base = pathToFileURL(image.path).href;
  log('starting Ironic 21.4 (noauth, sqlite, single process)');
  const ironic = await startIronic(scratch, { type: 'noauth' }, { debug: false });
  const config = loadConfig([
    '--port',
    '0',
    '--data-dir',
    join(scratch, 'data'),
    '--cache-dir',
    join(scratch, 'cache'),
    '--cache-budget',
    '1GiB',
    '--workers',
    '2',
    '--allow-dir',
    dirname(image.path),
    '--ironic-url',
    ironic.url,
    '--ironic-cache-ttl',
    opt.ttl,
    // Enrolled nodes are not deploying: serve every state here (the flow's states are tested in test/ironic).
    '--ironic-provision-states',
    '*',
    '--shutdown-deadline',
    '2s',
    // Every simulated BMC is 127.0.0.1: the per-address cap would stand in for a crowd of BMCs.
    '--max-transfers-per-client',
    '100000',
  ]);
  const proxy = await startServer(config, { logger: pino({ level: 'silent' }) });
  const lines: string[] = [];
  try {
    log(`enrolling ${opt.nodes} wave nodes and ${opt.latencyNodes + 1} latency nodes`);
    const wave: string[] = [];
    for (let i = 0; i < opt.nodes; i++) wave.push(await enroll(ironic, `wave-${i}`, base, `%default% console=ttyS0 node=${i}`));
    const lat: string[] = [];
    for (let i = 0; i <= opt.latencyNodes; i++) lat.push(await enroll(ironic, `lat-${i}`, base, '%default% console=ttyS0 lat=1'));

    // 1. The wave.
    log(`wave: ${opt.nodes} nodes × ${opt.ranges} ranges of ${opt.rangeBytes / 1024} KiB, ${opt.paceMs} ms apart, TTL ${opt.ttl}`);
    const t0 = performance.now();
    let ranges = 0;
    await Promise.all(
      wave.map(async (uuid) => {
        const url = `${proxy.url}/ironic/${uuid}.iso`;
        const head = await request(url, { method: 'HEAD' });
        await head.body.dump();
        if (head.statusCode !== 200) throw new Error(`HEAD ${url}: ${head.statusCode}`);
        for (let r = 0; r < opt.ranges; r++) {
          await ttfb(url, r * opt.rangeBytes, (r + 1) * opt.rangeBytes - 1);
          ranges++;
          await sleep(opt.paceMs);
        }
      }),
    );
    const waveS = (performance.now() - t0) / 1000;
    await sleep(200);
    const calls = await Promise.all(wave.map((u) => ironic.nodeGets(u)));
    const total = calls.reduce((a, b) => a + b, 0);
    const ttlS = Number.parseFloat(opt.ttl) / (opt.ttl.endsWith('ms') ? 1000 : 1);
    lines.push(
      `wave: ${opt.nodes} nodes, ${ranges} range requests (+${opt.nodes} HEAD) in ${waveS.toFixed(1)} s (${(waveS / ttlS).toFixed(1)} cache periods of ${opt.ttl})`,
    );
    lines.push(
      `Ironic GET /v1/nodes/<uuid> (Ironic's access log): ${total} in all, per node min ${Math.min(...calls)} / median ${median(calls)} / max ${Math.max(...calls)}; ${(total / (ranges + opt.nodes)).toFixed(4)} per request`,
    );

    // 2. Cold lookup latency: the patch set is warmed by lat-0; lat-1.. share its edits.
    const urlOf = (u: string): string => `${proxy.url}/ironic/${u}.iso`;
    await ttfb(urlOf(lat[0]!), 0, 65_535);
    await ttfb(urlOf(lat[0]!), 0, 65_535);
    const cold: number[] = [];
    const warm: number[] = [];
    const direct: number[] = [];
    for (const u of lat.slice(1)) {
      const d0 = performance.now();
      const res = await ironic.api('GET', `/v1/nodes/${u}?fields=uuid,name,provision_state,instance_info,driver_info`);
      direct.push(performance.now() - d0);
      if (res.status !== 200) throw new Error(`GET /v1/nodes/${u}: ${res.status} ${JSON.stringify(res.body)}`);
      cold.push(await ttfb(urlOf(u), 0, 65_535));
      warm.push(await ttfb(urlOf(u), 0, 65_535));
    }
    lines.push(
      `first byte of a 64 KiB range, ${cold.length} nodes: cold Ironic lookup median ${median(cold).toFixed(1)} ms (max ${Math.max(...cold).toFixed(1)}), cached median ${median(warm).toFixed(1)} ms; added ${(median(cold) - median(warm)).toFixed(1)} ms`,
    );
    lines.push(`for scale, one GET /v1/nodes/<uuid> straight to Ironic: median ${median(direct).toFixed(1)} ms`);
  } finally {
    await proxy.close();
    await ironic.stop();
    await rm(scratch, { recursive: true, force: true });
  }
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // Progress on stderr, figures on stdout (bench/run.ts keeps stdout).
  ironicBench((l) => console.error(`[ironic-bench] ${l}`)).then(
    (text) => console.log(text),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
