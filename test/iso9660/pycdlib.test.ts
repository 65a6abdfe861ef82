// Per-tree cross-check with pycdlib (strict, independent of libisofs): every tree's paths, sizes
// and extent locations as the reader sees them equal pycdlib's ISO 9660, Rock Ridge and Joliet
// walks of the same image.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openFileSource } from '../../src/byte-source.js';
import { buildIndex } from '../../src/iso9660/index.js';
import { stripIsoName } from '../../src/iso9660/directory-tree.js';
import type { IsoIndex, TreeKind } from '../../src/iso9660/types.js';
import { missingTools, run, scratchDir } from '../helpers/tools.js';
import { makeSourceTree } from './fixtures.js';

const PYTHON = '/usr/bin/python3';
const hasPycdlib = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import pycdlib']).status === 0;
const needed = [...missingTools('xorriso', 'genisoimage'), ...(hasPycdlib ? [] : ['python3-pycdlib'])];
if (needed.length > 0) console.warn(`skipping pycdlib cross-checks: missing ${needed.join(', ')}`);

// Walks one namespace of the image and prints [path, size, extent] per file.
const SCRIPT = `
import sys, json, pycdlib
iso = pycdlib.PyCdlib()
iso.open(sys.argv[1])
out = {}
for kind, kw in (('iso9660', 'iso_path'), ('rr', 'rr_path'), ('joliet', 'joliet_path')):
    try:
        entries = []
        for root, dirs, files in iso.walk(**{kw: '/'}):
            for f in files:
                p = root.rstrip('/') + '/' + f
                rec = iso.get_record(**{kw: p})
                entries.append([p, rec.get_data_length(), rec.extent_location()])
        out[kind] = sorted(entries)
    except pycdlib.pycdlibexception.PyCdlibInvalidInput:
        out[kind] = None
iso.close()
print(json.dumps(out))
`;

type Listing = [string, number, number][];

let dir = '';
let tree = '';
let cleanup = async () => {};
beforeAll(async () => {
  if (needed.length > 0) return;
  ({ dir, cleanup } = await scratchDir('isoproxy-pycdlib-'));
  tree = join(dir, 'tree');
  await makeSourceTree(tree);
});
afterAll(() => cleanup());

async function both(iso: string): Promise<{ idx: IsoIndex; py: Record<string, Listing | null> }> {
  const src = await openFileSource(iso);
  try {
    const idx = await buildIndex(src);
    const { stdout } = await run(PYTHON, ['-c', SCRIPT, iso]);
    return { idx, py: JSON.parse(stdout) };
  } finally {
    await src.close();
  }
}

function ours(idx: IsoIndex, tree: TreeKind): Listing {
  const out: Listing = [];
  for (const f of idx.files) {
    const p = f.paths.find((x) => x.tree === tree);
    if (p) out.push([p.path, f.size, f.extents[0]!.lba]);
  }
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

const stripAll = (l: Listing): Listing =>
  l
    .map(
      ([p, s, e]) =>
        [
          p
            .split('/')
            .map((c) => (c ? stripIsoName(c) : c))
            .join('/'),
          s,
          e,
        ] as [string, number, number],
    )
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));

describe.skipIf(needed.length > 0)('buildIndex agrees with pycdlib tree by tree', () => {
  it('matches the Rock Ridge and Joliet namespaces of an xorriso -R -J image', async () => {
    const iso = join(dir, 'x.iso');
    await run('xorriso', ['-as', 'mkisofs', '-R', '-J', '-joliet-long', '-o', iso, tree]);
    const { idx, py } = await both(iso);
    expect(ours(idx, 'iso9660')).toEqual(py.rr);
    expect(ours(idx, 'joliet')).toEqual(py.joliet);
    expect(ours(idx, 'iso9660').some(([p]) => p.includes('n'.repeat(240)))).toBe(true);
  });

  it('matches the namespaces of a genisoimage -R -J image with relocated directories', async () => {
    const iso = join(dir, 'g.iso');
    await run('genisoimage', ['-quiet', '-R', '-J', '-o', iso, tree]);
    const { idx, py } = await both(iso);
    // pycdlib does not follow CL: it lists relocated files under /rr_moved, we at their real place.
    const mine = ours(idx, 'iso9660');
    const moved = py.rr!.filter(([p]) => p.startsWith('/rr_moved/'));
    expect(moved.length).toBeGreaterThan(0);
    expect(mine.filter(([p]) => p.startsWith('/rr_moved/'))).toEqual([]);
    for (const [p, size, lba] of moved) {
      const real = mine.find(([, s, e]) => s === size && e === lba);
      expect(real?.[0].endsWith(p.slice('/rr_moved'.length))).toBe(true);
    }
    expect(mine.filter((m) => !moved.some(([, s, e]) => s === m[1] && e === m[2]))).toEqual(py.rr!.filter(([p]) => !p.startsWith('/rr_moved/')));
    expect(ours(idx, 'joliet')).toEqual(py.joliet);
  });

  it('matches the plain ISO 9660 namespace of a level-1 image, version suffixes stripped', async () => {
    const iso = join(dir, 'l1.iso');
    await run('genisoimage', ['-quiet', '-iso-level', '1', '-o', iso, join(tree, 'boot')]);
    const { idx, py } = await both(iso);
    expect(py.rr).toBeNull();
    expect(ours(idx, 'iso9660')).toEqual(stripAll(py.iso9660!));
  });
});
