// The status page in a real headless browser (Debian's chromium driven by playwright-core, no
// browser download) during a simulated wave of 30 BMCs reading by 256 KiB ranges through a small
// range-serving HTTP server whose per-chunk hook feeds the tracker. Screenshots go to
// test-artifacts/ui/ (gitignored). Skipped with a message when /usr/bin/chromium is missing.

import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAdaptorServer } from '@hono/node-server';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WaveTracker } from '../../src/status/index.js';
import { createStatusRoutes } from '../../src/ui/index.js';
import { MiB, simulateBmc, startRangeServer, type RangeServer } from './wave-sim.js';

// The browser's globals inside page.evaluate: the project's tsconfig has no DOM lib, and adding it
// would change the types of every file.
interface El {
  getAttribute(name: string): string | null;
  querySelector(selector: string): El | null;
  readonly textContent: string | null;
}
declare const document: { querySelector(selector: string): El | null; querySelectorAll(selector: string): ArrayLike<El> & Iterable<El> };
declare const sessionStorage: { getItem(key: string): string | null };

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`test/ui/browser.test.ts: skipped, ${CHROMIUM} is missing (apt-get install chromium)`);

const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'ui');
const TOKEN = 'wave-admin-token-0123456789';
const IMAGE_SIZE = 8 * MiB;
const BOOT_BYTES = 6 * MiB;
const CACHE_BUDGET = 16 * MiB;
const BMCS = 30;
const STALLER = 'bmc-07';
const BASE = 'http://deploy:hunter2@mirror.example/images/rhcos-live.iso?X-Amz-Signature=s3cr3t';

interface RowSample {
  readonly node: string;
  readonly state: string;
  readonly complete: boolean;
  readonly progress: number | null;
}

interface Sample {
  readonly rows: RowSample[];
  readonly cacheFraction: number | null;
}

async function sample(page: Page): Promise<Sample> {
  return page.evaluate(() => {
    const rows = [...document.querySelectorAll('#nodes tbody tr[data-node]')].map((tr) => {
      const p = tr.querySelector('[data-progress]')?.getAttribute('data-progress');
      return {
        node: tr.getAttribute('data-node')!,
        state: tr.getAttribute('data-state')!,
        complete: tr.getAttribute('data-complete') === 'true',
        progress: p ? Number(p) : null,
      };
    });
    const f = document.querySelector('#cache-bar')?.getAttribute('data-fraction');
    return { rows, cacheFraction: f ? Number(f) : null };
  });
}

