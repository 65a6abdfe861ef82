// `isoproxy status` against a real HTTP server running the status routes.

import { writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createAdaptorServer } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statusCommand } from '../../src/commands/status.js';
import { WaveTracker, type StatusSnapshot } from '../../src/status/index.js';
import { createStatusRoutes } from '../../src/ui/index.js';
import { scratchDir } from '../helpers/tools.js';

const TOKEN = 'status-cmd-token-0123456789';
const MiB = 1024 * 1024;

describe('isoproxy status', () => {
  let server: Server;
  let url: string;
  let scratch: { dir: string; cleanup: () => Promise<void> };
  let now = Date.UTC(2026, 0, 1, 12, 0, 0);

  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-status-');
    const tracker = new WaveTracker({
      now: () => now,
      stallAfterMs: 5000,
      cache: () => ({ budgetBytes: 64 * MiB, usedBytes: 16 * MiB, hits: 90, misses: 10, evictions: 2, degraded: false }),
      bases: () => [
        { url: 'http://mirror/a.iso', size: 16 * MiB, cachedBytes: 8 * MiB, upstreamBytes: 12 * MiB, state: 'ready' },
        { url: 'http://mirror/gone.iso', state: 'failed', code: 'UPSTREAM_UNREACHABLE' },
      ],
    });
    tracker.declare({ name: 'idle-one' });
    for (const [node, bytes] of [
      ['fast', 8 * MiB],
      ['slow', 2 * MiB],
      ['stuck', 3 * MiB],
    ] as const) {
      tracker.transferStart({ node, source: 'store', method: 'GET', start: 0, end: 16 * MiB, imageSize: 16 * MiB });
      tracker.bytes(node, 0, bytes);
    }
    now += 6000;
    tracker.bytes('fast', 8 * MiB, 4 * MiB);
    tracker.bytes('slow', 2 * MiB, MiB);
    tracker.transferStart({ node: 'broken', source: 'ironic', method: 'GET', start: 0, end: MiB });
    tracker.transferEnd({ node: 'broken', status: 502, code: 'UPSTREAM_STATUS' });
    const app = createStatusRoutes({ view: tracker, auth: { adminToken: TOKEN } });
    server = createAdaptorServer({ fetch: app.fetch, hostname: '127.0.0.1' }) as Server;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    await scratch?.cleanup();
  });

  async function status(argv: string[], env: NodeJS.ProcessEnv = {}) {
    let out = '';
    let err = '';
    const code = await statusCommand(argv, {
      env,
      out: (t) => {
        out += t;
      },
      err: (t) => {
        err += t;
      },
    });
    return { code, out, err };
  }

  it('prints nodes by state, the nodes needing attention, the top transfers and the cache', async () => {
    const r = await status(['--url', url], { ISOPROXY_ADMIN_TOKEN: TOKEN });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    if (process.env.SHOW_STATUS) console.log(r.out);
    expect(r.out).toContain('5 nodes');
    expect(r.out).toContain('error 1 · stalled 1 · reading 2 · mounting 0 · idle 0 · expired 0 · never 1');
    const attention = r.out.slice(r.out.indexOf('Needs attention'), r.out.indexOf('Top transfers'));
    expect(attention).toMatch(/broken\s+error.*502 UPSTREAM_STATUS/);
    expect(attention).toMatch(/stuck\s+stalled/);
    const top = r.out.slice(r.out.indexOf('Top transfers')).split('\n');
    // Sorted by rate: fast before slow.
    expect(top.findIndex((l) => /^\s+fast\s/.test(l))).toBeLessThan(top.findIndex((l) => /^\s+slow\s/.test(l)));
    expect(r.out).toContain('Cache: 16 MiB of 64 MiB (25.0%), hit ratio 90.0%, 2 evictions');
    expect(r.out).toContain('Base http://mirror/a.iso: ready, 8.0 MiB of 16 MiB cached, 12 MiB from upstream');
    expect(r.out).toContain('Base http://mirror/gone.iso: failed UPSTREAM_UNREACHABLE\n');
  });

  it('reads the token from --token-file and prints JSON with --json', async () => {
    const file = join(scratch.dir, 'token');
    await writeFile(file, `${TOKEN}\n`);
    const r = await status(['--url', url, '--token-file', file, '--json', '--top', '2']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out) as StatusSnapshot;
    expect(s.nodes.items.map((n) => n.name)).toEqual(['fast', 'slow']);
  });

  it('says so when the token is refused or the server does not answer (exit 1), and on bad usage (exit 2)', async () => {
    const refused = await status(['--url', url], { ISOPROXY_ADMIN_TOKEN: 'wrong-token-0123456789' });
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/refused the token/);
    const down = await status(['--url', 'http://127.0.0.1:1']);
    expect(down.code).toBe(1);
    expect(down.err).toMatch(/no answer from http:\/\/127\.0\.0\.1:1/);
    expect((await status(['--top', 'lots'])).code).toBe(2);
    expect((await status(['--frobnicate'])).code).toBe(2);
  });
});
