// The soak: isoproxy as its own process (the built CLI) under many concurrent BMC-like clients
// for a while, 20 nodes on 3 bases, behind a flaky upstream (the fault proxy resets, stalls,
// cuts short and answers 5xx now and then). Every range a client completes is checked against
// the node's expected image (`materialize`), so a single wrong byte anywhere is a mismatch.
//
// `npm test` runs a short form (SOAK_SECONDS, default 20, 60 clients); `npm run soak` runs the
// long one (200 clients, 300 s). It reports requests, bytes verified, mismatches and empty
// replies (both must be 0), p99 latency, and isoproxy's RSS over time, and writes the report to
// test-artifacts/soak.json.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Edits } from '../../src/bootconfig/types.js';
import { faultSchedule, startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { freePort, missingTools, scratchDir } from '../helpers/tools.js';
import { expectedImage, seeded } from '../service/harness.js';
import { sizedIso } from '../service/images.js';
import { startUpstream, type TestUpstream } from '../service/upstream.js';
import { getRangeRaw } from '../hardening/bmc-client.js';

const missing = missingTools('xorriso');
const SECONDS = Number(process.env['SOAK_SECONDS'] ?? 20);
const CLIENTS = Number(process.env['SOAK_CLIENTS'] ?? 60);
const NODES = 20;
const BASES = ['s1', 's2', 's3'] as const;
const TOKEN = 'soak-token-0123456789abcdef0123';
const repo = resolve(import.meta.dirname, '../..');

const editsOf = (i: number): Edits => ({ append: [`isoproxy.soak=${i}`] });

async function rssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

async function waitReady(url: string, proc: ChildProcess): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (proc.exitCode !== null) throw new Error(`isoproxy exited with ${proc.exitCode}`);
    const ok = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('isoproxy did not become ready');
}

describe.skipIf(missing.length > 0)(
  `soak: ${CLIENTS} clients for ${SECONDS} s${missing.length > 0 ? ` (skipped: missing ${missing.join(', ')})` : ''}`,
  () => {
    let scratch: { dir: string; cleanup: () => Promise<void> };
    let upstream: TestUpstream;
    let faults: FaultProxy;
    let proc: ChildProcess;
    let url: string;
    const images: Buffer[] = [];

    beforeAll(async () => {
      scratch = await scratchDir('isoproxy-soak-');
      const files: Record<string, Uint8Array> = {};
      for (const b of BASES) files[`/${b}.iso`] = await readFile(await sizedIso(scratch.dir, b, 8, b));
      upstream = await startUpstream(files);
      const random = seeded(99);
      faults = await startFaultProxy({
        target: upstream.origin,
        choose: faultSchedule(
          random,
          0.05,
          [
            (_q, r) => ({ kind: 'reset', afterBytes: Math.floor(r() * 500_000) }),
            () => ({ kind: 'status', status: 503 }),
            (_q, r) => ({ kind: 'stall', afterBytes: Math.floor(r() * 500_000), ms: 200 }),
            (_q, r) => ({ kind: 'truncate', afterBytes: Math.floor(r() * 500_000) }),
          ],
          (q) => q.method === 'GET' && q.range !== 'bytes=0-0',
        ),
      });
      const port = await freePort();
      url = `http://127.0.0.1:${port}`;
      proc = spawn(
        process.execPath,
        [
          join(repo, 'dist/src/cli.js'),
          'serve',
          '--host',
          '127.0.0.1',
          '--port',
          String(port),
          '--data-dir',
          join(scratch.dir, 'data'),
          '--cache-dir',
          join(scratch.dir, 'cache'),
          '--cache-budget',
          '12MiB',
          '--block-size',
          '1MiB',
          '--allow-upstream',
          `${faults.origin}/`,
          '--max-transfers-per-client',
          '100000',
          '--log-level',
          'warn',
        ],
        { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ISOPROXY_ADMIN_TOKEN: TOKEN } },
      );
      await waitReady(url, proc);
      for (let i = 0; i < NODES; i++) {
        const base = BASES[i % BASES.length]!;
        const res = await fetch(`${url}/api/v1/nodes/soak-${i}`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ bootIso: faults.url(`/${base}.iso`), edits: editsOf(i) }),
        });
        expect(res.status, await res.text()).toBe(201);
        images.push(await expectedImage(join(scratch.dir, `${base}.iso`), editsOf(i), join(scratch.dir, `soak-${i}.iso`)));
      }
    });

    afterAll(async () => {
      proc?.kill('SIGTERM');
      await faults?.close();
      await upstream?.close();
      await scratch?.cleanup();
    });

    it('serves every range byte-exact with no empty reply under load and a flaky upstream', async () => {
      const until = Date.now() + SECONDS * 1000;
      const latencies: number[] = [];
      const rss: Array<{ t: number; kib: number }> = [];
      let requests = 0;
      let verified = 0;
      let mismatches = 0;
      let empty = 0;
      let errors = 0;
      const sampler = setInterval(() => void rssKiB(proc.pid!).then((kib) => rss.push({ t: Date.now(), kib })), 500);
      const client = async (id: number): Promise<void> => {
        const random = seeded(1000 + id);
        while (Date.now() < until) {
          const node = Math.floor(random() * NODES);
          const image = images[node]!;
          const start = Math.floor(random() * (image.length / 262_144)) * 262_144;
          const end = Math.min(image.length, start + 262_144) - 1;
          const o = await getRangeRaw(`${url}/iso/soak-${node}.iso`, start, end);
          requests++;
          latencies.push(o.ms);
          if (o.kind === 'empty') empty++;
          else if (o.kind === 'ok') {
            if (o.bytes!.equals(image.subarray(start, end + 1))) verified += o.bytes!.length;
            else mismatches++;
          } else errors++;
        }
      };
      await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i)));
      clearInterval(sampler);
      latencies.sort((a, b) => a - b);
      const p = (q: number): number => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
      const report = {
        seconds: SECONDS,
        clients: CLIENTS,
        nodes: NODES,
        bases: BASES.length,
        requests,
        bytesVerified: verified,
        mismatches,
        emptyReplies: empty,
        failedResponses: errors,
        p50ms: p(0.5),
        p99ms: p(0.99),
        peakRssMiB: Math.round(Math.max(0, ...rss.map((s) => s.kib)) / 1024),
        rssMiB: rss.filter((_, i) => i % 4 === 0).map((s) => Math.round(s.kib / 1024)),
        upstreamFaults: faults.log.filter((l) => l.fault !== 'pass').length,
      };
      console.log('soak:', JSON.stringify(report));
      await mkdir(join(repo, 'test-artifacts'), { recursive: true });
      await writeFile(join(repo, 'test-artifacts', 'soak.json'), `${JSON.stringify(report, null, 2)}\n`);
      expect(mismatches).toBe(0);
      expect(empty).toBe(0);
      expect(verified).toBeGreaterThan(0);
    });
  },
);
