// Collections after a burst (src/idle-gc.ts). The decision is a plain function of what the probe
// reports, tested with a scripted probe (the figures a process would show); the real probe is
// tested in a real process: a burst grows its young generation, and once it is quiet the checks
// give the memory back.

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GROWTH_BYTES, IDLE_UTILIZATION, idleCheck, MAX_IN_A_ROW, QUIET_MS, YOUNG_GROWN_BYTES, type IdleGcProbe } from '../src/idle-gc.js';

const MiB = 1024 * 1024;

function scripted(figures: { busy: number; rss: number; young: number; rssAfter?: number }): IdleGcProbe & { collections: number } {
  let collected = false;
  const probe = {
    collections: 0,
    utilization: () => figures.busy,
    rss: () => (collected && figures.rssAfter !== undefined ? figures.rssAfter : figures.rss),
    young: () => figures.young,
    collect: () => {
      collected = true;
      probe.collections++;
    },
  };
  return probe;
}

describe('idleCheck', () => {
  it('collects a quiet process that grew since the last collection, and takes the new size as its baseline', () => {
    const p = scripted({ busy: 0.001, rss: 100 * MiB, young: 2 * MiB, rssAfter: 77 * MiB });
    const s = idleCheck(p, { baseline: 60 * MiB, inARow: 0, quietMs: QUIET_MS - 1000 }, 1000);
    expect(s).toEqual({ collected: true, baseline: 77 * MiB, inARow: 1, quietMs: 0 });
  });

  it('leaves a busy process alone, however much it grew, and waits QUIET_MS of quiet', () => {
    const busy = scripted({ busy: IDLE_UTILIZATION, rss: 300 * MiB, young: 32 * MiB });
    expect(idleCheck(busy, { baseline: 60 * MiB, inARow: 0, quietMs: QUIET_MS }, 1000)).toMatchObject({ collected: false, quietMs: 0 });
    expect(busy.collections).toBe(0);
    const quiet = scripted({ busy: 0, rss: 300 * MiB, young: 32 * MiB });
    let state = { baseline: 60 * MiB, inARow: 0, quietMs: 0 };
    for (let t = 1000; t < QUIET_MS; t += 1000) {
      state = idleCheck(quiet, state, 1000);
      expect(quiet.collections).toBe(0);
    }
    expect(idleCheck(quiet, state, 1000).collected).toBe(true);
  });

  it('leaves a quiet process alone when it neither grew nor keeps a grown young generation', () => {
    const p = scripted({ busy: 0, rss: 60 * MiB + GROWTH_BYTES - 1, young: YOUNG_GROWN_BYTES });
    const s = idleCheck(p, { baseline: 60 * MiB, inARow: 0, quietMs: QUIET_MS }, 1000);
    expect(s.collected).toBe(false);
    expect(s.baseline).toBe(60 * MiB);
  });

  it('follows the resident size down without collecting', () => {
    const p = scripted({ busy: 0, rss: 50 * MiB, young: MiB });
    expect(idleCheck(p, { baseline: 60 * MiB, inARow: 0, quietMs: QUIET_MS }, 1000).baseline).toBe(50 * MiB);
  });

  it('collects again while the young generation stays grown, at most MAX_IN_A_ROW times without new growth', () => {
    const p = scripted({ busy: 0, rss: 80 * MiB, young: 32 * MiB });
    let state = { baseline: 80 * MiB, inARow: 0, quietMs: 0 };
    for (let i = 0; i < MAX_IN_A_ROW + 3; i++) state = idleCheck(p, state, QUIET_MS);
    expect(p.collections).toBe(MAX_IN_A_ROW);
    // New growth starts the count over.
    const grown = scripted({ busy: 0, rss: 80 * MiB + GROWTH_BYTES, young: 32 * MiB });
    expect(idleCheck(grown, state, QUIET_MS)).toMatchObject({ collected: true, inARow: 1 });
  });
});

describe('collectWhenIdle in a real process', () => {
  it('gives back the young generation a burst grew once the process has been quiet for QUIET_MS', async () => {
    const module = join(import.meta.dirname, '../dist/src/idle-gc.js');
    const script = `
      const { getHeapSpaceStatistics } = await import('node:v8');
      const { collectWhenIdle } = await import(${JSON.stringify(module)});
      const young = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
      const keep = [];
      for (let r = 0; r < 40; r++) { const a = []; for (let i = 0; i < 100000; i++) a.push({ i, s: 'x' + i }); keep.push(a); }
      const grown = young();
      const t0 = Date.now();
      let collections = 0;
      collectWhenIdle({ everyMs: 500, onCollect: () => collections++ });
      const report = () => console.log(JSON.stringify({ grown, after: young(), collections, kept: keep.length }));
      const poll = setInterval(() => {
        if (young() <= ${YOUNG_GROWN_BYTES} || Date.now() - t0 > 30000) { clearInterval(poll); report(); }
      }, 250);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
    });
    await new Promise((resolve) => child.once('close', resolve));
    const r = JSON.parse(out) as { grown: number; after: number; collections: number };
    expect(r.grown).toBeGreaterThan(YOUNG_GROWN_BYTES);
    expect(r.collections).toBeGreaterThan(0);
    expect(r.after).toBeLessThanOrEqual(YOUNG_GROWN_BYTES);
  }, 60_000);
});
