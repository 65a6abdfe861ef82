// Batched log lines (src/log-batch.ts): held until a batch is full or its delay passes, handed
// over at once by flush and at exit, and a process whose log reader went away (a cluster worker
// whose primary was killed) still exits with lines pending. The last one runs a real process
// (the built logger) with its stdout on a pipe the test closes.

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { batchedDestination } from '../src/log-batch.js';

function recordingSink() {
  const writes: string[] = [];
  return { writes, sink: { write: (s: string) => writes.push(s) } };
}

describe('batchedDestination', () => {
  it('holds lines until the batch is full, then hands them over in one write', () => {
    const { writes, sink } = recordingSink();
    const d = batchedDestination(() => sink, { maxBytes: 100, maxDelayMs: 60_000 });
    for (let i = 0; i < 9; i++) d.write(`line ${i} ${'x'.repeat(3)}\n`);
    expect(writes).toEqual([]);
    d.write(`${'y'.repeat(40)}\n`);
    expect(writes).toHaveLength(1);
    expect(writes[0]!.split('\n').filter(Boolean)).toHaveLength(10);
  });

  it('hands a partial batch over once its delay passes, and at once on flush', async () => {
    const { writes, sink } = recordingSink();
    const d = batchedDestination(() => sink, { maxBytes: 1 << 20, maxDelayMs: 30 });
    d.write('a\n');
    d.write('b\n');
    await new Promise((r) => setTimeout(r, 80));
    expect(writes).toEqual(['a\nb\n']);
    d.write('c\n');
    let flushed = false;
    d.flush(() => {
      flushed = true;
    });
    expect(writes).toEqual(['a\nb\n', 'c\n']);
    expect(flushed).toBe(true);
  });

  it('writes the lines pending at exit', async () => {
    const logger = join(import.meta.dirname, '../dist/src/logger.js');
    const script = `
      const { createLogger } = await import(${JSON.stringify(logger)});
      const log = createLogger({ format: 'json' });
      for (let i = 0; i < 5; i++) log.info({ i }, 'pending');
      process.exit(0);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
    });
    await new Promise((resolve) => child.once('close', resolve));
    expect(out.split('\n').filter((l) => l.includes('"msg":"pending"'))).toHaveLength(5);
  });

  // A write still in flight at exit was the case that hung: the old sink's exit hook retried
  // EPIPE forever on what was queued behind it.
  it.each([
    ['no write in flight', ''],
    ['a write in flight', "log.info('second'); log.flush();"],
  ])('exits with lines pending although its stdout reader has gone away (%s)', async (_name, before) => {
    // The built logger (npm run build), as the cluster tests run the built server.
    const logger = join(import.meta.dirname, '../dist/src/logger.js');
    const script = `
      const { createLogger } = await import(${JSON.stringify(logger)});
      const log = createLogger({ format: 'json' });
      log.info('first');
      process.stdin.once('data', () => {
        ${before}
        for (let i = 0; i < 5; i++) log.info({ i }, 'pending');
        process.exit(3);
      });
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
    const first = await new Promise<string>((resolve) => child.stdout!.once('data', (b: Buffer) => resolve(b.toString())));
    expect(first).toContain('"msg":"first"');
    child.stdout!.destroy();
    child.stdin!.write('go\n');
    const code = await new Promise<number | null>((resolve) => {
      const t = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(null);
      }, 10_000);
      child.once('exit', (c) => {
        clearTimeout(t);
        resolve(c);
      });
    });
    expect(code).toBe(3);
  });
});
