// Malformed bases through the whole service: an ISO truncated at seeded points and one with seeded
// bytes flipped in its metadata, each served by a real upstream and registered as a node. Whatever
// the damage, every answer is a status the error map chose on purpose (a 502 ISO_FORMAT, a 422,
// or the image when the damage misses what isoproxy reads), never a 500 and never an INTERNAL
// code: a read past the end of a structure is the image's fault, not ours.

import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingTools, scratchDir } from '../helpers/tools.js';
import { seeded, startProxy, TOKEN, type ProxyUnderTest } from './harness.js';
import { sizedIso } from './images.js';
import { startUpstream, type TestUpstream } from './upstream.js';

const missing = missingTools('xorriso');
const SECTOR = 2048;

/** Where `text` first occurs in `bytes` (the data of a boot config, found by its contents). */
function find(bytes: Uint8Array, text: string): number {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).indexOf(text, 0, 'latin1');
}

/**
 * Seeded damage: truncations inside the descriptors, the path tables and the directories, and
 * just before the data of each boot config (the tree is whole, a file's extent runs past the
 * end), and byte flips in the metadata.
 */
function variants(iso: Uint8Array): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  const cuts = [16 * SECTOR + 200, 17 * SECTOR, 19 * SECTOR + 7, 21 * SECTOR, 24 * SECTOR + 1000, 30 * SECTOR, 64 * SECTOR];
  for (const text of ['set default=0', 'default linux']) {
    const at = find(iso, text);
    if (at > 0) cuts.push(at, at + 10);
  }
  for (const cut of cuts) out[`/cut-${cut}.iso`] = iso.subarray(0, Math.min(cut, iso.length));
  const random = seeded(0x150f);
  for (let v = 0; v < 12; v++) {
    const bytes = Uint8Array.from(iso);
    for (let i = 0; i < 24; i++) {
      const at = 16 * SECTOR + Math.floor(random() * 24 * SECTOR);
      bytes[at] = Math.floor(random() * 256);
    }
    out[`/flip-${v}.iso`] = bytes;
  }
  return out;
}

describe.skipIf(missing.length > 0)(`malformed bases${missing.length > 0 ? ` (skipped: missing ${missing.join(', ')})` : ''}`, () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  let upstream: TestUpstream;
  let proxy: ProxyUnderTest;
  let files: Record<string, Uint8Array>;

  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-service-malformed-');
    files = variants(await readFile(await sizedIso(scratch.dir, 'm', 1, 'm')));
    upstream = await startUpstream(files);
    proxy = await startProxy({ dir: scratch.dir, allow: [`${upstream.origin}/`] });
  });

  afterAll(async () => {
    await proxy?.close();
    await upstream?.close();
    await scratch?.cleanup();
  });

  it('answers every request on a damaged base with a deliberate status and code, never 500', async () => {
    const seen = new Map<number, number>();
    for (const [i, path] of Object.keys(files).entries()) {
      const node = `m${i}`;
      // Stored even if broken (validate=false): what the serving path does with it is the point here.
      const put = await fetch(`${proxy.url}/api/v1/nodes/${node}?validate=false`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ bootIso: upstream.url(path), edits: { append: ['isoproxy.node=m'] } }),
      });
      expect(put.status, path).toBeLessThan(500);
      for (const [method, headers] of [
        ['GET', {}],
        ['HEAD', {}],
        ['GET', { range: 'bytes=32768-40000' }],
      ] as const) {
        const res = await fetch(proxy.imageUrl(node), { method, headers });
        const what = `${method} ${path} ${JSON.stringify(headers)}`;
        seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
        expect(res.status, what).not.toBe(500);
        if (res.status >= 400 && method === 'GET') {
          const body = (await res.json()) as { error: { code: string } };
          expect(body.error.code, what).not.toBe('INTERNAL');
        } else {
          await res.arrayBuffer().catch(() => undefined);
        }
      }
    }
    // The damage must have been refused somewhere, or the test proves nothing.
    expect(
      [...seen.keys()].some((s) => s >= 400),
      JSON.stringify([...seen]),
    ).toBe(true);
  });
});
