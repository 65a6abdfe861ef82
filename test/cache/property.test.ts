// Property: whatever mix of reads, streams and cancellations runs concurrently on a cache with a
// budget smaller than the image, every byte a reader receives equals the image at that offset, and
// the cache never holds more than its budget.

import fc from 'fast-check';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBlockCache } from '../../src/cache/block-cache.js';
import { createUpstreamAgent, openHttpSource } from '../../src/upstream/http-source.js';
import type { UpstreamSource } from '../../src/upstream/types.js';
import { scratchDir } from '../helpers/tools.js';
import { patternBytes, startFixtureServer, type FixtureServer } from '../upstream/fixture-server.js';

const MiB = 1024 * 1024;
const IMAGE = patternBytes(5 * MiB + 4321, 41);

function equalsImage(offset: number, bytes: Uint8Array): boolean {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).equals(IMAGE.subarray(offset, offset + bytes.length));
}

describe('block cache under random concurrent reads', () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  let server: FixtureServer;
  let upstream: UpstreamSource;
  const agent = createUpstreamAgent();
  let run = 0;

  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-prop-');
    server = await startFixtureServer(IMAGE);
    upstream = await openHttpSource(server.url, { dispatcher: agent });
  });
  afterAll(async () => {
    await server.close();
    await agent.close();
    await scratch.cleanup();
  });

  const op = fc.record({
    offset: fc.integer({ min: 0, max: IMAGE.length - 1 }),
    length: fc.integer({ min: 0, max: 2 * MiB }),
    // Stop after this many chunks (a client going away), or read to the end.
    stopAfter: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
  });

  it('returns only bytes of the image and stays within budget', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 8 }), async (ops) => {
        const budget = 2 * MiB;
        const dir = join(scratch.dir, `r${run++}`);
        const cache = await createBlockCache({ dir, budgetBytes: budget, blockSize: MiB, readaheadBlocks: 1, chunkBytes: 128 * 1024 });
        try {
          const src = cache.source(upstream);
          await Promise.all(
            ops.map(async ({ offset, length, stopAfter }) => {
              const len = Math.min(length, IMAGE.length - offset);
              let pos = offset;
              let chunks = 0;
              for await (const chunk of src.stream(offset, len)) {
                expect(equalsImage(pos, chunk)).toBe(true);
                pos += chunk.length;
                if (stopAfter !== undefined && ++chunks > stopAfter) break;
              }
              if (stopAfter === undefined) expect(pos).toBe(offset + len);
            }),
          );
          await cache.flush();
          expect(cache.stats().bytesUsed).toBeLessThanOrEqual(budget);
        } finally {
          await cache.close();
        }
      }),
      { numRuns: 25, seed: 20240101 },
    );
  });
});
