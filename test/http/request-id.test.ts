import { describe, expect, it } from 'vitest';
import { REQUEST_ID, requestIds } from '../../src/http/request-id.js';

describe('request ids', () => {
  it('keep a sane id the client sent, and make one otherwise', () => {
    const next = requestIds();
    expect(next('deploy-42.node:7')).toBe('deploy-42.node:7');
    for (const bad of [undefined, '', 'has space', 'x'.repeat(65), 'new\nline', 'é']) {
      const id = next(bad);
      expect(id).not.toBe(bad);
      expect(id).toMatch(REQUEST_ID);
    }
  });

  it('are distinct within a process and between processes (a cluster’s workers log to one stream)', () => {
    // Two sources stand for two processes: each has its own random prefix and counter.
    const a = requestIds();
    const b = requestIds();
    const ids = [a(undefined), a(undefined), b(undefined), b(undefined)];
    expect(new Set(ids).size).toBe(4);
    expect(ids[0]!.split('-')[1]).toBe(ids[2]!.split('-')[1]);
    for (const id of ids) expect(id).toMatch(/^r[0-9a-f]{8}-[0-9a-z]+$/);
  });
});
