// A cache directory on a 2 MiB tmpfs fills up after a block or two: the cache must keep serving
// exact bytes from upstream, say so once in the log, and report itself degraded. Mounting needs
// root; elsewhere the test is skipped with a message.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBlockCache } from '../../src/cache/block-cache.js';
import { createUpstreamAgent, openHttpSource } from '../../src/upstream/http-source.js';
import type { LoggerLike } from '../../src/upstream/types.js';
import { run, scratchDir } from '../helpers/tools.js';
import { patternBytes, sha256, startFixtureServer, type FixtureServer } from '../upstream/fixture-server.js';

const MiB = 1024 * 1024;
const IMAGE = patternBytes(6 * MiB + 5, 31);
const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('skipping full-disk cache test: mounting a small tmpfs needs root');

describe.skipIf(!isRoot)('block cache on a full disk', () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  let mountPoint: string;
  let mounted = false;
  let server: FixtureServer;
  const agent = createUpstreamAgent();

  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-full-');
    mountPoint = join(scratch.dir, 'small');
    await mkdir(mountPoint);
    try {
      await run('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountPoint]);
      mounted = true;
    } catch (err) {
      console.warn(`skipping full-disk cache test: ${(err as Error).message}`);
    }
    server = await startFixtureServer(IMAGE);
  });
  afterAll(async () => {
    await server?.close();
    await agent.close();
    if (mounted) await run('umount', [mountPoint]);
    await scratch?.cleanup();
  });

  it('keeps serving exact bytes from upstream, warning once', async (ctx) => {
    if (!mounted) ctx.skip();
    const warns: string[] = [];
    const logger: LoggerLike = { warn: (_o, m) => warns.push(m ?? ''), info: () => {}, debug: () => {} };
    const cache = await createBlockCache({ dir: join(mountPoint, 'cache'), budgetBytes: 64 * MiB, blockSize: MiB, readaheadBlocks: 2, logger });
    try {
      const src = cache.source(await openHttpSource(server.url, { dispatcher: agent }));
      for (let round = 0; round < 2; round++) {
        expect(sha256(await src.read(0, IMAGE.length))).toBe(sha256(IMAGE));
        await cache.flush();
      }
      const stats = cache.stats();
      expect(stats.degraded).toBe(true);
      expect(stats.bytesUsed).toBeLessThanOrEqual(2 * MiB);
      expect(warns.filter((w) => w.includes('disk full'))).toHaveLength(1);
    } finally {
      await cache.close();
    }
  });
});
