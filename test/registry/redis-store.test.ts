// The Redis node store against a real Debian redis-server started on a free port: the file store's
// semantics (atomic replace, paging, expiry with 410 then forgetting, validation), the change
// feed between two replicas' stores, the mirror that spares Redis a round trip per range request,
// and what happens when Redis goes away and comes back (stale reads within a bound, writes 503,
// a missed message after a dropped subscriber, a restart).

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { createClient, type RedisClientType } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StoreError } from '../../src/registry/errors.js';
import { openNodeStore, parseStoreSpec, StoreSpecError } from '../../src/registry/open-store.js';
import { OutageClock, SpecMirror } from '../../src/registry/redis-mirror.js';
import { RedisNodeStore, StoreUnavailableError, type RedisStoreOptions } from '../../src/registry/redis-store.js';
import type { NodeSpec } from '../../src/registry/store.js';
import { hasRedis, startRedis, type TestRedis } from '../helpers/redis.js';
import { scratchDir } from '../helpers/tools.js';

const skip = !hasRedis();
const T0 = '2026-01-01T00:00:00.000Z';

function spec(name: string, extra: Partial<NodeSpec> = {}): NodeSpec {
  return { name, bootIso: 'http://mirror.example/base.iso', edits: { append: [`node=${name}`] }, createdAt: T0, updatedAt: T0, ...extra };
}

