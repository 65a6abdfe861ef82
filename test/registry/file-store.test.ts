// The embedded node store: a JSON file written atomically (temp + fsync + rename). Checked by
// reopening, by concurrent writes, and by a child process killed with SIGKILL in the middle of a
// write loop: the file must always parse and hold every write the child saw acknowledged.

import { spawn } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreError } from '../../src/registry/errors.js';
import { FileNodeStore, STORE_FILE } from '../../src/registry/file-store.js';
import type { NodeSpec } from '../../src/registry/store.js';
import { scratchDir } from '../helpers/tools.js';

let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ dir, cleanup } = await scratchDir('isoproxy-store-'));
});
afterAll(async () => cleanup?.());

const spec = (name: string, i = 0): NodeSpec => ({
  name,
  bootIso: 'http://images.example/base.iso',
  edits: { append: [`n=${i}`] },
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
});

describe('FileNodeStore', () => {
  it('keeps nodes across a reopen', async () => {
    const d = join(dir, 'reopen');
    const a = await FileNodeStore.open(d);
    await a.put(spec('b'));
    await a.put(spec('a'));
    await a.put({ ...spec('c'), expiresAt: '2026-02-01T00:00:00.000Z' });
    expect(await a.delete('b')).toBe(true);
    expect(await a.delete('b')).toBe(false);
    await a.close();
    const b = await FileNodeStore.open(d);
    expect((await b.list({ limit: 10 })).nodes.map((n) => n.name)).toEqual(['a', 'c']);
    expect((await b.get('c'))?.expiresAt).toBe('2026-02-01T00:00:00.000Z');
    await b.close();
  });

  it('serialises concurrent writes and leaves no temporary files', async () => {
    const d = join(dir, 'concurrent');
    const s = await FileNodeStore.open(d);
    await Promise.all(Array.from({ length: 50 }, (_, i) => s.put(spec(`n${String(i).padStart(2, '0')}`, i))));
    await s.close();
    expect(await readdir(d)).toEqual([STORE_FILE]);
    const reopened = await FileNodeStore.open(d);
    expect((await reopened.list({ limit: 1000 })).nodes).toHaveLength(50);
  });

  it('pages in name order', async () => {
    const s = await FileNodeStore.open(join(dir, 'paging'));
    for (const n of ['d', 'b', 'a', 'c', 'e']) await s.put(spec(n));
    const p1 = await s.list({ limit: 2 });
    expect(p1.nodes.map((n) => n.name)).toEqual(['a', 'b']);
    const p2 = await s.list({ after: p1.next!, limit: 2 });
    expect(p2.nodes.map((n) => n.name)).toEqual(['c', 'd']);
    const p3 = await s.list({ after: p2.next!, limit: 2 });
    expect(p3).toEqual({ nodes: [spec('e')] });
  });

  it('refuses a store file that is not a node list, with a typed error', async () => {
    const d = join(dir, 'corrupt');
    await (await FileNodeStore.open(d)).close();
    await writeFile(join(d, STORE_FILE), '{"version":1,"nodes":[{"name":"../x"}]}');
    await expect(FileNodeStore.open(d)).rejects.toBeInstanceOf(StoreError);
    await writeFile(join(d, STORE_FILE), '{"version":1,"nod');
    await expect(FileNodeStore.open(d)).rejects.toBeInstanceOf(StoreError);
  });

  it('survives kill -9 in the middle of a write loop', async () => {
    // The child is bundled from the TypeScript source at test time (Node 20 cannot run .ts).
    const entry = join(dir, 'child.ts');
    await writeFile(
      entry,
      `
      import { FileNodeStore } from ${JSON.stringify(resolve('src/registry/file-store.ts'))};
      const store = await FileNodeStore.open(process.argv[2]);
      const pad = 'x'.repeat(2000);
      for (let i = 0; ; i++) {
        await store.put({ name: 'n' + String(i).padStart(6, '0'), bootIso: 'http://images.example/' + pad, edits: { append: ['i=' + i] },
          createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z' });
        process.stdout.write(i + '\\n');
      }
    `,
    );
    const bundle = join(dir, 'child.mjs');
    await build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: bundle, logLevel: 'silent' });

    for (const killAfter of [5, 40, 120]) {
      const d = join(dir, `kill-${killAfter}`);
      const child = spawn(process.execPath, [bundle, d], { stdio: ['ignore', 'pipe', 'inherit'] });
      let acknowledged = -1;
      await new Promise<void>((resolveKill) => {
        let buf = '';
        child.stdout.on('data', (d: Buffer) => {
          buf += d.toString();
          const lines = buf.split('\n');
          buf = lines.pop()!;
          for (const l of lines) acknowledged = Number(l);
          if (acknowledged >= killAfter && child.exitCode === null && !child.killed) {
            child.kill('SIGKILL');
          }
        });
        child.on('exit', () => resolveKill());
      });
      const text = await readFile(join(d, STORE_FILE), 'utf8');
      const parsed = JSON.parse(text) as { nodes: NodeSpec[] };
      // Every acknowledged put is there, in one consistent prefix of the loop (never a torn file).
      expect(parsed.nodes.length).toBeGreaterThanOrEqual(acknowledged + 1);
      expect(parsed.nodes.map((n) => n.name)).toEqual(parsed.nodes.map((_, i) => `n${String(i).padStart(6, '0')}`));
      const reopened = await FileNodeStore.open(d);
      expect(await reopened.get(`n${String(acknowledged).padStart(6, '0')}`)).toBeDefined();
      await reopened.close();
    }
  });
});
