// `npm run bench`: what isoproxy exists for, measured next to what it replaces.
//   1. serving from a warm cache next to nginx (sendfile), patterns (a)-(d), alternating rounds;
//   2. a deployment wave of N distinct nodes on a cold cache behind a throttled upstream;
//   3. a cold node on a never-seen base (time to first byte, upstream bytes before it);
//   4. per-node cost: patch sets (src/remaster directly) next to xorriso full remastering;
// plus the index figures and, in a full run, the output of bench/cache-bench.ts (the
// cache layer alone) and bench/index-bench.ts (indexing a 4,000-file image).
// Prints a table, writes <out>/results.json and bench/RESULTS.md. Benchmarks state targets;
// nothing here fails on a missed one — a miss is reported with the measured figure.
//
//   node dist/bench/run.js [--size-mib 1024] [--rounds 3] [--wave-nodes 200] [--wave-mib N]
//        [--xorriso-nodes 10] [--patch-nodes 500] [--random-seconds 5] [--upstream-mbit 1000]
//        [--out bench/out] [--results-md bench/RESULTS.md] [--no-cache-bench]
//   BENCH_QUICK=1: a fast pass (64 MiB image, 1 round, 20 wave nodes, 2 xorriso nodes).

import { addonPath } from '../src/native/sendfile.js';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureBaseImage } from './base-image.js';
import { execFileText, machineCpu, startIsoproxy, startNginx, type Server } from './procs.js';
import { measureRemaster, xorrisoBaseline } from './remaster-bench.js';
import { writeReport, type Results } from './report.js';
import { bottleneck, measure, patterns, summarize, warmUp, WARM_UP_SECONDS, type PatternId, type Sample } from './serving-bench.js';
import { MiB } from './stats.js';
import { startThrottle } from './throttle.js';
import { coldNode, deploymentWave, registerNode } from './wave-bench.js';
import { sideBySide, sideBySideMarkdown } from './side-by-side.js';
import { nodeEdits } from './remaster-bench.js';

const repo = resolve(import.meta.dirname, '../..');
const quick = process.env.BENCH_QUICK === '1';

const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: quick ? '64' : '1024' },
    rounds: { type: 'string', default: quick ? '1' : '3' },
    'wave-nodes': { type: 'string', default: quick ? '20' : '200' },
    // Bytes each wave node reads before its last range: a boot reads the loader, kernel and initrd,
    // not the whole image, and 200 whole images would not fit the run's time budget on 2 cores.
    'wave-mib': { type: 'string', default: quick ? '0' : '128' },
    'xorriso-nodes': { type: 'string', default: quick ? '2' : '10' },
    'patch-nodes': { type: 'string', default: quick ? '100' : '500' },
    'random-seconds': { type: 'string', default: quick ? '2' : '5' },
    concurrent: { type: 'string', default: '32' },
    'upstream-mbit': { type: 'string', default: '1000' },
    out: { type: 'string', default: join(repo, 'bench/out') },
    'results-md': { type: 'string', default: join(repo, 'bench/RESULTS.md') },
    // Skips the other helpers' cache-bench and index-bench (they make images of their own).
    'no-cache-bench': { type: 'boolean', default: quick },
    // Skips the side-by-side comparison (four servers, three clients).
    'no-side-by-side': { type: 'boolean', default: false },
  },
});

const opt = {
  sizeMiB: Number(values['size-mib']),
  rounds: Number(values.rounds),
  waveNodes: Number(values['wave-nodes']),
  waveMiB: Number(values['wave-mib']),
  xorrisoNodes: Number(values['xorriso-nodes']),
  patchNodes: Number(values['patch-nodes']),
  randomSeconds: Number(values['random-seconds']),
  concurrent: Number(values.concurrent),
  upstreamBytesPerSecond: (Number(values['upstream-mbit']) * 1e6) / 8,
  out: resolve(values.out),
  resultsMd: resolve(values['results-md']),
  cacheBench: !values['no-cache-bench'],
  sideBySide: !values['no-side-by-side'],
};

