// How the simulated BMC reads an inserted image, the way real BMCs do: a HEAD that must carry
// Content-Length and `Accept-Ranges: bytes`, then either range reads of a fixed size with some
// concurrency (OpenBMC's nbdkit curl plugin pattern; the last range runs past the end and the
// server must clamp it) or one whole GET (sushy-tools' emulator pattern). Bytes are scanned as they
// arrive, in order, for boot-config markers and the node's expected tokens; memory stays at
// concurrency × range size whatever the image size.

import { Agent, request } from 'undici';

export type FetchMode = 'ranges' | 'whole' | 'none';

export interface FetchOptions {
  readonly mode: FetchMode;
  /** Bytes per range read. Default 256 KiB. */
  readonly rangeSize?: number;
  /** Range reads in flight. Default 4. */
  readonly concurrency?: number;
  /** Tokens that must appear in the image bytes (the node's kernel parameters). */
  readonly expect?: readonly string[];
  /** Refuse images larger than this. Default 64 GiB. */
  readonly maxBytes?: number;
  readonly timeoutMs?: number;
}

export interface FetchChecks {
  readonly sizeOk: boolean;
  /** Which boot-config marker was seen first, or null. */
  readonly bootConfig: string | null;
  readonly expectFound: Record<string, boolean>;
}

export interface FetchProgress {
  state: 'idle' | 'fetching' | 'done' | 'failed';
  url: string | null;
  mode: FetchMode;
  totalBytes: number | null;
  bytesRead: number;
  requests: number;
  /** Set on completion; `verified` is true when every check passed. */
  checks: FetchChecks | null;
  verified: boolean;
  error: string | null;
}

export function idleProgress(mode: FetchMode): FetchProgress {
  return { state: 'idle', url: null, mode, totalBytes: null, bytesRead: 0, requests: 0, checks: null, verified: false, error: null };
}

/**
 * Text that only a boot config holds: grub menu entries, syslinux/isolinux APPEND lines, and
 * systemd-boot `options`. A heuristic: enough to tell a bootable image from a blob.
 */
const BOOT_MARKERS = ['menuentry ', 'APPEND ', 'append ', '\noptions '];

/** Scans a stream for tokens across chunk boundaries, keeping only a short tail. */
class TokenScanner {
  private tail = Buffer.alloc(0);
  private readonly tokens: Buffer[];
  private readonly keep: number;
  readonly found: boolean[];

  constructor(tokens: readonly string[]) {
    this.tokens = tokens.map((t) => Buffer.from(t, 'utf8'));
    this.found = tokens.map(() => false);
    this.keep = Math.max(0, ...this.tokens.map((t) => t.length - 1));
  }

  push(chunk: Uint8Array): void {
    const buf = this.tail.length > 0 ? Buffer.concat([this.tail, chunk]) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.tokens.forEach((t, i) => {
      if (!this.found[i] && t.length > 0 && buf.indexOf(t) >= 0) this.found[i] = true;
    });
    this.tail = Buffer.from(buf.subarray(Math.max(0, buf.length - this.keep)));
  }
}

async function readBody(body: AsyncIterable<Uint8Array>, onChunk: (c: Uint8Array) => void): Promise<void> {
  for await (const chunk of body) onChunk(chunk);
}