async function eventually(check: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe.skipIf(skip)(`the Redis node store${skip ? ' (skipped: redis-server is not installed; apt-get install redis-server)' : ''}`, () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  let redis: TestRedis;
  let raw: RedisClientType;
  let db = 0;
  const open: RedisNodeStore[] = [];
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'debug' },
    {
      write: (line: string) => {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  );

  /** A store on a fresh database (tests do not see each other's nodes). */
  async function store(options: Partial<RedisStoreOptions> = {}, database = db): Promise<RedisNodeStore> {
    const s = await RedisNodeStore.open({ url: redis.url(database), logger, connectTimeoutMs: 3000, ...options });
    open.push(s);
    return s;
  }

  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-redis-store-');
    redis = await startRedis(scratch.dir);
    raw = createClient({ url: redis.url(), socket: { reconnectStrategy: 100 } });
    raw.on('error', () => {});
    await raw.connect();
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
    db = (db + 1) % 16;
    logs.length = 0;
  });

  afterAll(async () => {
    await raw?.close().catch(() => {});
    await redis?.close();
    await scratch?.cleanup();
  });

  it("stores, reads back and atomically replaces a spec, keeping only the spec's own fields", async () => {
    const s = await store();
    expect(await s.get('n1')).toBeUndefined();
    await s.put({ ...spec('n1'), extra: 'dropped' } as NodeSpec);
    expect(await s.get('n1')).toEqual(spec('n1'));
    await s.put(spec('n1', { bootIso: 'http://mirror.example/other.iso', updatedAt: '2026-01-02T00:00:00.000Z' }));
    const other = await store();
    expect((await other.get('n1'))?.bootIso).toBe('http://mirror.example/other.iso');
    await raw.select(db);
    expect(JSON.parse((await raw.get('isoproxy:node:n1'))!)).not.toHaveProperty('extra');
    expect(await raw.pTTL('isoproxy:node:n1')).toBe(-1);
  });

  it('deletes, saying whether the node existed', async () => {
    const s = await store();
    await s.put(spec('gone'));
    expect(await s.delete('gone')).toBe(true);
    expect(await s.get('gone')).toBeUndefined();
    expect(await s.delete('gone')).toBe(false);
    expect(await s.delete('../bad')).toBe(false);
  });

  it('pages in name order (code-unit order, as the file store) with after and next', async () => {
    const s = await store();
    const names = ['b', 'A', 'a', '_x', '0', 'a.b', 'a-b', 'Z9'];
    for (const n of names) await s.put(spec(n));
    const sorted = [...names].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
    const seen: string[] = [];
    let after: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await s.list({ ...(after !== undefined ? { after } : {}), limit: 3 });
      seen.push(...page.nodes.map((n) => n.name));
      if (page.next === undefined) break;
      expect(page.next).toBe(page.nodes[page.nodes.length - 1]!.name);
      after = page.next;
    }
    expect(seen).toEqual(sorted);
    expect((await s.list({ limit: 100 })).next).toBeUndefined();
    expect((await s.list({ after: 'zzz', limit: 5 })).nodes).toEqual([]);
  });

  it('keeps an expired spec (the node answers 410) for the retention, then forgets it and drops it from the index', async () => {
    const s = await store({ retentionMs: 400 });
    const past = new Date(Date.now() - 60_000).toISOString();
    await s.put(spec('old', { expiresAt: past }));
    await s.put(spec('later', { expiresAt: new Date(Date.now() + 3_600_000).toISOString() }));
    await s.put(spec('keep'));
    // Past its expiresAt but inside the retention: still there, so the service can say 410.
    expect((await s.get('old'))?.expiresAt).toBe(past);
    await raw.select(db);
    const ttl = await raw.pTTL('isoproxy:node:later');
    expect(ttl).toBeGreaterThan(3_600_000);
    expect(ttl).toBeLessThanOrEqual(3_600_000 + 400);
    await eventually(async () => (await raw.exists('isoproxy:node:old')) === 0, 'Redis to drop the expired spec');
    expect(await s.get('old')).toBeUndefined();
    expect((await s.list({ limit: 10 })).nodes.map((n) => n.name)).toEqual(['keep', 'later']);
    expect(await raw.zRange('isoproxy:nodes', 0, -1)).toEqual(['keep', 'later']);
  });

  it('refuses invalid specs and reports a key that holds something else as a store error', async () => {
    const s = await store();
    await expect(s.put(spec('../x'))).rejects.toBeInstanceOf(StoreError);
    await expect(s.put({ ...spec('n'), edits: null } as unknown as NodeSpec)).rejects.toBeInstanceOf(StoreError);
    await raw.select(db);
    await raw.set('isoproxy:node:junk', '{"name":"other"}');
    await expect(s.get('junk')).rejects.toMatchObject({ code: 'STORE' });
    expect(await s.get('../etc')).toBeUndefined();
  });

  it('tells every replica of a change at once, and serves reads from its mirror without a Redis round trip', async () => {
    const a = await store();
    const b = await store();
    await a.put(spec('n1'));
    expect((await b.get('n1'))?.bootIso).toBe('http://mirror.example/base.iso');
    const heard: string[] = [];
    b.onChange((name) => heard.push(name));

    await raw.select(db);
    const gets = async (): Promise<number> => Number(/cmdstat_get:calls=(\d+)/.exec(await raw.info('commandstats'))?.[1] ?? 0);
    const before = await gets();
    for (let i = 0; i < 500; i++) await b.get('n1');
    expect(await gets()).toBe(before);

    await a.put(spec('n1', { bootIso: 'http://mirror.example/v2.iso' }));
    await eventually(() => heard.includes('n1'), 'the change message');
    expect((await b.get('n1'))?.bootIso).toBe('http://mirror.example/v2.iso');
    await a.delete('n1');
    await eventually(() => heard.length === 2, 'the delete message');
    expect(await b.get('n1')).toBeUndefined();
    // A name asked for while unknown is remembered as unknown, and its creation is heard too.
    expect(await b.get('n2')).toBeUndefined();
    await a.put(spec('n2'));
    await eventually(() => heard.includes('n2'), 'the create message');
    expect(await b.get('n2')).toBeDefined();
  });

  it('reads every mirrored spec again and announces every name when its change feed was cut (messages may have been missed)', async () => {
    const a = await store();
    const b = await store();
    await a.put(spec('n1'));
    await b.get('n1');
    const heard: string[] = [];
    b.onChange((name) => heard.push(name));
    await raw.select(db);
    // Cut every subscriber, then write before they reconnect: b misses the message.
    await raw.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
    await a.put(spec('n1', { bootIso: 'http://mirror.example/missed.iso' }));
    await eventually(() => heard.includes('n1'), 'the announcement after resubscribing');
    expect((await b.get('n1'))?.bootIso).toBe('http://mirror.example/missed.iso');
  });

  it('answers reads from the last known specs while Redis is down, within the bound, fails writes with STORE_UNAVAILABLE, and resumes after a restart', async () => {
    let clock = Date.now();
    const s = await store({ staleReadsMs: 60_000, now: () => clock });
    await s.put(spec('known'));
    expect(await s.get('known')).toBeDefined();
    const heard: string[] = [];
    s.onChange((name) => heard.push(name));

    await redis.stop(true);
    await eventually(() => !s.status().connected, 'the store to notice');
    expect((await s.get('known'))?.name).toBe('known');
    await expect(s.get('never-read')).rejects.toBeInstanceOf(StoreUnavailableError);
    const started = Date.now();
    const write = await s.put(spec('new')).catch((err: unknown) => err);
    expect(write).toBeInstanceOf(StoreUnavailableError);
    expect(write).toMatchObject({ code: 'STORE_UNAVAILABLE', retryAfterS: 5 });
    expect(Date.now() - started).toBeLessThan(1000);
    await expect(s.delete('known')).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(s.list({ limit: 5 })).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(s.status().staleReads).toBeGreaterThanOrEqual(1);
    expect(logs.some((l) => /redis unreachable: node lookups answer from the last known specs/.test(String(l.msg)))).toBe(true);

    // Past the bound the last known spec is no longer trusted.
    clock += 61_000;
    await expect(s.get('known')).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(logs.some((l) => /longer than the stale-read bound/.test(String(l.msg)))).toBe(true);

    await redis.start();
    await eventually(() => s.status().connected, 'the store to reconnect');
    await eventually(() => heard.includes('known'), 'the mirrored names to be announced');
    expect(s.status().unreachableSince).toBeUndefined();
    await s.put(spec('new'));
    expect(await s.get('new')).toBeDefined();
    expect(await s.get('known')).toBeDefined();
    expect(logs.some((l) => l.msg === 'redis reachable again')).toBe(true);
  });

  it('fails to open with STORE_UNAVAILABLE naming the reason, and never puts the password in a message or log', async () => {
    const secret = 'hunter2-very-secret';
    const locked = await startRedis(join(scratch.dir, 'locked'), { password: secret });
    try {
      const ok = await RedisNodeStore.open({ url: locked.url(), password: secret, logger });
      await ok.put(spec('p'));
      expect(await ok.get('p')).toBeDefined();
      await ok.close();
      const err = await RedisNodeStore.open({ url: locked.url(), password: 'wrong-password', connectTimeoutMs: 500, logger }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect(String((err as Error).message)).toMatch(/WRONGPASS|invalid username-password/);
      const none = await RedisNodeStore.open({ url: locked.url(), connectTimeoutMs: 500 }).catch((e: unknown) => e);
      expect(String((none as Error).message)).toMatch(/NOAUTH|auth/i);
      expect(JSON.stringify(logs)).not.toContain(secret);
      expect(JSON.stringify(logs)).not.toContain('wrong-password');
    } finally {
      await locked.close();
    }
  });

  it('is opened from a --store value, with the password from a file or an environment variable', async () => {
    const pwFile = join(scratch.dir, 'redis-password');
    await writeFile(pwFile, 's3cret\n');
    expect(parseStoreSpec(undefined, '/data')).toEqual({ kind: 'file', dir: '/data' });
    expect(parseStoreSpec('file', '/data')).toEqual({ kind: 'file', dir: '/data' });
    expect(parseStoreSpec('file:///srv/nodes', '/data')).toEqual({ kind: 'file', dir: '/srv/nodes' });
    expect(
      parseStoreSpec('redis://cache:6380/2?prefix=site1:&stale-reads=90s&retention=2h', '/data', {
        ISOPROXY_STORE_PASSWORD_FILE: pwFile,
        ISOPROXY_STORE_PASSWORD: 'ignored',
      }),
    ).toEqual({
      kind: 'redis',
      options: { url: 'redis://cache:6380/2', password: 's3cret', prefix: 'site1:', staleReadsMs: 90_000, retentionMs: 7_200_000 },
    });
    expect(parseStoreSpec('rediss://isoproxy@cache', '/data', { ISOPROXY_STORE_PASSWORD: 'pw' })).toEqual({
      kind: 'redis',
      options: { url: 'rediss://isoproxy@cache', password: 'pw' },
    });
    expect(() => parseStoreSpec('redis://:pw@cache:6379', '/data')).toThrow(StoreSpecError);
    expect(() => parseStoreSpec('redis://:pw@cache:6379', '/data')).not.toThrow(/pw@/);
    expect(() => parseStoreSpec('redis://cache?ttl=1', '/data')).toThrow(/unknown Redis store option "ttl"/);
    expect(() => parseStoreSpec('redis://cache?stale-reads=soon', '/data')).toThrow(/duration/);
    expect(() => parseStoreSpec('etcd://x', '/data')).toThrow(/unknown store scheme/);
    expect(() => parseStoreSpec('redis://cache', '/data', { ISOPROXY_STORE_PASSWORD_FILE: join(scratch.dir, 'missing') })).toThrow(/ENOENT/);

    const opened = await openNodeStore(`${redis.url(db)}?prefix=t:`, { dataDir: scratch.dir, logger });
    try {
      expect(opened.kind).toBe('redis');
      await opened.put(spec('via-spec'));
      await raw.select(db);
      expect(await raw.exists('t:node:via-spec')).toBe(1);
      expect(typeof opened.onChange).toBe('function');
    } finally {
      await opened.close();
    }
    const file = await openNodeStore(undefined, { dataDir: join(scratch.dir, 'file-store') });
    expect(file.kind).toBe('file');
    expect(file.onChange).toBeUndefined();
    await file.close();
  });
});

