// The benchmark's results: their JSON shape and the Markdown report (bench/RESULTS.md), with
// every target beside the measured figure and whether it was met.

import type { ColdNodeFigures, WaveFigures } from './wave-bench.js';
import type { IndexFigures, PatchSetFigures, XorrisoFigures } from './remaster-bench.js';
import type { PatternFigures, PatternId } from './serving-bench.js';
import { fmtBytes, MiB, table } from './stats.js';

export interface ServingRow {
  readonly id: PatternId;
  readonly title: string;
  readonly nginx: PatternFigures;
  readonly isoproxy: PatternFigures;
  readonly ratio: number;
  readonly nginxBottleneck: string;
  readonly isoproxyBottleneck: string;
}

export interface Results {
  machine: {
    cores: number;
    cpuModel: string;
    memoryBytes: number;
    kernel: string;
    node: string;
    nginx: string;
    xorriso: string;
    /** Whether isoproxy serves cached bytes with its sendfile addon (src/native), or copies. */
    sendfile?: string;
    /** The kernel's TCP congestion control and default qdisc for new connections (both servers use them). */
    tcpCongestion?: string;
    qdisc?: string;
    date: string;
    /** 1, 5 and 15 minute load averages: other work on the machine skews every figure. */
    loadAtStart: number[];
    loadAtEnd?: number[];
    /** Cores busy (/proc/stat) over a few seconds just before the bench started. */
    busyCoresAtStart?: number;
  };
  options: Record<string, unknown>;
  image: { path: string; bytes: number; files: number };
  index?: IndexFigures;
  patchSets?: PatchSetFigures;
  serving?: ServingRow[];
  servingPeakRssBytes?: number;
  coldNode?: ColdNodeFigures;
  wave?: WaveFigures;
  xorriso?: XorrisoFigures;
  cacheBench?: string;
  indexBench?: string;
  /** isoproxy at 1 and at `cores` workers, nginx and a plain Node server, side by side. */
  sideBySide?: import('./side-by-side.js').SideBySide;
  /** The cold wave at each number of workers (upstream bytes whatever the workers). */
  waves?: Array<import('./side-by-side.js').WaveAtWorkers>;
  notes: string[];
  elapsedSeconds?: number;
}

const f2 = (n: number) => n.toFixed(2);
const f3 = (n: number) => n.toFixed(3);
const ms = (n: number) => (n < 10 ? n.toFixed(2) : n.toFixed(0));
const yes = (ok: boolean) => (ok ? 'met' : '**missed**');

