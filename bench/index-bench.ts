// How much of an image buildIndex reads, and how long it takes: generates (with xorriso) a
// ~1 GiB image with a few thousand files in nested directories (sparse payloads, so the source
// tree costs no disk; the image itself is written and deleted afterwards), indexes it a few
// times, prints a small table and writes bench/out/index.json. Not a test: nothing asserts a time.
//
//   npm run build && node dist/bench/index-bench.js [--files 4000] [--size-mib 1024] [--rounds 5] [--dir /tmp/...]

import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { openFileSource } from '../src/byte-source.js';
import { buildIndex } from '../src/iso9660/index.js';

const execFileAsync = promisify(execFile);
const MiB = 1024 * 1024;

const { values } = parseArgs({
  options: {
    files: { type: 'string', default: '4000' },
    'size-mib': { type: 'string', default: '1024' },
    rounds: { type: 'string', default: '5' },
    dir: { type: 'string' },
    out: { type: 'string' },
  },
});

const fileCount = Number(values.files);
const sizeBytes = Number(values['size-mib']) * MiB;
const rounds = Number(values.rounds);

/** Deterministic layout: 40 top-level dirs, each with 5 subdirs; files spread round-robin. */
async function makeTree(root: string): Promise<number> {
  // 9 in 10 files carry the payload; the 10th is a small config.
  const perFile = Math.floor(sizeBytes / (fileCount * 0.9));
  let total = 0;
  for (let i = 0; i < fileCount; i++) {
    const d = join(root, `pkg${String(i % 40).padStart(2, '0')}`, `sub${i % 5}`);
    await mkdir(d, { recursive: true });
    const path = join(d, `package-file-with-a-long-name-${String(i).padStart(5, '0')}.bin`);
    // Every 10th file is a small real config; the rest are sparse (zeros) of varying size.
    if (i % 10 === 0) {
      await writeFile(path, `# config ${i}\n`.repeat(1 + (i % 50)));
      continue;
    }
    const size = perFile + ((i * 7919) % 4096) - 2048;
    const fh = await open(path, 'w');
    await fh.truncate(Math.max(0, size));
    await fh.close();
    total += Math.max(0, size);
  }
  await mkdir(join(root, 'boot/grub'), { recursive: true });
  await writeFile(join(root, 'boot/grub/grub.cfg'), 'menuentry "Linux" { linux /vmlinuz quiet }\n');
  return total;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const base = values.dir ?? tmpdir();
  const dir = await mkdtemp(join(base, 'isoproxy-index-bench-'));
  try {
    const tree = join(dir, 'tree');
    const payload = await makeTree(tree);
    const iso = join(dir, 'bench.iso');
    const t0 = performance.now();
    await execFileAsync('xorriso', ['-as', 'mkisofs', '-R', '-J', '-V', 'INDEX_BENCH', '-o', iso, tree], { maxBuffer: 64 * MiB });
    const makeSeconds = (performance.now() - t0) / 1000;
    const imageSize = (await stat(iso)).size;

    const times: number[] = [];
    let bytesRead = 0;
    let files = 0;
    let directories = 0;
    let trees: string[] = [];
    for (let r = 0; r < rounds; r++) {
      const src = await openFileSource(iso);
      const start = performance.now();
      const idx = await buildIndex(src);
      times.push(performance.now() - start);
      await src.close();
      bytesRead = idx.bytesRead;
      files = idx.files.length;
      directories = idx.directories.length;
      trees = idx.trees.map((t) => (t.rockRidge ? `${t.kind}+rr` : t.kind));
    }
    // INDEX_BENCH_KEEP=path keeps a sparse copy of the image for profiling.
    if (process.env.INDEX_BENCH_KEEP) await execFileAsync('cp', ['--sparse=always', iso, process.env.INDEX_BENCH_KEEP]);
    const result = {
      imageSizeBytes: imageSize,
      payloadBytes: payload,
      files,
      directories,
      trees,
      bytesRead,
      bytesReadPercent: Number(((100 * bytesRead) / imageSize).toFixed(4)),
      indexMsMedian: Number(median(times).toFixed(1)),
      indexMsMin: Number(Math.min(...times).toFixed(1)),
      rounds,
      makeImageSeconds: Number(makeSeconds.toFixed(1)),
      node: process.version,
    };
    const rows: [string, string][] = [
      ['image size', `${(imageSize / MiB).toFixed(1)} MiB`],
      ['files / directories', `${files} / ${directories}`],
      ['metadata bytes read', `${bytesRead} (${result.bytesReadPercent}% of the image)`],
      ['index time (median)', `${result.indexMsMedian} ms over ${rounds} rounds (min ${result.indexMsMin} ms)`],
      ['image build (xorriso)', `${result.makeImageSeconds} s`],
    ];
    const w = Math.max(...rows.map((r) => r[0].length));
    for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
    const here = dirname(fileURLToPath(import.meta.url));
    // Compiled to dist/bench/, run from source by tsx/vitest: either way write to <repo>/bench/out.
    const repo = here.includes(`${join('dist', 'bench')}`) ? resolve(here, '../..') : resolve(here, '..');
    const outPath = values.out ?? join(repo, 'bench/out/index.json');
    await mkdir(dirname(outPath), { recursive: true });
    await writeFile(outPath, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`wrote ${outPath}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`index-bench: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
