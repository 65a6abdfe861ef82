// Test fixtures for src/fat made at test time by the real tools: `mkfs.fat` makes an empty
// FAT12/16/32 image, `mmd`/`mcopy`/`mdel` fill it, `mdir`/`mtype`/`mcopy -s` read it back and
// `fsck.fat -n` checks it. No binary fixture is committed.

import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const FAT_TOOLS = ['mkfs.fat', 'fsck.fat', 'mcopy', 'mmd', 'mdel', 'mdir', 'mtype'] as const;

// mtools refuses some geometries of plain image files unless told not to check them.
// UTF-8 so that mcopy stores non-ASCII long names as the right UTF-16 (mdir prints UTF-8 anyway).
const env = { ...process.env, MTOOLS_SKIP_CHECK: '1', MTOOLS_NO_VFAT: undefined, LC_ALL: 'C.UTF-8' };

async function tool(cmd: string, args: string[]): Promise<{ stdout: Buffer; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await execFileAsync(cmd, args, { env, encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 });
    return { stdout, stderr: stderr.toString('utf8'), code: 0 };
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer; code?: number; message: string };
    return { stdout: e.stdout ?? Buffer.alloc(0), stderr: e.stderr?.toString('utf8') ?? e.message, code: typeof e.code === 'number' ? e.code : -1 };
  }
}

async function must(cmd: string, args: string[]): Promise<Buffer> {
  const r = await tool(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/**
 * `forgetNextFree` sets the FAT32 FSInfo next-free hint to unknown, so that mtools allocates from
 * the lowest free cluster again (it otherwise continues after the last allocation and never
 * fills a hole): how a fragmented file is made on FAT32.
 */
export type FixtureOp = { readonly put: string; readonly data: Uint8Array } | { readonly del: string } | { readonly forgetNextFree: true };

export interface FixtureSpec {
  readonly type: 12 | 16 | 32;
  /** Image size in KiB (mkfs.fat's block count). */
  readonly sizeKiB: number;
  /** Sectors per cluster (mkfs.fat -s); 1 keeps FAT32 small and makes directories cross clusters soon. */
  readonly sectorsPerCluster?: number;
  /** Bytes per sector (mkfs.fat -S), default 512. */
  readonly sectorSize?: number;
  /** FAT copies (mkfs.fat -f), default 2. */
  readonly fatCount?: number;
  readonly label?: string;
  /** Applied in order: puts create parent directories as needed. */
  readonly ops: readonly FixtureOp[];
}

/** Makes `name` in `dir` with mkfs.fat and mtools; returns its path. */
export async function makeImage(dir: string, name: string, spec: FixtureSpec): Promise<string> {
  const img = join(dir, name);
  const sectorSize = spec.sectorSize ?? 512;
  const args = ['-C', '-F', String(spec.type), '-S', String(sectorSize), '-i', '1a2b3c4d'];
  if (spec.fatCount) args.push('-f', String(spec.fatCount));
  if (spec.sectorsPerCluster) args.push('-s', String(spec.sectorsPerCluster));
  if (spec.label) args.push('-n', spec.label);
  await must('mkfs.fat', [...args, img, String(spec.sizeKiB)]);
  const made = new Set<string>();
  const src = join(dir, `${name}.src`);
  await mkdir(src, { recursive: true });
  let n = 0;
  for (const op of spec.ops) {
    if ('forgetNextFree' in op) {
      if (spec.type !== 32) continue;
      const image = await readFile(img);
      image.writeUInt32LE(0xffffffff, sectorSize + 492); // mkfs.fat puts FSInfo in sector 1
      await writeFile(img, image);
      continue;
    }
    if ('del' in op) {
      await must('mdel', ['-i', img, `::${op.del}`]);
      continue;
    }
    const parts = op.put.split('/').filter(Boolean);
    for (let i = 1; i < parts.length; i++) {
      const d = `/${parts.slice(0, i).join('/')}`;
      if (made.has(d)) continue;
      await must('mmd', ['-i', img, `::${d}`]);
      made.add(d);
    }
    const local = join(src, String(n++));
    await writeFile(local, op.data);
    await must('mcopy', ['-i', img, local, `::${op.put}`]);
  }
  return img;
}

/** `mdir -/ -b` as a sorted list of paths; directories end with '/'. */
export async function mdirPaths(img: string): Promise<string[]> {
  const out = (await must('mdir', ['-/', '-b', '-i', img, '::'])).toString('utf8');
  return out
    .split('\n')
    .filter((l) => l.startsWith('::'))
    .map((l) => l.slice(2))
    .sort();
}

export async function mtype(img: string, path: string): Promise<Uint8Array> {
  return new Uint8Array(await must('mtype', ['-i', img, `::${path}`]));
}

/** fsck.fat -n (read-only): its exit code and output. */
export async function fsck(img: string): Promise<{ code: number; output: string }> {
  const r = await tool('fsck.fat', ['-n', img]);
  return { code: r.code, output: `${r.stdout.toString('utf8')}${r.stderr}` };
}

/** Every file of the image copied out with `mcopy -s`, by path. */
export async function extractAll(img: string, outDir: string): Promise<Map<string, Uint8Array>> {
  await mkdir(outDir, { recursive: true });
  await must('mcopy', ['-s', '-n', '-i', img, '::/*', `${outDir}/`]);
  const files = new Map<string, Uint8Array>();
  const walk = async (d: string, prefix: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(d, e.name), `${prefix}/${e.name}`);
      else files.set(`${prefix}/${e.name}`, new Uint8Array(await readFile(join(d, e.name))));
    }
  };
  await walk(outDir, '');
  return files;
}

/** Deterministic pseudo-random bytes (a fixed LCG): test data that is not all one value. */
export function bytesOf(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

export function text(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** A copy of `image` with `overlays` applied. */
export function applyOverlays(image: Uint8Array, overlays: readonly { offset: number; data: Uint8Array }[]): Uint8Array {
  const out = image.slice();
  for (const o of overlays) out.set(o.data, o.offset);
  return out;
}

/** The volume label as mdir reports it ("Volume in drive : is LABEL"), or undefined. */
export async function mdirLabel(img: string): Promise<string | undefined> {
  const out = (await must('mdir', ['-i', img, '::'])).toString('utf8');
  return /Volume in drive : is (.*)/.exec(out)?.[1]?.trim();
}