export function writeReport(r: Results): string {
  const out: string[] = [];
  const m = r.machine;
  out.push('# isoproxy benchmark results', '');
  out.push('Written by `npm run bench` (bench/run.ts); do not edit by hand. Targets are listed below, each beside its measured figure.', '');
  out.push(`- machine: ${m.cores} cores (${m.cpuModel}), ${fmtBytes(m.memoryBytes)} memory, Linux ${m.kernel}`);
  out.push(`- Node ${m.node}, ${m.nginx}, ${m.xorriso}`);
  if (m.sendfile) out.push(`- isoproxy sendfile: ${m.sendfile}`);
  if (m.tcpCongestion)
    out.push(
      `- TCP: congestion control ${m.tcpCongestion}, default qdisc ${m.qdisc ?? 'unknown'} (every connection here uses them, loopback included; (b)'s single keep-alive connection moves with them the most)`,
    );
  out.push(`- date: ${m.date}; run took ${r.elapsedSeconds !== undefined ? `${(r.elapsedSeconds / 60).toFixed(1)} min` : '?'}`);
  out.push(
    `- load average (1/5/15 min) at start ${m.loadAtStart.join(' / ')}${m.loadAtEnd ? `, at end ${m.loadAtEnd.join(' / ')}` : ''}; cores busy just before the start: ${m.busyCoresAtStart ?? 'not measured'}${busyAtStart(m) ? ' — **the machine was busy with other work: treat every figure as a lower bound for both servers**' : ' (the load at end is the bench\'s own: servers and clients on every core; "other work" per run is in the table after section 1)'}`,
  );
  out.push(
    `- base image: ${fmtBytes(r.image.bytes)} (${r.image.bytes} bytes), ${r.image.files} files, made by xorriso (random payload, isolinux + grub configs, El Torito BIOS + EFI FAT image, hybrid MBR/GPT, md5sum.txt)`,
  );
  out.push(`- options: \`${JSON.stringify(r.options)}\``, '');

  const targets: string[][] = [];

  if (r.serving) {
    out.push('## 1. Serving from a warm cache: isoproxy (a node with edits) vs nginx (sendfile)', '');
    out.push(
      "Both as separate processes on loopback, driven by the C client (bench/client.c); medians of the rounds, alternating which server goes first. CPU s/GB is the server processes' user + system time (/proc) per GB served. isoproxy runs as one process (one event loop, plus its worker threads, its sendfile threads among them when the addon is built); nginx with one worker per core.",
      '',
    );
    const spread = (f: PatternFigures) => (f.rounds > 1 ? ` (${f2(f.gbPerSecondMin)}-${f2(f.gbPerSecondMax)})` : '');
    out.push(
      table(
        [
          'pattern',
          'nginx GB/s (min-max)',
          'isoproxy GB/s (min-max)',
          'ratio',
          'nginx CPU s/GB',
          'isoproxy CPU s/GB',
          'nginx req/s',
          'isoproxy req/s',
          'nginx ms/req p50 (p99)',
          'isoproxy ms/req p50 (p99)',
        ],
        r.serving.map((s) => [
          `(${s.id}) ${s.title}`,
          f2(s.nginx.gbPerSecond) + spread(s.nginx),
          f2(s.isoproxy.gbPerSecond) + spread(s.isoproxy),
          `${f2(s.ratio)}x`,
          f3(s.nginx.serverCpuSecondsPerGb),
          f3(s.isoproxy.serverCpuSecondsPerGb),
          s.nginx.requestsPerSecond.toFixed(0),
          s.isoproxy.requestsPerSecond.toFixed(0),
          `${ms(s.nginx.msPerRequestP50)} (${ms(s.nginx.msPerRequestP99)})`,
          `${ms(s.isoproxy.msPerRequestP50)} (${ms(s.isoproxy.msPerRequestP99)})`,
        ]),
      ),
    );
    out.push(
      '',
      'What limited each run (cores busy on average: the server processes, the C client, and everything else on the machine from /proc/stat; the machine has ' +
        `${m.cores}):`,
      '',
    );
    out.push(
      table(
        ['pattern', 'nginx run', 'isoproxy run'],
        r.serving.map((s) => [`(${s.id})`, s.nginxBottleneck, s.isoproxyBottleneck]),
      ),
    );
    if (r.servingPeakRssBytes !== undefined) out.push('', `isoproxy peak RSS over the warm-cache runs: ${fmtBytes(r.servingPeakRssBytes)}.`);
    out.push('');
    for (const s of r.serving) {
      targets.push([`(${s.id}) throughput >= 0.8x nginx`, `${f2(s.ratio)}x`, yes(s.ratio >= 0.8)]);
      targets.push([`(${s.id}) isoproxy <= 0.35 CPU s/GB`, f3(s.isoproxy.serverCpuSecondsPerGb), yes(s.isoproxy.serverCpuSecondsPerGb <= 0.35)]);
    }
    const b = r.serving.find((s) => s.id === 'b');
    if (b)
      targets.push(['(b) <= 0.5 ms per cached 1 MiB range (p50)', `${ms(b.isoproxy.msPerRequestP50)} ms`, yes(b.isoproxy.msPerRequestP50 <= 0.5)]);
  }

  if (r.wave) {
    const w = r.wave;
    out.push('## 2. Deployment wave', '');
    out.push(
      `${w.nodes} distinct nodes (distinct edits), registered by PUT (8 at a time; each PUT answers with the node's ETag, so it computes the patch set), then fetched at once as BMCs do: HEAD, then sequential 256 KiB ranges on one keep-alive connection per node, the last range past the end. Fresh isoproxy process, empty cache, upstream nginx behind a loopback throttle of ${(w.upstreamRateBytesPerSecond / 1e6).toFixed(0)} MB/s aggregate (${((w.upstreamRateBytesPerSecond * 8) / 1e9).toFixed(1)} Gbit/s).`,
      '',
    );
    out.push(
      table(
        ['figure', 'value'],
        [
          [
            'bytes read per node',
            `${fmtBytes(w.bytesPerNode)}${w.bytesPerNode < w.imageBytes * 0.99 ? ` (of ${fmtBytes(w.imageBytes)}: first part + the last range)` : ' (the whole image)'}`,
          ],
          ['registration (PUT x nodes)', `${f2(w.registerSeconds)} s`],
          ['wave total time', `${f2(w.totalSeconds)} s`],
          ['aggregate throughput', `${f2(w.aggregateGbPerSecond)} GB/s (${w.requests} requests)`],
          ["time to first byte per node (from the wave's start) p50 / p99", `${ms(w.firstByteP50Ms)} / ${ms(w.firstByteP99Ms)} ms`],
          ['time to first byte per request p50 / p99', `${ms(w.requestTtfbP50Ms)} / ${ms(w.requestTtfbP99Ms)} ms`],
          [
            'upstream bytes fetched (throttle count)',
            `${fmtBytes(w.upstreamBytes)} = ${f3(w.upstreamBytesPerImage)}x the image, ${f3(w.upstreamBytes / w.distinctBytesRead)}x the distinct bytes the nodes read (${fmtBytes(w.distinctBytesRead)}); isoproxy's own count: ${fmtBytes(w.upstreamBytesFromMetrics)} in ${w.upstreamRequests} requests`,
          ],
          ['cache bytes on disk', fmtBytes(w.cacheBytesOnDisk)],
          ['peak RSS (VmHWM)', fmtBytes(w.peakRssBytes)],
          ['peak PSS (sampled every 250 ms, registration and wave)', fmtBytes(w.peakPssBytes)],
          ['server CPU during the wave', `${f2(w.serverCpuSeconds)} s (${f2(w.serverCores)} cores; client ${f2(w.clientCores)} cores)`],
          ['patch-set computations (/metrics)', `${w.patchSetComputations} (memo hits ${w.patchSetMemoHits})`],
        ],
      ),
    );
    out.push('');
    const ideal = w.upstreamBytes / w.distinctBytesRead;
    targets.push([
      `wave pulls <= 1.05x one image from upstream (here: of the ${fmtBytes(w.distinctBytesRead)} the nodes read)`,
      `${f3(ideal)}x`,
      yes(ideal <= 1.05),
    ]);
    targets.push([`peak RSS < 256 MiB at ${w.nodes} concurrent transfers`, fmtBytes(w.peakRssBytes), yes(w.peakRssBytes < 256 * MiB)]);
    targets.push([
      'one patch-set computation per distinct node',
      `${w.patchSetComputations} for ${w.nodes}`,
      yes(w.patchSetComputations === w.nodes),
    ]);
  }

  if (r.coldNode) {
    const c = r.coldNode;
    out.push('## 3. Cold node', '');
    out.push(`A fresh isoproxy process, empty cache, the throttled upstream; medians of ${c.rounds} rounds.`, '');
    out.push(
      table(
        ['figure', 'value'],
        [
          ['PUT of a node on a never-seen base (open, index, prepare, remaster)', `${ms(c.putMs)} ms`],
          ['then first byte of its first 256 KiB range', `${ms(c.ttfbMs)} ms`],
          ['PUT start to first byte', `${ms(c.firstByteAfterPutStartMs)} ms`],
          ['upstream bytes read by then (metadata + the first block)', fmtBytes(c.upstreamBytesBeforeFirstByte)],
          ['second node on the indexed base: PUT / first byte', `${ms(c.indexedBasePutMs)} / ${ms(c.indexedBaseTtfbMs)} ms`],
        ],
      ),
    );
    out.push('');
    targets.push([
      'cold-node first byte < 300 ms (PUT start to first byte)',
      `${ms(c.firstByteAfterPutStartMs)} ms`,
      yes(c.firstByteAfterPutStartMs < 300),
    ]);
  }

  if (r.patchSets || r.xorriso || r.index) {
    out.push('## 4. Per-node cost: patch sets vs xorriso full remastering', '');
    const rows: string[][] = [];
    if (r.patchSets) {
      const p = r.patchSets;
      rows.push([
        'isoproxy (computePatchSet, in process)',
        `median ${ms(p.medianMs)} ms, p99 ${ms(p.p99Ms)} ms, max ${ms(p.maxMs)} ms over ${p.nodes} nodes`,
        `${fmtBytes(p.patchSetBytesMedian)} patch set (max ${fmtBytes(p.patchSetBytesMax)}, tail ${fmtBytes(p.tailBytesMax)}); 0 on disk`,
      ]);
    }
    if (r.xorriso) {
      const x = r.xorriso;
      rows.push([
        `xorriso full remaster (${x.nodes} nodes)`,
        `median ${f2(x.secondsMedian)} s, max ${f2(x.secondsMax)} s`,
        `${fmtBytes(x.diskBytesPerNode)} on disk per node`,
      ]);
    }
    out.push(table(['per node', 'time', 'bytes'], rows));
    if (r.patchSets) out.push('', `Placements seen: ${r.patchSets.placements}.`);
    if (r.xorriso)
      out.push(
        '',
        `xorriso command per node (after writing the edited configs, an mcopy-patched copy of the EFI image and md5sum.txt): \`${r.xorriso.command}\``,
      );
    if (r.index) {
      const i = r.index;
      out.push(
        '',
        `Index: ${i.files} files, ${fmtBytes(i.metadataBytesRead)} of metadata read = ${(i.metadataFraction * 100).toFixed(3)}% of the image, ${ms(i.indexMs)} ms to index and ${ms(i.prepareMs)} ms to prepare the base (boot configs, EFI image) from a local file.`,
      );
      targets.push(['index reads well under 1% of the image', `${(i.metadataFraction * 100).toFixed(3)}%`, yes(i.metadataFraction < 0.01)]);
    }
    out.push('');
    if (r.patchSets) {
      targets.push(['per-node cost <= 10 ms (p99)', `${ms(r.patchSets.p99Ms)} ms`, yes(r.patchSets.p99Ms <= 10)]);
      targets.push(['patch set <= 64 KiB', fmtBytes(r.patchSets.patchSetBytesMax), yes(r.patchSets.patchSetBytesMax <= 64 * 1024)]);
    }
  }

  if (targets.length > 0) {
    out.push('## Targets', '');
    out.push(table(['target', 'measured', ''], targets));
    out.push('');
  }
  if (r.indexBench) out.push('## Indexing alone (bench/index-bench.ts)', '', '```', r.indexBench.trim(), '```', '');
  if (r.cacheBench) out.push('## Cache layer alone (bench/cache-bench.ts)', '', '```', r.cacheBench.trim(), '```', '');
  if (r.notes.length > 0) out.push('## Notes', '', ...r.notes.map((n) => `- ${n}`), '');
  return out.join('\n');
}

/**
 * Whether other work shared the machine at the start: the cores busy just before it, when
 * measured (the load average still counts work that ended a minute ago), else the load average.
 */
function busyAtStart(m: Results['machine']): boolean {
  return m.busyCoresAtStart !== undefined ? m.busyCoresAtStart > m.cores * 0.25 : (m.loadAtStart[0] ?? 0) > m.cores * 0.5;
}
