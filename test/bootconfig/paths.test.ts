import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { discoverBootConfigs } from '../../src/bootconfig/index.js';
import { MAX_REPORTED_MISSING, MAX_REPORTED_WARNINGS } from '../../src/bootconfig/discover.js';
import { normalizePath, PathLookup, pathKey, resolveGrubTarget } from '../../src/bootconfig/paths.js';

/** pathKey as first written: a regex pass over every segment. */
function referenceKey(path: string): string {
  const segs = normalizePath(path)
    .split('/')
    .filter((s) => s.length > 0)
    .map((s) => s.toLowerCase().replace(/;\d*$/, '').replace(/\.$/, ''));
  return `/${segs.join('/')}`;
}

const pathArb = fc.string({ unit: fc.constantFrom('a', 'B', 'x', '.', ';', '1', '/', '..', 'İ', 'Σ', ' '), maxLength: 14 });
const SEGS = ['a', 'B', 'x.cfg', 'X.CFG;1', 'grub', 'boot', 'q.', '..'];
const segPath = fc.array(fc.constantFrom(...SEGS), { minLength: 1, maxLength: 3 }).map((s) => `/${s.join('/')}`);

describe('pathKey', () => {
  test('equals the per-segment regex form for any path', () => {
    fc.assert(
      fc.property(pathArb, (p) => {
        expect(pathKey(p)).toBe(referenceKey(p));
      }),
      { numRuns: 5000 },
    );
  });

  test('drops ISO 9660 versions and the dot of a name without extension', () => {
    expect(pathKey('/ISOLINUX/MENU.CFG;1')).toBe('/isolinux/menu.cfg');
    expect(pathKey('/BOOT/VMLINUZ.;1')).toBe('/boot/vmlinuz');
    expect(pathKey('/a/./b//c/../D.')).toBe('/a/b/d');
  });
});

describe('PathLookup.suffixMatches', () => {
  test('is the first and the count of the sorted keys ending with the suffix, leaving out one file', () => {
    fc.assert(
      fc.property(fc.array(segPath, { minLength: 1, maxLength: 8 }), segPath, segPath, (paths, suffix, except) => {
        const lookup = new PathLookup(paths);
        const byKey = new Map<string, string>();
        for (const p of [...paths].sort()) if (!byKey.has(pathKey(p))) byKey.set(pathKey(p), p);
        const tail = pathKey(suffix);
        const keys = tail === '/' ? [] : [...byKey.keys()].sort().filter((k) => k.endsWith(tail) && k !== pathKey(except));
        const first = keys[0];
        expect(lookup.suffixMatches(suffix, except)).toEqual(first === undefined ? { count: 0 } : { first: byKey.get(first), count: keys.length });
      }),
      { numRuns: 3000 },
    );
  });

  test('an unresolved `$var` include named 40000 times among 1000 files', () => {
    const files = new Map<string, string>();
    for (let i = 0; i < 1000; i++) files.set(`/d/f${i}.cfg`, 'x\n');
    files.set('/boot/grub/grub.cfg', 'source $a/q\n'.repeat(40_000));
    const d = discoverBootConfigs(files);
    // Listed up to MAX_REPORTED_MISSING, the rest counted.
    expect(d.missing).toHaveLength(MAX_REPORTED_MISSING);
    expect(d.missing[0]).toEqual({ from: '/boot/grub/grub.cfg', target: '$a/q' });
    expect(d.warnings).toContain(`40000 includes of files that are not there; only the first ${MAX_REPORTED_MISSING} are reported`);
  });

  test('a `$var` include matching 1000 files, named 20000 times, takes the first with a warning each time, listed up to the cap', () => {
    const files = new Map<string, string>();
    for (let i = 0; i < 1000; i++) files.set(`/d${i}/x.cfg`, 'x\n');
    files.set('/boot/grub/grub.cfg', 'source $a/x.cfg\n'.repeat(20_000));
    const d = discoverBootConfigs(files);
    expect(d.configs.find((c) => c.path === '/boot/grub/grub.cfg')?.includes).toEqual(['/d0/x.cfg']);
    expect(d.warnings).toHaveLength(MAX_REPORTED_WARNINGS + 1);
    expect(new Set(d.warnings.slice(0, -1))).toEqual(new Set(['/boot/grub/grub.cfg: $a/x.cfg matches 1000 files; using /d0/x.cfg']));
    expect(d.warnings.at(-1)).toBe(`${20_000 - MAX_REPORTED_WARNINGS} more warnings not listed`);
  });

  test('resolveGrubTarget never picks the including file itself', () => {
    const lookup = new PathLookup(['/EFI/BOOT/grub.cfg', '/boot/grub/grub.cfg']);
    expect(resolveGrubTarget(lookup, '/EFI/BOOT/grub.cfg', '$x/grub.cfg')).toEqual({ path: '/boot/grub/grub.cfg' });
  });
});