const t0 = performance.now();
const log = (line: string): void => console.log(`[${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${line}`);

function versionOf(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0]!.trim();
}

/** A kernel setting from /proc/sys (`net/ipv4/tcp_congestion_control`), or 'unknown'. */
function sysctl(name: string): string {
  try {
    return readFileSync(`/proc/sys/${name}`, 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

/** How long the machine's own load is sampled before the bench starts. */
const BUSY_SAMPLE_MS = 3000;

function machine(): Results['machine'] {
  const c = cpus();
  return {
    cores: c.length,
    cpuModel: c[0]?.model.trim() ?? 'unknown',
    memoryBytes: totalmem(),
    kernel: release(),
    node: process.version,
    nginx: versionOf('nginx', ['-v']),
    xorriso: versionOf('xorriso', ['-version']),
    sendfile: addonPath()
      ? 'on (the addon is built: cached bytes go from block files to sockets with sendfile)'
      : 'off (the addon is not built: every byte is copied)',
    tcpCongestion: sysctl('net/ipv4/tcp_congestion_control'),
    qdisc: sysctl('net/core/default_qdisc'),
    date: new Date().toISOString(),
    loadAtStart: loadavg().map((x) => Number(x.toFixed(2))),
  };
}

async function main(): Promise<void> {
  await mkdir(opt.out, { recursive: true });
  const clientBin = join(opt.out, 'client');
  execFileSync('gcc', ['-O2', '-pthread', '-o', clientBin, join(repo, 'bench/client.c')]);
  log(
    `options: ${JSON.stringify({ ...opt, out: relative(repo, opt.out) || '.', resultsMd: relative(repo, opt.resultsMd) })}${quick ? ' (BENCH_QUICK)' : ''}`,
  );

  const image = await ensureBaseImage(opt.out, opt.sizeMiB, log);
  // What the machine does right now, before any server starts: the load average lags by minutes
  // (a test run that just ended still shows as load), /proc/stat over a few seconds does not.
  const busy0 = (await machineCpu()).busy;
  await new Promise((r) => setTimeout(r, BUSY_SAMPLE_MS));
  const busyCoresAtStart = ((await machineCpu()).busy - busy0) / (BUSY_SAMPLE_MS / 1000);
  const results: Results = {
    machine: { ...machine(), busyCoresAtStart: Number(busyCoresAtStart.toFixed(2)) },
    options: { ...opt, quick },
    image: { path: relative(repo, image.path), bytes: image.sizeBytes, files: image.files },
    notes: [
      'Both servers log every request to a file: isoproxy one JSON line per transfer at level info, nginx its access log.',
      `The wave's nodes read ${opt.waveMiB > 0 ? `the first ${opt.waveMiB} MiB of the image and then its last range` : 'the whole image'} (--wave-mib; 0 reads whole images). Upstream bytes are compared with the distinct bytes the nodes read; the cache's readahead past the nodes' stop point (a few 2 MiB blocks) and the metadata read at registration count as upstream bytes.`,
      "Registration PUTs answer with the node's ETag, so they compute the patch sets; the wave then finds them memoized.",
      `The warm-cache isoproxy fetches its base from the same nginx (unthrottled); its cache is filled by one whole GET before the rounds. nginx runs ${cpus().length} workers; isoproxy one process.`,
      `Each measured run, here and side by side, follows an unmeasured warm-up on the same server: ${WARM_UP_SECONDS} s of random ranges before (d), one whole GET before the others (bench/serving-bench.ts says why: after half a minute idle this machine served the next run with 2-2.5x the CPU per request).`,
    ],
  };

  log(`indexing and ${opt.patchNodes} patch sets via src/remaster`);
  const remastered = await measureRemaster(image, opt.patchNodes);
  results.index = remastered.index;
  results.patchSets = remastered.patchSets;

  const scratch = join(opt.out, 'run');
  await rm(scratch, { recursive: true, force: true });
  await mkdir(join(scratch, 'www'), { recursive: true });
  // nginx serves the base from a directory of its own (a hard link, so no copy and the same page cache).
  execFileSync('ln', [image.path, join(scratch, 'www/base.iso')]);
  const servers: Server[] = [];
  let throttle: Awaited<ReturnType<typeof startThrottle>> | undefined;
  try {
    const machineCores = cpus().length;
    const nginxWorkers = machineCores;
    const nginx = await startNginx({ dir: join(scratch, 'nginx'), root: join(scratch, 'www'), workers: nginxWorkers });
    servers.push(nginx);
    const upstreamUrl = `http://127.0.0.1:${nginx.port}/base.iso`;

    // 1. Warm-cache serving.
    const iso = await startIsoproxy({
      dir: join(scratch, 'warm'),
      allowUpstream: [`http://127.0.0.1:${nginx.port}/`],
      cacheBudget: `${Math.ceil(opt.sizeMiB * 1.5) + 64}MiB`,
    });
    servers.push(iso);
    await registerNode(iso.port, 'bench-warm', upstreamUrl, nodeEdits(1));
    const isoSize = Number((await fetch(`http://127.0.0.1:${iso.port}/iso/bench-warm.iso`, { method: 'HEAD' })).headers.get('content-length'));
    log(`warming isoproxy's cache (a whole GET of ${isoSize} bytes, and another a second later)`);
    const pats = patterns(opt.randomSeconds, opt.concurrent);
    await measure(clientBin, iso, pats[0]!, '/iso/bench-warm.iso', isoSize);
    // The second pass is past the cache's first-open block checks (src/cache/checked-file.ts).
    await new Promise((r) => setTimeout(r, 1_200));
    await measure(clientBin, iso, pats[0]!, '/iso/bench-warm.iso', isoSize);
    await measure(clientBin, nginx, pats[0]!, '/base.iso', image.sizeBytes);
    const samples = new Map<string, Sample[]>();
    for (let r = 0; r < opt.rounds; r++) {
      for (const def of pats) {
        const order = r % 2 === 0 ? [nginx, iso] : [iso, nginx];
        for (const server of order) {
          const [path, size] = server === iso ? ['/iso/bench-warm.iso', isoSize] : ['/base.iso', image.sizeBytes];
          await warmUp(clientBin, server, def, path, size);
          const s = await measure(clientBin, server, def, path, size);
          const key = `${def.id}/${server.name}`;
          samples.set(key, [...(samples.get(key) ?? []), s]);
          log(
            `round ${r + 1}/${opt.rounds} (${def.id}) ${server.name.padEnd(8)} ${(s.client.bytes / s.client.seconds / 1e9).toFixed(2)} GB/s, ${(s.client.requests / s.client.seconds).toFixed(0)} req/s, ${(s.serverCpuSeconds / (s.client.bytes / 1e9)).toFixed(3)} CPU s/GB`,
          );
        }
      }
    }
    results.serving = pats.map((def) => {
      const n = summarize(samples.get(`${def.id}/nginx`)!);
      const i = summarize(samples.get(`${def.id}/isoproxy`)!);
      // A single connection keeps one nginx worker busy; isoproxy serves on one event loop.
      const conns = def.id === 'a' || def.id === 'b' ? 1 : def.id === 'c' ? opt.concurrent : 16;
      return {
        id: def.id as PatternId,
        title: def.title,
        nginx: n,
        isoproxy: i,
        ratio: i.gbPerSecond / n.gbPerSecond,
        nginxBottleneck: bottleneck(n, Math.min(nginxWorkers, conns), machineCores),
        isoproxyBottleneck: bottleneck(i, 1, machineCores),
      };
    });
    const warmSample = await iso.sample();
    results.servingPeakRssBytes = warmSample.hwmBytes;
    await iso.stop();
    servers.splice(servers.indexOf(iso), 1);

    // 1b. Side by side: isoproxy at 1 and at `cores` workers, nginx, a plain Node file server.
    if (opt.sideBySide) {
      log(`side by side: isoproxy --workers 1 and ${machineCores}, nginx (${nginxWorkers} workers), a plain Node file server; C client, curl, wrk`);
      results.sideBySide = await sideBySide({
        dir: scratch,
        clientBin,
        image: { path: join(scratch, 'www/base.iso'), sizeBytes: image.sizeBytes },
        nginx,
        upstreamUrl,
        cores: machineCores,
        randomSeconds: opt.randomSeconds,
        rounds: opt.rounds,
        log,
      });
    }

    // 2 and 3: cold caches behind a throttled upstream.
    throttle = await startThrottle(nginx.port, opt.upstreamBytesPerSecond);
    const throttledUrl = `http://127.0.0.1:${throttle.port}/base.iso`;
    log(`cold node on a never-seen base (${opt.rounds} rounds; upstream throttled to ${(opt.upstreamBytesPerSecond / 1e6).toFixed(0)} MB/s)`);
    results.coldNode = await coldNode(scratch, throttle, throttledUrl, opt.rounds);
    log(`cold node: PUT ${results.coldNode.putMs.toFixed(0)} ms, first byte ${results.coldNode.ttfbMs.toFixed(1)} ms after it`);

    const limitBytes = opt.waveMiB > 0 ? opt.waveMiB * MiB : 0;
    log(`deployment wave: ${opt.waveNodes} nodes, ${limitBytes ? `${opt.waveMiB} MiB + the last range` : 'whole image'} each`);
    results.wave = await deploymentWave({
      dir: scratch,
      clientBin,
      throttle,
      bootIso: throttledUrl,
      imageBytes: image.sizeBytes,
      nodes: opt.waveNodes,
      limitBytes,
      upstreamRate: opt.upstreamBytesPerSecond,
    });
    log(
      `wave: ${results.wave.totalSeconds.toFixed(1)} s, ${results.wave.aggregateGbPerSecond.toFixed(2)} GB/s, upstream ${(results.wave.upstreamBytesPerImage).toFixed(3)}x the image, peak RSS ${(results.wave.peakRssBytes / MiB).toFixed(0)} MiB`,
    );
    results.waves = [
      {
        workers: 1,
        nodes: opt.waveNodes,
        upstreamBytesPerImage: results.wave.upstreamBytesPerImage,
        peakRssBytes: results.wave.peakRssBytes,
        peakPssBytes: results.wave.peakPssBytes,
        peakRssSampledBytes: results.wave.peakRssSampledBytes,
        totalSeconds: results.wave.totalSeconds,
      },
    ];
    if (opt.sideBySide && cpus().length > 1) {
      const workers = cpus().length;
      log(`deployment wave again at --workers ${workers}`);
      const w = await deploymentWave({
        dir: scratch,
        clientBin,
        throttle,
        bootIso: throttledUrl,
        imageBytes: image.sizeBytes,
        nodes: opt.waveNodes,
        limitBytes,
        upstreamRate: opt.upstreamBytesPerSecond,
        workers,
        name: `wave-w${workers}`,
      });
      results.waves.push({
        workers,
        nodes: opt.waveNodes,
        upstreamBytesPerImage: w.upstreamBytesPerImage,
        peakRssBytes: w.peakRssBytes,
        peakPssBytes: w.peakPssBytes,
        peakRssSampledBytes: w.peakRssSampledBytes,
        totalSeconds: w.totalSeconds,
      });
      log(
        `wave at ${workers} workers: ${w.totalSeconds.toFixed(1)} s, upstream ${w.upstreamBytesPerImage.toFixed(3)}x the image, peak RSS ${(w.peakRssBytes / MiB).toFixed(0)} MiB`,
      );
    }
  } finally {
    await throttle?.close();
    for (const s of servers) await s.stop();
  }

  // 4. Full remastering baseline.
  if (opt.xorrisoNodes > 0) {
    log(`xorriso full remaster of ${opt.xorrisoNodes} nodes`);
    results.xorriso = await xorrisoBaseline(image, remastered, opt.xorrisoNodes, join(scratch, 'xorriso'));
  }

  // The cache layer on its own (bench/cache-bench.ts, another helper's), in full runs.
  const cacheBench = join(import.meta.dirname, 'cache-bench.js');
  if (opt.cacheBench && existsSync(cacheBench)) {
    log('bench/cache-bench.ts (256 MiB, 1 round)');
    try {
      results.cacheBench = await execFileText(
        process.execPath,
        [cacheBench, '--size-mib', '256', '--rounds', '1', '--dir', join(scratch, 'cache-bench')],
        { timeoutMs: 300_000 },
      );
    } catch (err) {
      results.notes.push(`cache-bench failed: ${(err as Error).message}`);
    }
  }

  // Indexing a ~1 GiB image with a few thousand files (bench/index-bench.ts, another helper's).
  const indexBench = join(import.meta.dirname, 'index-bench.js');
  if (opt.cacheBench && existsSync(indexBench)) {
    log('bench/index-bench.ts (4,000 files, 3 rounds)');
    try {
      await mkdir(join(scratch, 'index-bench'), { recursive: true });
      results.indexBench = await execFileText(
        process.execPath,
        [indexBench, '--size-mib', String(opt.sizeMiB), '--rounds', '3', '--dir', join(scratch, 'index-bench'), '--out', join(opt.out, 'index.json')],
        { timeoutMs: 300_000 },
      );
    } catch (err) {
      results.notes.push(`index-bench failed: ${(err as Error).message}`);
    }
  }

  // Per-node files in the initramfs (bench/inject-bench.ts): 1 MiB per node, engine and served path.
  const injectBench = join(import.meta.dirname, 'inject-bench.js');
  if (opt.cacheBench && existsSync(injectBench)) {
    log('bench/inject-bench.ts (1 MiB of files per node, 256 MiB base)');
    try {
      const text = await execFileText(process.execPath, [injectBench, '--size-mib', '256', '--dir', join(scratch, 'inject-bench')], {
        timeoutMs: 600_000,
      });
      results.notes.push(`inject-bench: ${text.trim()}`);
    } catch (err) {
      results.notes.push(`inject-bench failed: ${(err as Error).message}`);
    }
  }

  // The Ironic node source against a real Ironic (bench/ironic-bench.ts; it reports a
  // skip when python3-ironic is not installed).
  const ironicBench = join(import.meta.dirname, 'ironic-bench.js');
  if (existsSync(ironicBench)) {
    log('bench/ironic-bench.ts (a 50-node wave against Ironic 21.4)');
    try {
      results.notes.push(`ironic-bench: ${(await execFileText(process.execPath, [ironicBench, '--dir', opt.out], { timeoutMs: 600_000 })).trim()}`);
    } catch (err) {
      results.notes.push(`ironic-bench failed: ${(err as Error).message}`);
    }
  }

  await rm(scratch, { recursive: true, force: true });
  results.elapsedSeconds = (performance.now() - t0) / 1000;
  results.machine.loadAtEnd = loadavg().map((x) => Number(x.toFixed(2)));
  await writeFile(join(opt.out, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  const text = writeReport(results) + (results.sideBySide ? `\n${sideBySideMarkdown(results.sideBySide, results.waves)}` : '');
  await writeFile(opt.resultsMd, text);
  console.log(`\n${text}`);
  log(`wrote ${relative(repo, join(opt.out, 'results.json'))} and ${relative(repo, opt.resultsMd)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
