// The newc writer against the format (buffer-format.rst) and against GNU cpio: fixed fields,
// 4-byte alignment, the trailer, parents before children, and random file sets that round-trip
// through `cpio -i` with their bytes and modes.

import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeFiles, type FileEdit } from '../../src/bootconfig/files.js';
import { archiveEntries, filesArchive, NEWC_HEADER_BYTES, newcSize, S_IFDIR, S_IFREG, writeNewc } from '../../src/cpio/index.js';
import { missingTools, run } from '../helpers/tools.js';

const ascii = (b: Uint8Array, from: number, to: number): string => Buffer.from(b.subarray(from, to)).toString('latin1');

/** The 13 header fields of the member at `at`, as numbers, with its name. */
function header(archive: Uint8Array, at: number): { fields: number[]; name: string } {
  expect(ascii(archive, at, at + 6)).toBe('070701');
  const fields: number[] = [];
  for (let i = 0; i < 13; i++) fields.push(parseInt(ascii(archive, at + 6 + i * 8, at + 14 + i * 8), 16));
  const nameSize = fields[11]!;
  return { fields, name: ascii(archive, at + NEWC_HEADER_BYTES, at + NEWC_HEADER_BYTES + nameSize - 1) };
}

describe('writeNewc', () => {
  it('writes an empty archive as the trailer alone, 4-byte aligned', () => {
    const a = writeNewc([]);
    expect(a.length).toBe(124); // 110 + "TRAILER!!!\0" (11) padded to 124
    expect(a.length % 4).toBe(0);
    const h = header(a, 0);
    expect(h.name).toBe('TRAILER!!!');
    expect(h.fields).toEqual([0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 11, 0]);
    expect(newcSize([])).toBe(124);
  });

  it('fixes mtime, uid and gid, numbers inodes by position and aligns names and data to 4 bytes', () => {
    const entries = [
      { name: 'etc', mode: S_IFDIR | 0o755 },
      { name: 'etc/a', mode: S_IFREG | 0o600, data: new Uint8Array([1, 2, 3]) },
      { name: 'etc/bb', mode: S_IFREG | 0o644, data: new Uint8Array(0) },
    ];
    const a = writeNewc(entries);
    expect(a.length).toBe(newcSize(entries));
    let at = 0;
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      expect(at % 4).toBe(0);
      const { fields, name } = header(a, at);
      seen.push(name);
      const [ino, mode, uid, gid, nlink, mtime, filesize] = fields;
      expect([uid, gid, mtime]).toEqual([0, 0, 0]);
      if (i < 3) {
        expect(ino).toBe(i + 1);
        expect(mode).toBe(entries[i]!.mode);
        expect(nlink).toBe(i === 0 ? 2 : 1);
      }
      const nameEnd = at + NEWC_HEADER_BYTES + fields[11]!;
      expect(a[nameEnd - 1]).toBe(0);
      const dataAt = Math.ceil(nameEnd / 4) * 4;
      if (i === 1) expect([...a.subarray(dataAt, dataAt + 3)]).toEqual([1, 2, 3]);
      at = Math.ceil((dataAt + filesize!) / 4) * 4;
    }
    expect(seen).toEqual(['etc', 'etc/a', 'etc/bb', 'TRAILER!!!']);
    expect(at).toBe(a.length);
  });

  it('refuses a name with NUL and a directory with data', () => {
    expect(() => writeNewc([{ name: 'a\0b', mode: S_IFREG | 0o644 }])).toThrow(/NUL/);
    expect(() => writeNewc([{ name: 'd', mode: S_IFDIR | 0o755, data: new Uint8Array(1) }])).toThrow(/directory/);
  });
});

describe('filesArchive', () => {
  it('adds every parent directory 0755, before what it holds, sorted bytewise', () => {
    const files = normalizeFiles([
      { path: '/opt/x/y/z', content: 'z' },
      { path: '/etc/a-b', content: '1' },
      { path: '/etc/a/c', content: '2', mode: '0600' },
    ]);
    expect(archiveEntries(files).map((e) => `${e.name} ${(e.mode & 0o170000) === S_IFDIR ? 'd' : 'f'}${(e.mode & 0o7777).toString(8)}`)).toEqual([
      'etc d755',
      'etc/a d755',
      'etc/a-b f644',
      'etc/a/c f600',
      'opt d755',
      'opt/x d755',
      'opt/x/y d755',
      'opt/x/y/z f644',
    ]);
  });

  it('gives the same bytes for the same files in any order', () => {
    const a = [
      { path: '/b', content: 'B' },
      { path: '/a/c', contentBase64: 'AAEC' },
    ];
    expect(Buffer.from(filesArchive(normalizeFiles(a)))).toEqual(Buffer.from(filesArchive(normalizeFiles([...a].reverse()))));
  });
});

const missing = missingTools('cpio');

describe.skipIf(missing.length > 0)('archives read back by GNU cpio', () => {
  /** Path segments from a small alphabet (with UTF-8 and a space) so collisions and nesting happen. */
  const segment = fc.stringMatching(/^[a-c0-9._ é-]{1,6}$/).filter((s) => s !== '.' && s !== '..');
  const fileArb = fc.record({
    path: fc.array(segment, { minLength: 1, maxLength: 3 }).map((segs) => `/${segs.join('/')}`),
    mode: fc.integer({ min: 0o400, max: 0o777 }).map((m) => `0${m.toString(8)}`),
    data: fc.uint8Array({ maxLength: 700 }),
  });
  /** Sets without duplicate paths and without a file that is another's parent directory. */
  const setArb = fc
    .uniqueArray(fileArb, { selector: (f) => f.path, maxLength: 12 })
    .map((fs) => fs.filter((f) => !fs.some((g) => g !== f && g.path.startsWith(`${f.path}/`))));

  it('round-trips random file sets through the writer and `cpio -i`: exactly the files, their bytes and modes', async () => {
    const root = await mkdtemp(join(tmpdir(), 'isoproxy-cpio-'));
    let n = 0;
    try {
      await fc.assert(
        fc.asyncProperty(setArb, async (set) => {
          const edits: FileEdit[] = set.map((f) => ({ path: f.path, mode: f.mode, contentBase64: Buffer.from(f.data).toString('base64') }));
          const files = normalizeFiles(edits);
          const dir = join(root, String(n++));
          const archive = join(root, `${n}.cpio`);
          await writeFile(archive, filesArchive(files));
          await run('sh', ['-c', 'mkdir -p "$2" && cd "$2" && cpio -id --quiet --no-absolute-filenames < "$1"', 'sh', archive, dir]);
          const listed = (await run('sh', ['-c', 'cpio -it --quiet < "$1"', 'sh', archive])).stdout.split('\n').filter(Boolean);
          expect(listed).toEqual(archiveEntries(files).map((e) => e.name));
          const found: string[] = [];
          const walk = async (rel: string): Promise<void> => {
            for (const e of await readdir(join(dir, rel), { withFileTypes: true })) {
              const p = `${rel}/${e.name}`;
              if (e.isDirectory()) await walk(p);
              else found.push(p);
            }
          };
          await walk('');
          expect(found.sort()).toEqual(files.map((f) => f.path).sort());
          for (const f of files) {
            expect(Buffer.from(await readFile(join(dir, f.path)))).toEqual(Buffer.from(f.data));
            expect((await stat(join(dir, f.path))).mode & 0o777).toBe(f.mode & 0o777);
          }
          await rm(dir, { recursive: true, force: true });
          await rm(archive, { force: true });
        }),
        { numRuns: 30, seed: 13 },
      );
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
