// The whole service in-process for integration tests: `startServer` on port 0 over a real data
// directory, block cache and remaster pool (the composition root src/service.ts), talking to
// real HTTP upstreams on 127.0.0.1 that serve ISOs built at test time. Also the expected image
// of a node, computed offline (the `isoproxy materialize` path), so every download can be
// compared with it by sha256, and small clients (ranges, curl) that record exactly what arrived.

import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { normalizeEdits } from '../../src/bootconfig/index.js';
import type { Edits } from '../../src/bootconfig/types.js';
import { loadConfig } from '../../src/config.js';
import { openLocalBase } from '../../src/commands/local-base.js';
import { sourceStream, writeVirtualImage } from '../../src/commands/materialize.js';
import { streamVirtual } from '../../src/overlay/virtual-image.js';
import { startServer, type RunningServer } from '../../src/http/server.js';
import { FileNodeStore } from '../../src/registry/file-store.js';
import { computePatchSet } from '../../src/remaster/compute.js';
import { createService, type Service } from '../../src/service.js';

export const TOKEN = 'integration-token-0123456789abcdef';
export const MiB = 1024 * 1024;

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export interface ProxyOptions {
  /** Scratch directory: data in <dir>/data, cache in <dir>/cache unless given. */
  readonly dir: string;
  /** URL prefixes nodes may name. */
  readonly allow: readonly string[];
  /** Directories file:// bases may come from. */
  readonly allowDirs?: readonly string[];
  readonly cacheDir?: string;
  /** e.g. '3MiB'; default 256MiB. */
  readonly budget?: string;
  /** When given, the service is built here with this revalidation interval (startServer does not pass one). */
  readonly revalidateMs?: number;
  readonly now?: () => Date;
  /** More `isoproxy serve` flags, appended to the harness's own (e.g. client limits). */
  readonly extraArgs?: readonly string[];
}

export interface ProxyUnderTest {
  readonly url: string;
  readonly running: RunningServer;
  /** Set when the harness built the service itself (revalidateMs given). */
  readonly service: Service | undefined;
  readonly logs: Array<Record<string, unknown>>;
  /** PUT /api/v1/nodes/:name with the admin token. */
  putNode(name: string, body: { bootIso: string; edits?: Edits; expiresAt?: string }, token?: string): Promise<Response>;
  imageUrl(name: string): string;
  metrics(): Promise<string>;
  close(): Promise<void>;
}