describe("the replica's mirror of the Redis store", () => {
  it('does not keep what a read returned when a change was announced while the read was in flight', () => {
    const mirror = new SpecMirror(undefined);
    mirror.trusted = true;
    const heard: string[] = [];
    mirror.onChange((n) => heard.push(n));
    const began = mirror.epoch;
    mirror.changed('n1');
    mirror.remember('n1', spec('n1'), undefined, began);
    expect(mirror.fresh('n1', Date.now())).toBeUndefined();
    expect(heard).toEqual(['n1']);
    mirror.remember('n1', spec('n1'), undefined, mirror.epoch);
    expect(mirror.fresh('n1', Date.now())?.spec?.name).toBe('n1');
  });

  it("answers on its own only while trusted and before the key's TTL, and keeps the last known spec either way", () => {
    const mirror = new SpecMirror(undefined);
    mirror.remember('n1', spec('n1'), 1000);
    expect(mirror.fresh('n1', 500)).toBeUndefined();
    mirror.trusted = true;
    expect(mirror.fresh('n1', 500)).toBeDefined();
    expect(mirror.fresh('n1', 1000)).toBeUndefined();
    mirror.trusted = false;
    expect(mirror.last('n1')?.spec?.name).toBe('n1');
  });

  it('after a resubscribe, answers nothing on its own until read again, but keeps the last known specs for an outage', () => {
    const mirror = new SpecMirror(undefined);
    mirror.trusted = true;
    mirror.remember('n1', spec('n1'), undefined);
    const heard: string[] = [];
    mirror.onChange((n) => heard.push(n));
    mirror.trusted = false;
    mirror.resubscribed();
    expect(heard).toEqual(['n1']);
    expect(mirror.fresh('n1', 0)).toBeUndefined();
    expect(mirror.last('n1')?.spec?.name).toBe('n1');
    mirror.remember('n1', spec('n1', { bootIso: 'http://mirror.example/v2.iso' }), undefined);
    expect(mirror.fresh('n1', 0)?.spec?.bootIso).toBe('http://mirror.example/v2.iso');
  });

  it('lets the last known specs answer for the stale-read bound after an outage began, logging once when it passes', () => {
    let now = 0;
    const lines: Array<Record<string, unknown>> = [];
    const log = pino(
      { level: 'info' },
      {
        write: (l: string) => {
          lines.push(JSON.parse(l) as Record<string, unknown>);
        },
      },
    );
    const clock = new OutageClock(1000, () => now, log);
    clock.down(new Error('ECONNREFUSED'));
    now = 1000;
    expect(clock.allowsStaleRead()).toBe(true);
    now = 1001;
    expect(clock.allowsStaleRead()).toBe(false);
    expect(clock.allowsStaleRead()).toBe(false);
    clock.up();
    expect(clock.since).toBeUndefined();
    expect(lines.map((l) => l.level)).toEqual([40, 50, 30]);
    expect(clock.staleReads).toBe(1);
  });
});
