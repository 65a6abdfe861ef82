// The fault-injection suite: a wave of BMC-like clients reads node images by 256 KiB ranges while a
// fault proxy between isoproxy and its upstream resets, stalls, cuts short, lies about ranges,
// changes ETags, ignores Range and answers 5xx. The cache budget is smaller than the two bases,
// so blocks are evicted and fetched again all through the wave and the faults keep landing.
// What must hold: every completed download equals `materialize`; every failed response has a
// status and a code (never an empty reply); a redirect to a host outside the allowlist is never
// followed; and when it is over no socket or file descriptor is left open.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Edits } from '../../src/bootconfig/types.js';
import { faultSchedule, startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { missingTools, scratchDir } from '../helpers/tools.js';
import { expectedImage, seeded, sha256, startProxy, type ProxyUnderTest } from '../service/harness.js';
import { sizedIso } from '../service/images.js';
import { startUpstream, type TestUpstream } from '../service/upstream.js';
import { downloadWithRetries, openFds, type RangeOutcome } from './bmc-client.js';

const missing = missingTools('xorriso');
const EDITS: Edits = { append: ['isoproxy.fault=suite'] };

describe.skipIf(missing.length > 0)(
  `isoproxy behind a faulty upstream${missing.length > 0 ? ` (skipped: missing ${missing.join(', ')})` : ''}`,
  () => {
    let scratch: { dir: string; cleanup: () => Promise<void> };
    let upstream: TestUpstream;
    let faults: FaultProxy;
    let proxy: ProxyUnderTest;
    let fdsBefore: number;
    let canaryHits = 0;
    let canary: ReturnType<typeof createServer>;
    let faultsOn = false;
    const expected: Record<string, Buffer> = {};

    beforeAll(async () => {
      scratch = await scratchDir('isoproxy-fault-suite-');
      const a = await sizedIso(scratch.dir, 'a', 6, 'a');
      const b = await sizedIso(scratch.dir, 'b', 6, 'b');
      expected.a = await expectedImage(a, EDITS, join(scratch.dir, 'a.expected.iso'));
      expected.b = await expectedImage(b, EDITS, join(scratch.dir, 'b.expected.iso'));
      upstream = await startUpstream({ '/a.iso': await readFile(a), '/b.iso': await readFile(b) });
      // A host outside the allowlist: a redirect there must never be followed.
      canary = createServer((_req, res) => {
        canaryHits++;
        res.writeHead(200, { 'content-length': '2' }).end('no');
      });
      await new Promise<void>((r) => canary.listen(0, '127.0.0.1', r));
      const canaryUrl = `http://127.0.0.1:${(canary.address() as AddressInfo).port}/a.iso`;
      const random = seeded(1234);
      fdsBefore = await openFds();
      faults = await startFaultProxy({
        target: upstream.origin,
        choose: faultSchedule(
          random,
          0.25,
          [
            (_req, r) => ({ kind: 'reset', afterBytes: Math.floor(r() * 300_000) }),
            () => ({ kind: 'reset', afterBytes: 0 }),
            (_req, r) => ({ kind: 'stall', afterBytes: Math.floor(r() * 200_000), ms: 300 }),
            () => ({ kind: 'stall', afterBytes: -1, ms: 300 }),
            () => ({ kind: 'status', status: 503 }),
            () => ({ kind: 'status', status: 500 }),
            (_req, r) => ({ kind: 'truncate', afterBytes: Math.floor(r() * 300_000) }),
            () => ({ kind: 'wrong-range' }),
            () => ({ kind: 'etag-change', etag: '"not-the-real-one"' }),
            () => ({ kind: 'ignore-range' }),
            () => ({ kind: 'redirect', location: canaryUrl }),
          ],
          (req) => faultsOn && req.method === 'GET',
        ),
      });
      proxy = await startProxy({ dir: scratch.dir, allow: [`${faults.origin}/`], budget: '6MiB', revalidateMs: 200 });
      for (const [node, base] of [
        ['fa', 'a'],
        ['fb', 'b'],
      ] as const) {
        const res = await proxy.putNode(node, { bootIso: faults.url(`/${base}.iso`), edits: EDITS });
        expect(res.status, await res.text()).toBe(201);
      }
    });

    let proxyClosed = false;
    const closeProxy = async (): Promise<void> => {
      if (proxyClosed || !proxy) return;
      proxyClosed = true;
      await proxy.close();
    };

    afterAll(async () => {
      await closeProxy();
      await faults?.close();
      await upstream?.close();
      await new Promise<void>((r) => (canary ? canary.close(() => r()) : r()));
      await scratch?.cleanup();
    });

    it('completes every download byte-identical, answers every failure with a status and a code, and never follows a bad redirect', async () => {
      faultsOn = true;
      const clients = Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? 'a' : 'b'));
      const reports = await Promise.all(
        clients.map((base) => downloadWithRetries(proxy.imageUrl(`f${base}`), expected[base]!.length, 256 * 1024, 12)),
      );
      faultsOn = false;
      const outcomes: RangeOutcome[] = reports.flatMap((r) => r.outcomes);
      const byKind = (k: RangeOutcome['kind']): number => outcomes.filter((o) => o.kind === k).length;
      const injected = faults.log.filter((l) => l.fault !== 'pass').length;
      const summary = {
        responses: outcomes.length,
        ok: byKind('ok'),
        error: byKind('error'),
        short: byKind('short'),
        empty: byKind('empty'),
        injected,
      };
      console.log('fault suite:', JSON.stringify(summary));
      // How many upstream GETs the downloads make depends on timing (blocks evicted from the 6 MiB
      // budget and fetched again, retries after faults): 9 to 14 faults in runs on the CI machine.
      expect(injected, 'the schedule injected faults').toBeGreaterThanOrEqual(5);
      expect(byKind('empty'), 'empty replies').toBe(0);
      for (const o of outcomes.filter((x) => x.kind === 'error')) {
        expect(o.status).toBeGreaterThanOrEqual(400);
        expect(o.status).not.toBe(500);
        expect(o.code, `a ${o.status} names its code`).toMatch(/^[A-Z_]+$/);
      }
      reports.forEach((r, i) => {
        const base = clients[i]!;
        expect(r.image, `client ${i} finished`).toBeDefined();
        expect(sha256(r.image!), `client ${i} got node f${base}'s image`).toBe(sha256(expected[base]!));
      });
      expect(canaryHits, 'requests that reached a host outside the allowlist').toBe(0);
    });

    it('leaves no upstream connection or file descriptor open once the proxy is closed', async () => {
      await closeProxy();
      const settle = Date.now() + 5_000;
      while (faults.openConnections() > 0 && Date.now() < settle) await new Promise((r) => setTimeout(r, 50));
      expect(faults.openConnections(), `still open from isoproxy: ${faults.describeOpen().join(' | ')}`).toBe(0);
      // Our own servers (upstream, fault proxy, canary) are still open; isoproxy's are gone. Sockets
      // the far side is still closing count for a moment: a leak is what is still open after it.
      let fds = await openFds();
      while (fds > fdsBefore + 8 && Date.now() < settle + 5_000) {
        await new Promise((r) => setTimeout(r, 100));
        fds = await openFds();
      }
      expect(fds).toBeLessThanOrEqual(fdsBefore + 8);
    });
  },
);