/** Fetches `url` into the scanners, updating `progress` as it goes. Never throws: failures land in progress. */
export async function fetchImage(url: string, options: FetchOptions, progress: FetchProgress, signal: AbortSignal): Promise<void> {
  const rangeSize = Math.max(512, options.rangeSize ?? 256 * 1024);
  const concurrency = Math.max(1, Math.min(32, options.concurrency ?? 4));
  const maxBytes = options.maxBytes ?? 64 * 1024 ** 3;
  const expect = options.expect ?? [];
  const timeout = options.timeoutMs ?? 60_000;
  Object.assign(progress, { ...idleProgress(options.mode), state: 'fetching', url });
  const agent = new Agent({ headersTimeout: timeout, bodyTimeout: timeout, connections: concurrency });
  const scanner = new TokenScanner([...BOOT_MARKERS, ...expect]);
  try {
    progress.requests++;
    const head = await request(url, { method: 'HEAD', dispatcher: agent, signal });
    await head.body.dump();
    if (head.statusCode !== 200) throw new Error(`HEAD answered ${head.statusCode}`);
    const length = Number(head.headers['content-length']);
    if (head.headers['content-length'] === undefined || !Number.isSafeInteger(length) || length < 0) throw new Error('HEAD has no Content-Length');
    if (String(head.headers['accept-ranges'] ?? '').toLowerCase() !== 'bytes') throw new Error('HEAD has no Accept-Ranges: bytes');
    if (length > maxBytes) throw new Error(`image of ${length} bytes exceeds ${maxBytes}`);
    progress.totalBytes = length;

    if (options.mode === 'whole') {
      progress.requests++;
      const res = await request(url, { method: 'GET', dispatcher: agent, signal });
      if (res.statusCode !== 200) {
        await res.body.dump();
        throw new Error(`GET answered ${res.statusCode}`);
      }
      await readBody(res.body, (c) => {
        progress.bytesRead += c.length;
        if (progress.bytesRead > length) throw new Error(`GET sent more than the ${length} bytes HEAD announced`);
        scanner.push(c);
      });
    } else {
      // A window of range reads in flight, consumed in order so the scan sees the image in order.
      const starts: number[] = [];
      for (let s = 0; s < length; s += rangeSize) starts.push(s);
      const readRange = async (start: number): Promise<Buffer> => {
        const end = start + rangeSize - 1; // may run past the end, as nbdkit's last block does
        progress.requests++;
        const res = await request(url, { method: 'GET', headers: { range: `bytes=${start}-${end}` }, dispatcher: agent, signal });
        if (res.statusCode !== 206) {
          await res.body.dump();
          throw new Error(`range ${start}-${end} answered ${res.statusCode}`);
        }
        const expectedEnd = Math.min(end, length - 1);
        const cr = String(res.headers['content-range'] ?? '');
        if (cr !== `bytes ${start}-${expectedEnd}/${length}`) {
          await res.body.dump();
          throw new Error(`range ${start}-${end}: Content-Range ${JSON.stringify(cr)}, expected bytes ${start}-${expectedEnd}/${length}`);
        }
        const chunks: Buffer[] = [];
        let got = 0;
        for await (const c of res.body) {
          got += c.length;
          if (got > expectedEnd - start + 1) throw new Error(`range ${start}-${end} sent more than ${expectedEnd - start + 1} bytes`);
          chunks.push(Buffer.from(c));
        }
        if (got !== expectedEnd - start + 1) throw new Error(`range ${start}-${end} sent ${got} bytes, expected ${expectedEnd - start + 1}`);
        return Buffer.concat(chunks);
      };
      const inflight: Promise<Buffer>[] = [];
      let next = 0;
      const launch = (): void => {
        while (inflight.length < concurrency && next < starts.length) {
          const p = readRange(starts[next++] as number);
          p.catch(() => undefined); // observed when awaited; avoids an unhandled rejection meanwhile
          inflight.push(p);
        }
      };
      launch();
      while (inflight.length > 0) {
        const buf = await (inflight.shift() as Promise<Buffer>);
        progress.bytesRead += buf.length;
        scanner.push(buf);
        launch();
      }
    }
    const markers = scanner.found.slice(0, BOOT_MARKERS.length);
    const firstMarker = BOOT_MARKERS.find((_, i) => markers[i]) ?? null;
    const expectFound: Record<string, boolean> = {};
    expect.forEach((t, i) => {
      expectFound[t] = scanner.found[BOOT_MARKERS.length + i] === true;
    });
    const checks: FetchChecks = { sizeOk: progress.bytesRead === length, bootConfig: firstMarker?.trim() ?? null, expectFound };
    progress.checks = checks;
    progress.verified = checks.sizeOk && checks.bootConfig !== null && Object.values(expectFound).every(Boolean);
    progress.state = 'done';
    if (!progress.verified) {
      const missing = Object.entries(expectFound)
        .filter(([, v]) => !v)
        .map(([k]) => k);
      progress.error = !checks.sizeOk
        ? `read ${progress.bytesRead} of ${length} bytes`
        : checks.bootConfig === null
          ? 'no boot config found in the image'
          : `missing in the image: ${missing.join(', ')}`;
    }
  } catch (err) {
    progress.state = 'failed';
    progress.error = signal.aborted ? 'aborted (media ejected)' : (err as Error).message;
  } finally {
    await agent.close().catch(() => undefined);
  }
}
