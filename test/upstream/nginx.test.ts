// The HTTP source and the block cache against nginx (the upstream most deployments put ISOs
// behind), started here with a temporary config on a free port.

import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBlockCache } from '../../src/cache/block-cache.js';
import { createUpstreamAgent, openHttpSource } from '../../src/upstream/http-source.js';
import { missingTools, scratchDir } from '../helpers/tools.js';
import { collect, patternBytes, sha256 } from './fixture-server.js';

const missing = missingTools('nginx');
if (missing.length > 0) console.warn(`skipping nginx upstream tests: missing ${missing.join(', ')}`);

const MiB = 1024 * 1024;
const IMAGE = patternBytes(5 * MiB + 2048 + 7, 21);

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function waitForPort(port: number, proc: ChildProcess): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (proc.exitCode !== null) throw new Error(`nginx exited with ${proc.exitCode}`);
    const ok = await new Promise<boolean>((r) => {
      const s = createConnection({ port, host: '127.0.0.1' }, () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('nginx did not start listening');
}

describe.skipIf(missing.length > 0)('upstream served by nginx', () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  let nginx: ChildProcess;
  let url: string;
  const agent = createUpstreamAgent();

  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-nginx-');
    const www = join(scratch.dir, 'www');
    await mkdir(www);
    await mkdir(join(scratch.dir, 'tmp'));
    await writeFile(join(www, 'base.iso'), IMAGE);
    const port = await freePort();
    const t = join(scratch.dir, 'tmp');
    const conf = [
      process.getuid?.() === 0 ? 'user root;' : '',
      'worker_processes 1;',
      `pid ${join(scratch.dir, 'nginx.pid')};`,
      `error_log ${join(scratch.dir, 'error.log')};`,
      'events { worker_connections 128; }',
      'http {',
      "  log_format ranges '$request_method $status $http_range conn=$connection n=$connection_requests';",
      `  access_log ${join(scratch.dir, 'access.log')} ranges;`,
      `  client_body_temp_path ${t}; proxy_temp_path ${t}; fastcgi_temp_path ${t}; uwsgi_temp_path ${t}; scgi_temp_path ${t};`,
      '  sendfile on;',
      `  server { listen 127.0.0.1:${port}; root ${www}; }`,
      '}',
    ].join('\n');
    await writeFile(join(scratch.dir, 'nginx.conf'), conf);
    nginx = spawn('nginx', ['-p', scratch.dir, '-c', join(scratch.dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' });
    await waitForPort(port, nginx);
    url = `http://127.0.0.1:${port}/base.iso`;
  });

  afterAll(async () => {
    await agent.close();
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise((r) => nginx.once('exit', r));
      nginx.kill('SIGTERM');
      await exited;
    }
    await scratch?.cleanup();
  });

  async function accessLog(): Promise<string[]> {
    // nginx writes the log line after the response: give it a moment by re-reading until stable.
    let prev = '';
    for (let i = 0; i < 20; i++) {
      const now = await readFile(join(scratch.dir, 'access.log'), 'utf8').catch(() => '');
      if (now === prev && now !== '') break;
      prev = now;
      await new Promise((r) => setTimeout(r, 25));
    }
    return prev.split('\n').filter((l) => l !== '');
  }

  it('reads exact bytes through Range requests', async () => {
    const src = await openHttpSource(url, { dispatcher: agent });
    expect(src.size).toBe(IMAGE.length);
    expect(src.supportsRanges).toBe(true);
    expect(src.version.etag).toMatch(/^"/);
    expect(sha256(await collect(src.stream(0, IMAGE.length)))).toBe(sha256(IMAGE));
    expect(sha256(await src.read(MiB - 3, 2 * MiB))).toBe(sha256(IMAGE.subarray(MiB - 3, 3 * MiB - 3)));
  });

  it('reuses keep-alive connections for sequential reads', async () => {
    const src = await openHttpSource(url, { dispatcher: agent });
    const before = (await accessLog()).length;
    for (let i = 0; i < 6; i++) await src.read(i * 1000, 1000);
    const lines = (await accessLog()).slice(before);
    // nginx counts requests per connection: some connection served more than one of them.
    expect(lines.some((l) => /n=([2-9]|\d\d+)$/.test(l))).toBe(true);
  });

  it('fills the block cache with one request per block under 20 concurrent readers', async () => {
    const cache = await createBlockCache({ dir: join(scratch.dir, 'cache'), budgetBytes: 64 * MiB, blockSize: MiB });
    try {
      const src = cache.source(await openHttpSource(url, { dispatcher: agent }));
      const before = (await accessLog()).length;
      const hashes = await Promise.all(
        Array.from({ length: 20 }, async () => {
          const h = createHash('sha256');
          for await (const c of src.stream(0, IMAGE.length)) h.update(c);
          return h.digest('hex');
        }),
      );
      expect(new Set(hashes)).toEqual(new Set([sha256(IMAGE)]));
      const ranged = (await accessLog()).slice(before).filter((l) => l.startsWith('GET 206'));
      expect(ranged).toHaveLength(Math.ceil(IMAGE.length / MiB));
      expect(new Set(ranged).size).toBe(ranged.length);
    } finally {
      await cache.close();
    }
  });
});
