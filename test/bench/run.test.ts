// Smoke test of the benchmark harness (bench/run.ts): a tiny run (16 MiB image, 1 round, a
// handful of nodes) proves every part runs end to end and writes its results. No figure is
// checked against a target: tests never time anything; they check that the harness
// measured what it says it measured.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingTools, scratchDir } from '../helpers/tools.js';

const runJs = resolve('dist/bench/run.js');
const missing = missingTools('nginx', 'xorriso', 'gcc', 'mkfs.fat', 'mmd', 'mcopy', 'du');
if (missing.length > 0) console.warn(`skipping the bench smoke test: missing ${missing.join(', ')}`);
if (!existsSync(runJs)) console.warn('skipping the bench smoke test: dist/bench/run.js is missing (npm run build)');

interface Row {
  id: string;
  nginx: { gbPerSecond: number; rounds: number };
  isoproxy: { gbPerSecond: number; rounds: number };
}

describe.skipIf(missing.length > 0 || !existsSync(runJs))('npm run bench in a tiny mode', () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies, checked field by field
  let results: Record<string, any>;
  let markdown: string;
  let stdout: string;

  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-bench-');
    const md = join(scratch.dir, 'RESULTS.md');
    ({ stdout } = await promisify(execFile)(
      process.execPath,
      [
        runJs,
        '--size-mib',
        '16',
        '--rounds',
        '1',
        '--wave-nodes',
        '3',
        '--xorriso-nodes',
        '1',
        '--patch-nodes',
        '5',
        '--random-seconds',
        '1',
        '--concurrent',
        '4',
        '--out',
        scratch.dir,
        '--results-md',
        md,
        '--no-cache-bench',
        '--no-side-by-side',
      ],
      { timeout: 280_000, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, BENCH_QUICK: '' } },
    ));
    results = JSON.parse(await readFile(join(scratch.dir, 'results.json'), 'utf8'));
    markdown = await readFile(md, 'utf8');
  }, 300_000);

  afterAll(async () => {
    await scratch?.cleanup();
  });

  it('serves every pattern from both nginx and isoproxy and says what limited each run', () => {
    const rows = results.serving as Row[];
    expect(rows.map((r) => r.id)).toEqual(['a', 'b', 'c', 'd']);
    for (const r of rows) {
      expect(r.nginx.rounds).toBe(1);
      expect(r.isoproxy.rounds).toBe(1);
      expect(r.nginx.gbPerSecond).toBeGreaterThan(0);
      expect(r.isoproxy.gbPerSecond).toBeGreaterThan(0);
    }
    expect(markdown).toMatch(/What limited each run/);
  });

  it('runs the wave on a cold cache with one patch-set computation per node and reads the image from upstream', () => {
    expect(results.wave.nodes).toBe(3);
    expect(results.wave.patchSetComputations).toBe(3);
    expect(results.wave.bytesPerNode).toBe(results.image.bytes);
    expect(results.wave.upstreamBytes).toBeGreaterThanOrEqual(results.image.bytes);
    expect(results.wave.peakRssBytes).toBeGreaterThan(0);
    // PSS counts pages shared between processes once: never more than the summed peak RSS.
    expect(results.wave.peakPssBytes).toBeGreaterThan(0);
    expect(results.wave.peakPssBytes).toBeLessThanOrEqual(results.wave.peakRssBytes);
  });

  it('measures a cold node, patch sets and the xorriso baseline, and writes the report', () => {
    expect(results.coldNode.upstreamBytesBeforeFirstByte).toBeGreaterThan(0);
    expect(results.patchSets.nodes).toBe(5);
    expect(results.patchSets.patchSetBytesMax).toBeGreaterThan(0);
    expect(results.xorriso.nodes).toBe(1);
    expect(results.xorriso.diskBytesPerNode).toBeGreaterThan(results.image.bytes / 2);
    expect(results.index.metadataBytesRead).toBeGreaterThan(0);
    expect(markdown).toContain(`${results.machine.cores} cores`);
    expect(results.machine.busyCoresAtStart).toBeGreaterThanOrEqual(0);
    expect(markdown).toMatch(/cores busy just before the start: [0-9.]+/);
    expect(markdown).toContain('## Targets');
    expect(stdout).toContain('## Targets');
  });
});
