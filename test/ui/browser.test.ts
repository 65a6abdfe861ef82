// The status page in a real headless browser (Debian's chromium driven by playwright-core, no
// browser download) against the real server: `startServer` in-process over a real block cache,
// whose base comes from a slow upstream, during a wave of 30 simulated BMCs reading their images
// by 256 KiB ranges. One more client opens a range and stops reading: its node must show stalled.
// The base's cache bar and upstream bytes grow with the wave; hovering a node's edits shows its
// diff (what `isoproxy preview` prints); a base whose upstream is unreachable and one that is not
// an ISO show as failed with their codes. Then `isoproxy status --url` (the built CLI) against the
// same server. Screenshots go to
// test-artifacts/ui/ (gitignored). The CLI is the built one: `npm run build` first. Skipped with a message when /usr/bin/chromium or xorriso is
// missing.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { setMaxListeners } from 'node:events';
import { request, type ClientRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, missingTools, scratchDir } from '../helpers/tools.js';
import { expectedImage, startProxy, TOKEN, type ProxyUnderTest } from '../service/harness.js';
import { sizedIso } from '../service/images.js';
import { MiB, simulateBmc, startSlowUpstream } from './wave-sim.js';

// The browser's globals inside page.evaluate: the project's tsconfig has no DOM lib, and adding it
// would change the types of every file.
interface El {
  getAttribute(name: string): string | null;
  querySelector(selector: string): El | null;
  readonly textContent: string | null;
  readonly childElementCount: number;
}
declare const document: { querySelector(selector: string): El | null; querySelectorAll(selector: string): ArrayLike<El> & Iterable<El> };
declare const sessionStorage: { getItem(key: string): string | null };

const CHROMIUM = '/usr/bin/chromium';
const missing = [...(existsSync(CHROMIUM) ? [] : [CHROMIUM]), ...missingTools('xorriso')];
if (missing.length > 0) console.warn(`test/ui/browser.test.ts: skipped, missing ${missing.join(', ')} (apt-get install chromium xorriso)`);
const CLI = join(process.cwd(), 'bin', 'isoproxy.js');

const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'ui');
const BMCS = 30;
const STALLER = 'bmc-07';
/** Where the stalling client stops reading by ranges and opens the range it never drains. */
const STALL_AT = 1 * MiB;
const EDITS = { append: ['ip=dhcp', 'ignition.config.url=http://10.0.0.1/ign'] };

interface RowSample {
  readonly node: string;
  readonly state: string;
  readonly complete: boolean;
  readonly progress: number | null;
}

interface Sample {
  readonly rows: RowSample[];
  readonly cacheFraction: number | null;
  /** The ready base's cache bar (its cached bytes against its size), and its upstream bytes. */
  readonly baseFraction: number | null;
  readonly baseCached: number | null;
  readonly baseUpstream: number | null;
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
    const num = (v: string | null | undefined): number | null => (v === null || v === undefined || v === '' ? null : Number(v));
    const base = document.querySelector('#bases tbody tr[data-state="ready"]');
    return {
      rows,
      cacheFraction: f ? Number(f) : null,
      baseFraction: num(base?.querySelector('.base-bar')?.getAttribute('data-fraction')),
      baseCached: num(base?.querySelector('.base-bar')?.getAttribute('data-cached')),
      baseUpstream: num(base?.querySelector('td.upstream')?.getAttribute('data-upstream')),
    };
  });
}