describe.skipIf(!haveChromium)(`the /ui page in headless chromium${haveChromium ? '' : ` (skipped: ${CHROMIUM} missing)`}`, () => {
  let tracker: WaveTracker;
  let ranges: RangeServer;
  let ui: Server;
  let uiUrl: string;
  let profile: string;
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    tracker = new WaveTracker({
      stallAfterMs: 2500,
      idleAfterMs: 60_000,
      mountingBytes: 512 * 1024,
      upstreamTotal: () => ranges.upstreamBytes(),
      cache: () => ({ budgetBytes: CACHE_BUDGET, usedBytes: ranges.cachedBytes(), hits: 0, misses: 0, evictions: 0, degraded: false }),
      bases: () => [{ url: BASE, size: IMAGE_SIZE, validator: '"wave-1"', cachedBytes: ranges.cachedBytes(), upstreamBytes: ranges.upstreamBytes(), state: 'ready', bootBytes: BOOT_BYTES }],
    });
    for (let i = 0; i < BMCS + 2; i++) {
      tracker.declare({ name: `bmc-${String(i).padStart(2, '0')}`, source: 'store', base: BASE, edits: 'append 2 (ip=, ignition.config.url=)' });
    }
    ranges = await startRangeServer({ tracker, imageSize: IMAGE_SIZE, base: BASE, chunkDelayMs: 40, stallAfterBytes: new Map([[STALLER, 2 * MiB]]) });
    const app = createStatusRoutes({
      tracker,
      auth: { adminToken: TOKEN },
      intervalMs: 400,
      nodeDiff: async (name) => `--- a/EFI/BOOT/grub.cfg\n+++ b/EFI/BOOT/grub.cfg (${name})\n-linux /images/pxeboot/vmlinuz\n+linux /images/pxeboot/vmlinuz ip=dhcp`,
    });
    ui = createAdaptorServer({ fetch: app.fetch, hostname: '127.0.0.1' }) as Server;
    await new Promise<void>((r) => ui.listen(0, '127.0.0.1', r));
    uiUrl = `http://127.0.0.1:${(ui.address() as AddressInfo).port}`;
    profile = await mkdtemp(join(tmpdir(), 'isoproxy-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1400, height: 1200 },
    });
    page = context.pages()[0] ?? (await context.newPage());
  });

  afterAll(async () => {
    await context?.close();
    await ranges?.close();
    ui?.closeAllConnections();
    await new Promise<void>((r) => (ui ? ui.close(() => r()) : r()));
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  it('shows a login without a token, and the API behind it answers 401', async () => {
    await page.goto(`${uiUrl}/ui`);
    await page.waitForSelector('#login-form', { state: 'visible' });
    expect(await page.isVisible('#view')).toBe(false);
    expect(await page.evaluate(async () => (await fetch('api/status')).status)).toBe(401);
    expect(await page.evaluate(async () => (await fetch('api/events')).status)).toBe(401);
    await page.screenshot({ path: join(ARTIFACTS, '1-login.png') });

    await page.fill('#token', 'not-the-token-0123456789');
    await page.click('#login-form button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#login-error')?.textContent?.includes('refused'));
  });

  it('follows a wave of 30 BMCs: each node progresses then completes, a stalled node shows stalled, the cache bar grows', async () => {
    await page.fill('#token', TOKEN);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#nodes tbody tr[data-node]');
    expect(page.url()).not.toContain(TOKEN);
    expect(await page.evaluate(() => sessionStorage.getItem('isoproxy.statusToken'))).toBe(TOKEN);
    await page.waitForSelector('#conn.live');
    const before = await sample(page);
    expect(before.rows.filter((r) => r.state === 'never')).toHaveLength(BMCS + 2);

    const ac = new AbortController();
    const nodes = Array.from({ length: BMCS }, (_, i) => `bmc-${String(i).padStart(2, '0')}`);
    // BMCs are powered on over a few seconds, not all at once.
    const wave = Promise.allSettled(nodes.map(async (node, i) => {
      await new Promise((r) => setTimeout(r, i * 100));
      await simulateBmc({ url: ranges.url, node, bootBytes: BOOT_BYTES, signal: ac.signal });
    }));

    const seenInProgress = new Set<string>();
    const seenStates = new Map<string, Set<string>>();
    const cacheFractions: number[] = [];
    let midShot = false;
    const deadline = Date.now() + 120_000;
    let s = before;
    for (;;) {
      s = await sample(page);
      for (const r of s.rows) {
        if (r.progress !== null && r.progress > 0 && r.progress < 1) seenInProgress.add(r.node);
        (seenStates.get(r.node) ?? seenStates.set(r.node, new Set()).get(r.node)!).add(r.state);
      }
      if (s.cacheFraction !== null) cacheFractions.push(s.cacheFraction);
      if (!midShot && seenInProgress.size >= 10) {
        midShot = true;
        await page.screenshot({ path: join(ARTIFACTS, '2-mid-wave.png'), fullPage: true });
      }
      const others = s.rows.filter((r) => nodes.includes(r.node) && r.node !== STALLER);
      const done = others.length === BMCS - 1 && others.every((r) => r.complete);
      const stalled = s.rows.find((r) => r.node === STALLER)?.state === 'stalled';
      if (done && stalled) break;
      if (Date.now() > deadline) throw new Error(`wave did not finish: ${JSON.stringify(s.rows.filter((r) => !r.complete))}`);
      await new Promise((r) => setTimeout(r, 150));
    }
    await page.screenshot({ path: join(ARTIFACTS, '3-wave-done.png'), fullPage: true });

    // Each node that completed was seen part-way first.
    for (const node of nodes.filter((n) => n !== STALLER)) {
      expect(seenInProgress.has(node), `${node} seen in progress`).toBe(true);
      expect(s.rows.find((r) => r.node === node)).toMatchObject({ complete: true, progress: 1 });
    }
    expect([...seenStates.get('bmc-00')!]).toEqual(expect.arrayContaining(['never', 'reading']));
    const staller = s.rows.find((r) => r.node === STALLER)!;
    expect(staller.state).toBe('stalled');
    expect(staller.progress).toBeGreaterThan(0);
    expect(staller.progress).toBeLessThan(1);
    // The two nodes no BMC fetched stay never fetched.
    expect(s.rows.filter((r) => r.state === 'never').map((r) => r.node)).toEqual(['bmc-30', 'bmc-31']);
    // The cache bar grew during the wave, to the boot bytes.
    expect(cacheFractions.length).toBeGreaterThan(3);
    expect(Math.min(...cacheFractions)).toBeLessThan(Math.max(...cacheFractions));
    expect(Math.max(...cacheFractions)).toBeCloseTo(BOOT_BYTES / CACHE_BUDGET, 2);
    expect(new Set(cacheFractions).size).toBeGreaterThan(2);

    // The summary counts the stalled node; credentials of the base never reach the page.
    expect(await page.textContent('#summary')).toContain('stalled 1');
    const html = await page.content();
    expect(html).not.toMatch(/hunter2|s3cr3t|X-Amz/);
    expect(html).toContain('http://mirror.example/images/rhcos-live.iso?…');

    ac.abort();
    const results = await wave;
    const failed = results.filter((r, i) => r.status === 'rejected' && nodes[i] !== STALLER);
    expect(failed).toEqual([]);
  }, 180_000);

  it('sorts, filters and shows the diff of a node\'s edits on hover', async () => {
    const ranks = ['error', 'stalled', 'reading', 'mounting', 'idle', 'expired', 'never'];
    await page.click('#nodes th[data-sort="state"]');
    await page.waitForSelector('#nodes th.sorted-asc[data-sort="state"]');
    const states = (await sample(page)).rows.map((r) => ranks.indexOf(r.state));
    expect(states).toEqual([...states].sort((a, b) => a - b));
    await page.click('#nodes th[data-sort="state"]');
    await page.waitForSelector('#nodes th.sorted-desc[data-sort="state"]');
    expect((await sample(page)).rows[0]!.state).toBe('never');
    await page.fill('#filter', 'bmc-1');
    await page.waitForFunction(() => document.querySelectorAll('#nodes tbody tr[data-node]').length === 10);
    await page.hover('#nodes tbody tr[data-node="bmc-12"] td.edits');
    await page.waitForFunction(() => document.querySelector('#nodes tbody tr[data-node="bmc-12"] td.edits')?.getAttribute('title')?.includes('ip=dhcp'));
    await page.screenshot({ path: join(ARTIFACTS, '4-filtered.png'), fullPage: true });
    await page.click('#logout');
    await page.waitForSelector('#login-form', { state: 'visible' });
    expect(await page.evaluate(() => sessionStorage.getItem('isoproxy.statusToken'))).toBeNull();
  });
});
