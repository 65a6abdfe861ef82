// The time budgets of the http upstream hold against a server that stalls: before the response
// headers, in the body, and across the retries of the opening probe. Bounds are generous (the
// point is seconds instead of minutes), and the failure must carry UPSTREAM_TIMEOUT.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { UpstreamError } from '../../src/errors.js';
import { HTTP_DEFAULTS } from '../../src/upstream/http-options.js';
import { createUpstreamAgent, openHttpSource } from '../../src/upstream/http-source.js';
import { patternBytes, startFixtureServer, type FixtureServer } from './fixture-server.js';

const IMAGE = patternBytes(512 * 1024 + 9, 13);
const agent = createUpstreamAgent({ connectTimeoutMs: 2_000 });
const fast = { dispatcher: agent, retryBaseDelayMs: 5, retryMaxDelayMs: 20 };

let server: FixtureServer;
beforeAll(async () => {
  server = await startFixtureServer(IMAGE);
});
afterEach(() => {
  for (const k of Object.keys(server.misbehave)) delete (server.misbehave as Record<string, unknown>)[k];
});
afterAll(async () => {
  await server.close();
  await agent.close();
});

async function failure(p: Promise<unknown>): Promise<{ code: string | undefined; ms: number }> {
  const started = Date.now();
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  return { code: (err as UpstreamError | undefined)?.code, ms: Date.now() - started };
}

describe('upstream time budgets', () => {
  it('default to what a BMC waits for: 10 s to response headers, 15 s between body chunks, 30 s to open', () => {
    expect(HTTP_DEFAULTS.headersTimeoutMs).toBe(10_000);
    expect(HTTP_DEFAULTS.bodyTimeoutMs).toBe(15_000);
    expect(HTTP_DEFAULTS.probeTimeoutMs).toBe(30_000);
  });

  it('fails a body that goes silent after its headers with UPSTREAM_TIMEOUT', async () => {
    const src = await openHttpSource(server.url, { ...fast, bodyTimeoutMs: 300, maxRetries: 1 });
    server.misbehave.stallAfterBytes = 0;
    const { code, ms } = await failure(src.read(0, 1000));
    expect(code).toBe('UPSTREAM_TIMEOUT');
    expect(ms).toBeLessThan(10_000);
  }, 30_000);

  it('bounds the opening probe as a whole, retries included', async () => {
    // Headers come after 20 s, the header timeout is 15 s and 4 retries follow it: without a
    // budget for the whole probe this would take over a minute.
    server.misbehave.slowHeadersMs = 20_000;
    const { code, ms } = await failure(openHttpSource(server.url, { ...fast, headersTimeoutMs: 15_000, probeTimeoutMs: 1_000 }));
    expect(code).toBe('UPSTREAM_TIMEOUT');
    expect(ms).toBeLessThan(10_000);
  }, 30_000);
});