describe.skipIf(missing.length > 0)(
  `the /ui page in headless chromium against the real server${missing.length > 0 ? ` (skipped: missing ${missing.join(', ')})` : ''}`,
  () => {
    let scratch: { dir: string; cleanup: () => Promise<void> };
    let upstream: { url: string; close(): Promise<void> };
    /** Serves bytes that are not an ISO (zeros, no volume descriptors). */
    let junk: { url: string; close(): Promise<void> };
    /** Nothing listens there: an unreachable upstream. */
    let deadUrl: string;
    let proxy: ProxyUnderTest;
    let expected: Buffer;
    let uiUrl: string;
    let base: string;
    let profile: string;
    let context: BrowserContext;
    let page: Page;
    let staller: ClientRequest | undefined;

    beforeAll(async () => {
      await mkdir(ARTIFACTS, { recursive: true });
      scratch = await scratchDir('isoproxy-ui-');
      const iso = await sizedIso(scratch.dir, 'wave', 16, 'wave');
      expected = await expectedImage(iso, EDITS, join(scratch.dir, 'wave.expected.iso'));
      // ~6 MiB/s per upstream connection: the cache fills over seconds, as the BMCs read.
      upstream = await startSlowUpstream(await readFile(iso), 10);
      // A signed-URL style secret in the base's query: it must never reach the page.
      base = `${upstream.url}?X-Amz-Signature=s3cr3t`;
      junk = await startSlowUpstream(new Uint8Array(2 * MiB), 0);
      deadUrl = `http://127.0.0.1:${await freePort()}/gone.iso`;
      proxy = await startProxy({
        dir: scratch.dir,
        allow: [upstream.url, junk.url, deadUrl].map((u) => `${new URL(u).origin}/`),
        budget: '64MiB',
        extraArgs: ['--stall-after', '2500ms', '--log-level', 'warn'],
      });
      uiUrl = proxy.url;
      for (let i = 0; i < BMCS + 2; i++) {
        const res = await proxy.putNode(`bmc-${String(i).padStart(2, '0')}`, { bootIso: base, edits: EDITS });
        expect(res.status).toBe(201);
      }
      profile = await mkdtemp(join(tmpdir(), 'isoproxy-chromium-'));
      context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
        viewport: { width: 1400, height: 1200 },
      });
      page = context.pages()[0] ?? (await context.newPage());
    }, 120_000);

    afterAll(async () => {
      staller?.destroy();
      await context?.close();
      await proxy?.close();
      await upstream?.close();
      await junk?.close();
      if (profile) await rm(profile, { recursive: true, force: true });
      await scratch?.cleanup();
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
      // Every BMC of the wave waits on it: one listener each.
      setMaxListeners(BMCS + 10, ac.signal);
      const nodes = Array.from({ length: BMCS }, (_, i) => `bmc-${String(i).padStart(2, '0')}`);
      // BMCs are powered on over a few seconds, not all at once.
      const wave = Promise.allSettled(
        nodes.map(async (node, i) => {
          await new Promise((r) => setTimeout(r, i * 100));
          const stalls = node === STALLER;
          await simulateBmc({
            url: proxy.url,
            node,
            bootBytes: stalls ? STALL_AT : expected.length,
            expected,
            pauseMs: 60,
            signal: ac.signal,
          });
          // The stalling BMC opens the rest of the image and stops reading after the first chunk: the
          // server's writes back up and no byte moves.
          if (stalls) {
            await new Promise<void>((resolve, reject) => {
              staller = request(proxy.imageUrl(node), { headers: { range: `bytes=${STALL_AT}-` } }, (res) => {
                res.once('data', () => {
                  res.pause();
                  resolve();
                });
              });
              staller.on('error', reject);
              staller.end();
            });
          }
        }),
      );

      const seenInProgress = new Set<string>();
      const seenStates = new Map<string, Set<string>>();
      const cacheFractions: number[] = [];
      const baseFractions: number[] = [];
      const baseUpstreams: number[] = [];
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
        if (s.baseFraction !== null) baseFractions.push(s.baseFraction);
        if (s.baseUpstream !== null) baseUpstreams.push(s.baseUpstream);
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
      const stalledRow = s.rows.find((r) => r.node === STALLER)!;
      expect(stalledRow.state).toBe('stalled');
      expect(stalledRow.progress).toBeGreaterThan(0);
      expect(stalledRow.progress).toBeLessThan(1);
      // The two nodes no BMC fetched stay never fetched.
      expect(s.rows.filter((r) => r.state === 'never').map((r) => r.node)).toEqual(['bmc-30', 'bmc-31']);
      // The cache bar grew during the wave, to about the image (the one base, 64 MiB budget).
      expect(cacheFractions.length).toBeGreaterThan(3);
      expect(Math.min(...cacheFractions)).toBeLessThan(Math.max(...cacheFractions));
      expect(Math.max(...cacheFractions)).toBeGreaterThan((0.9 * expected.length) / (64 * MiB));
      expect(new Set(cacheFractions).size).toBeGreaterThan(2);
      // The base's own bar grew too, to about its whole size (the BMCs read whole images), and the
      // bytes fetched from upstream for it grew with it: the page shows this base's share.
      expect(baseFractions.length).toBeGreaterThan(3);
      expect(new Set(baseFractions).size).toBeGreaterThan(2);
      expect(Math.min(...baseFractions)).toBeLessThan(Math.max(...baseFractions));
      expect(Math.max(...baseFractions)).toBeGreaterThan(0.9);
      expect(new Set(baseUpstreams).size).toBeGreaterThan(2);
      expect(Math.min(...baseUpstreams)).toBeLessThan(Math.max(...baseUpstreams));
      const last = await sample(page);
      expect(last.baseUpstream).toBeGreaterThan(0);
      expect(last.baseUpstream).toBeGreaterThanOrEqual(last.baseCached!);
      expect(last.baseCached).toBeGreaterThan(0.9 * (expected.length - 1 * MiB));

      // The summary counts the stalled node; credentials of the base never reach the page.
      expect(await page.textContent('#summary')).toContain('stalled 1');
      const html = await page.content();
      expect(html).not.toMatch(/s3cr3t|X-Amz/);
      expect(html).toContain(`${upstream.url}?…`);

      ac.abort();
      const results = await wave;
      const failed = results.filter((r, i) => r.status === 'rejected' && nodes[i] !== STALLER);
      expect(failed).toEqual([]);
    }, 180_000);

    it('`isoproxy status --url` prints the same wave from the terminal', async () => {
      const run = promisify(execFile);
      const env = { ...process.env, ISOPROXY_ADMIN_TOKEN: TOKEN, NO_COLOR: '1' };
      const { stdout } = await run(process.execPath, [CLI, 'status', '--url', proxy.url], { env, timeout: 30_000 });
      expect(stdout).toContain('stalled');
      expect(stdout).toContain(STALLER);
      const json = JSON.parse((await run(process.execPath, [CLI, 'status', '--url', proxy.url, '--json'], { env, timeout: 30_000 })).stdout) as {
        totals: { nodes: number };
      };
      expect(json.totals.nodes).toBe(BMCS + 2);
      // A wrong token is refused, and says so.
      const tokenFile = join(scratch.dir, 'wrong-token');
      await writeFile(tokenFile, 'not-the-token-0123456789\n');
      await expect(
        run(process.execPath, [CLI, 'status', '--url', proxy.url, '--token-file', tokenFile], {
          env: { ...env, ISOPROXY_ADMIN_TOKEN: '' },
          timeout: 30_000,
        }),
      ).rejects.toMatchObject({ code: expect.any(Number) });
    }, 60_000);

    it("sorts, filters and shows a node's edits", async () => {
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
      // The summary of the node's edits, and on hover the full diff `isoproxy preview` prints for them.
      const edits = '#nodes tbody tr[data-node="bmc-12"] td.edits';
      expect(await page.textContent(edits)).toBe('append 2 (ip=, ignition.config.url=)');
      expect(await page.isVisible('#diff-pop')).toBe(false);
      await page.hover(edits);
      await page.waitForSelector('#diff-pop[data-node="bmc-12"][data-loaded="true"]', { state: 'visible' });
      const diff = (await page.textContent('#diff-pop')) ?? '';
      expect(diff).toMatch(/^\+.*\bip=dhcp ignition\.config\.url=http:\/\/10\.0\.0\.1\/ign\b/m);
      expect(diff).toMatch(/^--- a\/.*\.cfg$/m);
      expect(diff).toContain('patch set: ');
      // Shown as text: nothing in the diff became an element.
      expect(await page.evaluate(() => document.querySelector('#diff-pop')!.childElementCount)).toBe(0);
      await page.screenshot({ path: join(ARTIFACTS, '4-filtered-diff.png'), fullPage: true });
      // It stays up across re-renders while the pointer is there, and goes when the pointer leaves.
      await new Promise((r) => setTimeout(r, 1500));
      expect(await page.isVisible('#diff-pop')).toBe(true);
      await page.hover('#summary');
      await page.waitForSelector('#diff-pop', { state: 'hidden' });
      await page.click('#logout');
      await page.waitForSelector('#login-form', { state: 'visible' });
      expect(await page.evaluate(() => sessionStorage.getItem('isoproxy.statusToken'))).toBeNull();
    });

    it('lists a base whose upstream is unreachable and one that is not an ISO as failed, with their codes', async () => {
      // Stored although its base cannot be reached now (it may come up later); a BMC's read fails.
      expect((await proxy.putNode('bmc-dead', { bootIso: deadUrl, edits: EDITS })).status).toBe(201);
      expect((await fetch(proxy.imageUrl('bmc-dead'), { headers: { range: 'bytes=0-1023' } })).status).toBeGreaterThanOrEqual(500);
      // Not an ISO: refused when put, and the base that could not be opened is listed.
      const refused = await proxy.putNode('bmc-junk', { bootIso: junk.url, edits: EDITS });
      expect(refused.status).toBe(422);
      await page.fill('#token', TOKEN);
      await page.click('#login-form button[type=submit]');
      await page.waitForSelector('#bases tbody tr[data-state="failed"][data-code="ISO_FORMAT"]');
      await page.waitForSelector('#bases tbody tr[data-state="failed"][data-code^="UPSTREAM_"]');
      const rows = await page.evaluate(() =>
        [...document.querySelectorAll('#bases tbody tr[data-base]')].map((tr) => ({
          url: tr.getAttribute('data-base'),
          state: tr.getAttribute('data-state'),
          code: tr.getAttribute('data-code'),
          text: tr.querySelector('td.state')?.textContent ?? '',
        })),
      );
      expect(rows).toEqual(
        expect.arrayContaining([
          { url: `${upstream.url}?…`, state: 'ready', code: null, text: 'ready' },
          { url: junk.url, state: 'failed', code: 'ISO_FORMAT', text: 'failed ISO_FORMAT' },
          { url: deadUrl, state: 'failed', code: expect.stringMatching(/^UPSTREAM_/), text: expect.stringMatching(/^failed UPSTREAM_/) },
        ]),
      );
      await page.screenshot({ path: join(ARTIFACTS, '5-failed-bases.png'), fullPage: true });
      // The hover over a node whose base cannot be opened says why, with the code.
      await page.fill('#filter', 'bmc-dead');
      await page.waitForSelector('#nodes tbody tr[data-node="bmc-dead"]');
      await page.hover('#nodes tbody tr[data-node="bmc-dead"] td.edits');
      await page.waitForSelector('#diff-pop[data-node="bmc-dead"][data-loaded="true"]', { state: 'visible' });
      expect(await page.textContent('#diff-pop')).toMatch(/^no diff: UPSTREAM_/);
    }, 60_000);
  },
);
