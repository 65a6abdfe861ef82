// The heap flags a serving process sets on itself at run time (src/heap-growth.ts): which, when the
// user set their own, and that V8 honours them set after start. The last runs real Node processes
// that promote garbage the way a busy serving process does, and compares the old generation's
// peak with and without the flag: a figure of memory, not of time.

import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { HEAP_GROWING_PERCENT, heapGrowthFlags } from '../src/heap-growth.js';

const run = promisify(execFile);

describe('heapGrowthFlags', () => {
  it('bounds the old generation of every serving process, and the young generation of a cluster primary', () => {
    expect(heapGrowthFlags('serving', [], undefined)).toEqual([`--heap-growing-percent=${HEAP_GROWING_PERCENT}`]);
    expect(heapGrowthFlags('primary', [], undefined)).toEqual(['--semi-space-growth-factor=1']);
  });

  it("leaves the user's own settings alone, from execArgv or NODE_OPTIONS, with either spelling", () => {
    expect(heapGrowthFlags('serving', ['--heap-growing-percent=200'], undefined)).toEqual([]);
    expect(heapGrowthFlags('serving', [], '--require x.cjs  --heap_growing_percent=10')).toEqual([]);
    expect(heapGrowthFlags('primary', ['--max-semi-space-size=8'], undefined)).toEqual([]);
    expect(heapGrowthFlags('primary', [], '--semi_space_growth_factor=4')).toEqual([]);
    expect(heapGrowthFlags('primary', [], '--max-young-generation-size=64')).toEqual([]);
    // Other flags change nothing.
    expect(heapGrowthFlags('serving', ['--enable-source-maps'], '--max-old-space-size=512')).toHaveLength(1);
  });
});

// 15 MiB live, then objects that survive a scavenge or two and die: promoted garbage.
const PROGRAM = `
const v8 = require('node:v8');
for (const f of process.argv.slice(1)) v8.setFlagsFromString(f);
const live = [];
for (let i = 0; i < 150000; i++) live.push({ a: i, b: 'x' + i, c: [i] });
const hold = [];
let oldPeak = 0;
let newPeak = 0;
for (let r = 0; r < 300; r++) {
  for (let i = 0; i < 20000; i++) hold.push({ x: i, y: [i, i], z: 'y' + i });
  if (hold.length > 60000) hold.splice(0, 20000);
  for (const s of v8.getHeapSpaceStatistics()) {
    if (s.space_name === 'old_space') oldPeak = Math.max(oldPeak, s.space_size);
    if (s.space_name === 'new_space') newPeak = Math.max(newPeak, s.space_size);
  }
}
console.log(JSON.stringify({ oldPeak, newPeak, live: live.length }));
`;

async function peaks(...flags: string[]): Promise<{ oldPeak: number; newPeak: number }> {
  const { stdout } = await run(process.execPath, ['-e', PROGRAM, '--', ...flags]);
  return JSON.parse(stdout) as { oldPeak: number; newPeak: number };
}

describe('the flags, set after start', () => {
  it('keep the old generation near what is live, and a primary young generation at its first size', async () => {
    const [plain, bounded, primary] = await Promise.all([
      peaks(),
      peaks(...heapGrowthFlags('serving', [], undefined)),
      peaks(...heapGrowthFlags('primary', [], undefined)),
    ]);
    expect(bounded.oldPeak).toBeLessThan(plain.oldPeak * 0.8);
    expect(primary.newPeak).toBeLessThanOrEqual(2 * 1024 * 1024);
    expect(plain.newPeak).toBeGreaterThan(8 * 1024 * 1024);
  });
});

// A process that sets a primary's flags with src/heap-growth.ts (as built in dist/), starts a
// worker thread as a patch-set pool does, and reports its young generation's peak under allocation.
const WITH_THREAD = `
const v8 = await import('node:v8');
const { Worker } = await import('node:worker_threads');
const hg = await import(process.argv[1]);
hg.boundHeapGrowth('primary');
const w = new Worker('setTimeout(() => {}, 50)', { eval: true });
await new Promise((r) => w.once('online', r));
if (process.argv[2] === 'again') hg.reapplyHeapGrowth();
await new Promise((r) => w.once('exit', r));
const hold = [];
let newPeak = 0;
for (let r = 0; r < 300; r++) {
  for (let i = 0; i < 20000; i++) hold.push({ x: i, y: [i, i], z: 'y' + i });
  if (hold.length > 60000) hold.splice(0, 20000);
  for (const s of v8.getHeapSpaceStatistics()) if (s.space_name === 'new_space') newPeak = Math.max(newPeak, s.space_size);
}
console.log(JSON.stringify({ newPeak }));
`;

describe('the flags, once a worker thread started', () => {
  it('are reset by Node when the thread starts, and hold again when set again', async () => {
    const module = resolve('dist/src/heap-growth.js');
    const young = async (mode: string): Promise<number> => {
      const { stdout } = await run(process.execPath, ['--input-type=module', '-e', WITH_THREAD, '--', module, mode], {
        env: { ...process.env, NODE_OPTIONS: '' },
      });
      return (JSON.parse(stdout) as { newPeak: number }).newPeak;
    };
    const [reset, again] = await Promise.all([young('once'), young('again')]);
    expect(reset).toBeGreaterThan(8 * 1024 * 1024);
    expect(again).toBeLessThanOrEqual(2 * 1024 * 1024);
  });
});