export async function startProxy(options: ProxyOptions): Promise<ProxyUnderTest> {
  const dataDir = join(options.dir, 'data');
  const cacheDir = options.cacheDir ?? join(options.dir, 'cache');
  await mkdir(dataDir, { recursive: true });
  const config = loadConfig([
    '--port',
    '0',
    '--data-dir',
    dataDir,
    '--cache-dir',
    cacheDir,
    '--admin-token',
    TOKEN,
    '--block-size',
    '1MiB',
    '--cache-budget',
    options.budget ?? '256MiB',
    '--workers',
    '1',
    '--shutdown-deadline',
    '2s',
    ...options.allow.flatMap((a) => ['--allow-upstream', a]),
    ...(options.allowDirs ?? []).flatMap((d) => ['--allow-dir', d]),
    // Every simulated BMC here is 127.0.0.1: the per-address cap would count a whole wave as one
    // client. Tests of the cap set it in extraArgs, which come later and win.
    '--max-transfers-per-client',
    '100000',
    ...(options.extraArgs ?? []),
  ]);
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'info' },
    {
      write: (line: string) => {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  );
  let service: Service | undefined;
  let store: FileNodeStore | undefined;
  if (options.revalidateMs !== undefined) {
    store = await FileNodeStore.open(dataDir);
    const now = options.now;
    service = await createService(config, store, logger, { revalidateMs: options.revalidateMs, ...(now ? { now: () => now().getTime() } : {}) });
  }
  const running = await startServer(config, {
    logger,
    ...(store ? { store } : {}),
    ...(service ? { service } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  return {
    url: running.url,
    running,
    service,
    logs,
    putNode: (name, body, token = TOKEN) =>
      fetch(`${running.url}/api/v1/nodes/${name}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }),
    imageUrl: (name) => `${running.url}/iso/${name}.iso`,
    metrics: async () => (await fetch(`${running.url}/metrics`)).text(),
    async close() {
      await running.close();
      await service?.close();
      await store?.close();
    },
  };
}

/** The image a node with these edits must get: base ⊕ patch set computed offline, as `isoproxy materialize` writes it. */
export async function expectedImage(iso: string, edits: Edits, out: string): Promise<Buffer> {
  const base = await openLocalBase(iso);
  try {
    const { patchSet } = computePatchSet(base.ctx, normalizeEdits(edits));
    await writeVirtualImage(patchSet, base.source, out);
  } finally {
    await base.source.close();
  }
  return readFile(out);
}

/** Size and sha256 of each node's expected image (base opened once; nothing written to disk). */
export async function expectedDigests(iso: string, editsList: readonly Edits[]): Promise<Array<{ size: number; sha256: string }>> {
  const base = await openLocalBase(iso);
  try {
    const out: Array<{ size: number; sha256: string }> = [];
    for (const edits of editsList) {
      const { patchSet } = computePatchSet(base.ctx, normalizeEdits(edits));
      const hash = createHash('sha256');
      for await (const chunk of streamVirtual(patchSet, sourceStream(base.source), 0, patchSet.size - 1, new AbortController().signal))
        hash.update(chunk);
      out.push({ size: patchSet.size, sha256: hash.digest('hex') });
    }
    return out;
  } finally {
    await base.source.close();
  }
}

/** A deterministic pseudo-random generator (mulberry32): reproducible "random" ranges. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** GET one range; throws unless the answer is a 206 for exactly [start, end]. */
export async function getRange(url: string, start: number, end: number, headers: Record<string, string> = {}): Promise<Buffer> {
  const res = await fetch(url, { headers: { ...headers, range: `bytes=${start}-${end}` } });
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status !== 206) throw new Error(`range ${start}-${end}: status ${res.status}`);
  const cr = res.headers.get('content-range') ?? '';
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(cr);
  if (!m || Number(m[1]) !== start || Number(m[2]) !== end) throw new Error(`range ${start}-${end}: Content-Range ${cr}`);
  if (body.length !== end - start + 1) throw new Error(`range ${start}-${end}: ${body.length} bytes`);
  return body;
}

/** The image by sequential ranges of `step` bytes. */
export async function downloadByRanges(url: string, size: number, step: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let at = 0; at < size; at += step) parts.push(await getRange(url, at, Math.min(size, at + step) - 1));
  return Buffer.concat(parts);
}

/**
 * What a plain GET delivered before its body ended or failed: the bytes, the status, and how it
 * ended ('complete' when Content-Length bytes arrived, else the error).
 */
export interface Partial {
  readonly status: number;
  readonly etag: string | null;
  readonly declared: number;
  readonly bytes: Buffer;
  readonly error: unknown;
}

export async function getPartial(url: string, headers: Record<string, string> = {}): Promise<Partial> {
  const res = await fetch(url, { headers });
  const declared = Number(res.headers.get('content-length') ?? NaN);
  const parts: Buffer[] = [];
  let error: unknown;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parts.push(Buffer.from(chunk));
  } catch (err) {
    error = err;
  }
  return { status: res.status, etag: res.headers.get('etag'), declared, bytes: Buffer.concat(parts), error };
}

/** Bytes of block files under the cache directory (every file, temporaries included). */
export async function diskBytes(dir: string): Promise<number> {
  let total = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true, recursive: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    if (!e.isFile()) continue;
    // A temporary file may be renamed, or a block evicted, between readdir and stat.
    total += (await stat(join(e.parentPath, e.name)).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

/** Polls `check` until it is true (or throws after `tries` x 20 ms): for log lines written asynchronously. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, tries = 500): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`gave up waiting for ${what}`);
}
