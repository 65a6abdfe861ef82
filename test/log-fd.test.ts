// The log writer on a file descriptor (src/log-fd.ts), against real pipes: lines arrive in order,
// flush calls back once they are with the kernel, and a pipe without a reader stops it instead of
// retrying, at exit too.

import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fdWriter } from '../src/log-fd.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempFile(): { path: string; fd: number } {
  const dir = mkdtempSync(join(tmpdir(), 'isoproxy-logfd-'));
  dirs.push(dir);
  const path = join(dir, 'log');
  return { path, fd: openSync(path, 'w') };
}

describe('fdWriter', () => {
  it('writes chunks in order, one write in flight, and flush calls back when they are written', async () => {
    const { path, fd } = tempFile();
    const w = fdWriter(fd);
    const lines = Array.from({ length: 200 }, (_, i) => `line ${i}\n`);
    for (const l of lines) w.write(l);
    await new Promise<void>((resolve) => w.flush(() => resolve()));
    closeSync(fd);
    expect(readFileSync(path, 'utf8')).toBe(lines.join(''));
    expect(w.closed).toBe(false);
  });

  it('writes what is queued synchronously at exit', () => {
    const { path, fd } = tempFile();
    const w = fdWriter(fd);
    w.write('a\n');
    w.write('b\n');
    w.writeAllSync();
    // The first write may still be in libuv's pool; the second went synchronously behind it.
    const text = readFileSync(path, 'utf8');
    expect(text.endsWith('b\n')).toBe(true);
  });

  it('stops on a descriptor that cannot be written, and later writes, flushes and exits do nothing', async () => {
    const { fd } = tempFile();
    closeSync(fd);
    const w = fdWriter(fd);
    w.write('lost\n');
    await new Promise<void>((resolve) => w.flush(() => resolve()));
    expect(w.closed).toBe(true);
    w.write('also lost\n');
    w.writeAllSync();
    expect(w.closed).toBe(true);
  });

  it('gives up at exit on a descriptor that fails synchronously', () => {
    const { fd } = tempFile();
    closeSync(fd);
    const w = fdWriter(fd);
    w.write('in flight\n');
    w.write('queued\n');
    // What is queued behind the write in flight meets EBADF at once: it stops rather than retrying.
    w.writeAllSync();
    expect(w.closed).toBe(true);
  });
});
