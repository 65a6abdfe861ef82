// Hostile requests against the whole app in-process (the real serving core over a fake resolver):
// fuzzed paths, Range and conditional headers on the image route, and fuzzed admin bodies. Every
// answer must be a status the error map chose on purpose: any 500 fails the test, and every
// error carries a JSON code. The image reader fails too, with typed errors and with a plain
// Error (our bug), so the map is exercised on both sides of the head.

import fc from 'fast-check';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/http/app.js';
import { IsoFormatError, OutOfBoundsError, UpstreamError } from '../../src/errors.js';
import { MemoryNodeStore } from '../../src/registry/store.js';
import { FakeResolver, pseudoRandomBytes } from './fake-image.js';
import { fakeServing, TOKEN } from './server.js';

const SIZE = 100_000;

function app(resolver: FakeResolver) {
  return createApp({
    serving: fakeServing(new MemoryNodeStore(), resolver, () => new Date('2026-03-01T00:00:00Z')),
    imageRoutes: [{ prefix: '/iso', source: 'fake' }],
    logger: pino({ level: 'silent' }),
    publicUrl: 'http://proxy.example',
    adminToken: TOKEN,
  });
}

/** Asserts what every answer must be: no 500, and an error's body is a JSON code. */
async function checkAnswer(res: Response, what: string, method = 'GET'): Promise<void> {
  expect(res.status, what).not.toBe(500);
  if (res.status >= 400) {
    // HEAD too: it answers exactly GET's headers.
    expect(res.headers.get('content-type'), what).toMatch(/^application\/json/);
    const text = method === 'HEAD' ? '' : await res.text();
    if (text !== '') expect(JSON.parse(text).error.code, what).toMatch(/^[A-Z_]+$/);
  } else {
    await res.arrayBuffer().catch(() => undefined);
  }
}

const headerText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom(
    'bytes=0-0',
    'bytes=-1',
    `bytes=${SIZE}-`,
    'bytes=0-1,5-3',
    'bytes=99999-99999',
    '*',
    '"base1-n"',
    'W/"x"',
    'Fri, 02 Jan 2026 03:04:05 GMT',
    'garbage, "a"',
    'bytes=0-'.repeat(50),
  ),
);

describe('fuzzed requests never answer 500', () => {
  it('on the image route, with random names, methods, Range and conditional headers', async () => {
    const resolver = new FakeResolver().add('n', { data: pseudoRandomBytes(SIZE) }).add('empty', { size: 0 });
    const { fetch } = app(resolver);
    const names = fc.oneof(fc.constantFrom('n', 'empty', 'nobody', '..', '.', '%2e', 'a:b', 'x'.repeat(200)), fc.string({ maxLength: 20 }));
    const headerNames = ['range', 'if-range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since'] as const;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'HEAD'),
        names,
        fc.dictionary(fc.constantFrom(...headerNames), headerText, { maxKeys: 4 }),
        async (method, name, headers) => {
          let url: string;
          try {
            url = new URL(`http://x/iso/${encodeURIComponent(name)}.iso`).href;
          } catch {
            return;
          }
          const safe = Object.fromEntries(Object.entries(headers).filter(([, v]) => /^[\x20-\x7e]*$/.test(v)));
          await checkAnswer(await fetch(new Request(url, { method, headers: safe })), `${method} ${name} ${JSON.stringify(safe)}`, method);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('on the admin API, with random bodies and names', async () => {
    const { fetch } = app(new FakeResolver());
    const body = fc.oneof(
      fc.json(),
      fc
        .record(
          {
            bootIso: fc.oneof(fc.string(), fc.constant('http://images.example/a.iso'), fc.integer()),
            edits: fc.oneof(fc.object(), fc.record({ append: fc.array(fc.string()), set: fc.dictionary(fc.string(), fc.string()) })),
            expiresAt: fc.oneof(
              fc.string(),
              fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
              fc.constant(null),
            ),
          },
          { requiredKeys: [] },
        )
        .map((o) => JSON.stringify(o)),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('n1', 'a:b', '..', '_a'), body, fc.constantFrom('PUT', 'GET', 'DELETE'), async (name, text, method) => {
        const init: RequestInit = { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' } };
        if (method === 'PUT') init.body = text;
        await checkAnswer(await fetch(new Request(`http://x/api/v1/nodes/${name}`, init)), `${method} ${name} ${text}`);
      }),
      { numRuns: 200 },
    );
  });

  it('when the image fails: a malformed base, an unreachable one, a read past an end, or our own bug before the head', async () => {
    const resolver = new FakeResolver().add('n', { data: pseudoRandomBytes(SIZE) });
    const { fetch } = app(resolver);
    const failures: Array<[Error, number]> = [
      [new IsoFormatError('directory record', 34816, 'too short'), 502],
      [new OutOfBoundsError(4096, 2048, 5000), 502],
      [new UpstreamError('UPSTREAM_STATUS', 'http://u/a.iso', 'status 500', 500), 502],
      [new UpstreamError('UPSTREAM_TIMEOUT', 'http://u/a.iso', 'no answer'), 504],
    ];
    for (const [err, status] of failures) {
      resolver.failImage = err;
      for (const method of ['GET', 'HEAD']) {
        const res = await fetch(new Request('http://x/iso/n.iso', { method }));
        expect(res.status, `${method} ${err.message}`).toBe(status);
        await checkAnswer(res, err.message, method);
      }
    }
  });
});
