// The HTTP source and the block cache against nginx (the upstream most deployments put ISOs
// behind), started by test/helpers/nginx.ts with a temporary config on a free port.

import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBlockCache } from '../../src/cache/block-cache.js';
import { createUpstreamAgent, openHttpSource } from '../../src/upstream/http-source.js';
import { startNginx, type Nginx } from '../helpers/nginx.js';
import { missingTools, scratchDir } from '../helpers/tools.js';
import { collect, patternBytes, sha256 } from './fixture-server.js';

const missing = missingTools('nginx');
if (missing.length > 0) console.warn(`skipping nginx upstream tests: missing ${missing.join(', ')}`);

const MiB = 1024 * 1024;
const IMAGE = patternBytes(5 * MiB + 2048 + 7, 21);

describe.skipIf(missing.length > 0)('upstream served by nginx', () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  let nginx: Nginx;
  let url: string;
  const agent = createUpstreamAgent();

  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-nginx-');
    const www = join(scratch.dir, 'www');
    await mkdir(www);
    await writeFile(join(www, 'base.iso'), IMAGE);
    nginx = await startNginx(scratch.dir, www);
    url = `${nginx.origin}/base.iso`;
  });

  afterAll(async () => {
    await agent.close();
    await nginx?.close();
    await scratch?.cleanup();
  });

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
    const before = (await nginx.log()).length;
    for (let i = 0; i < 6; i++) await src.read(i * 1000, 1000);
    const lines = (await nginx.log()).slice(before);
    // nginx counts requests per connection: some connection served more than one of them.
    expect(lines.some((l) => l.connectionRequests > 1)).toBe(true);
  });

  it('fills the block cache with one request per block under 20 concurrent readers', async () => {
    const cache = await createBlockCache({ dir: join(scratch.dir, 'cache'), budgetBytes: 64 * MiB, blockSize: MiB });
    try {
      const src = cache.source(await openHttpSource(url, { dispatcher: agent }));
      const before = (await nginx.log()).length;
      const hashes = await Promise.all(
        Array.from({ length: 20 }, async () => {
          const h = createHash('sha256');
          for await (const c of src.stream(0, IMAGE.length)) h.update(c);
          return h.digest('hex');
        }),
      );
      expect(new Set(hashes)).toEqual(new Set([sha256(IMAGE)]));
      const ranged = (await nginx.log())
        .slice(before)
        .filter((l) => l.method === 'GET' && l.status === 206)
        .map((l) => l.range);
      expect(ranged).toHaveLength(Math.ceil(IMAGE.length / MiB));
      expect(new Set(ranged).size).toBe(ranged.length);
    } finally {
      await cache.close();
    }
  });
});
