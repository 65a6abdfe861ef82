// The primary's side of cross-process patch sets: who computes, who waits, and what a claimant
// that never delivers (died, failed, too slow) leaves its waiters to do.

import { describe, expect, it } from 'vitest';
import { SharedPatchSets } from '../../src/cluster/patch-sets.js';
import type { ClaimAnswer } from '../../src/remaster/pool.js';
import type { RemasterResult } from '../../src/remaster/compute.js';

const result = (digest: string): RemasterResult =>
  ({ patchSet: { baseSize: 1, size: 1, overlays: [], copies: [], digest }, report: { overlayBytes: 0 } }) as unknown as RemasterResult;

const settledSoon = async (p: Promise<ClaimAnswer>): Promise<ClaimAnswer | 'pending'> =>
  Promise.race([p, new Promise<'pending'>((r) => setTimeout(() => r('pending'), 20))]);

describe('shared patch sets', () => {
  it('lets the first asker compute, holds the others, and hands them what it puts', async () => {
    const s = new SharedPatchSets();
    expect(await s.claim('b\u0000k', 1)).toEqual({ compute: true });
    const waiting = s.claim('b\u0000k', 2);
    expect(await settledSoon(waiting)).toBe('pending');
    s.put('b\u0000k', result('d1'));
    expect(await waiting).toEqual({ result: result('d1') });
    // Later askers get it at once, the claimant too.
    expect(await s.claim('b\u0000k', 3)).toEqual({ result: result('d1') });
    expect(s.stats).toEqual({ handedOver: 2, computeGranted: 1 });
  });

  it('gives waiters the go-ahead when the claimant fails, dies or takes too long', async () => {
    const s = new SharedPatchSets(50);
    await s.claim('failed', 1);
    const w1 = s.claim('failed', 2);
    s.failed('failed');
    expect(await w1).toEqual({ compute: true });

    await s.claim('died', 1);
    await s.claim('other', 2);
    const w2 = s.claim('died', 2);
    const w3 = s.claim('other', 1);
    s.workerGone(1);
    expect(await w2).toEqual({ compute: true });
    // Only the gone worker's claims are released.
    expect(await settledSoon(w3)).toBe('pending');

    // Worker 2's claim on 'other' runs out after 50 ms.
    expect(await w3).toEqual({ compute: true });
  });

  it('forgets a base version that went', async () => {
    const s = new SharedPatchSets();
    await s.claim('v1\u0000a', 1);
    s.put('v1\u0000a', result('a'));
    s.put('v2\u0000a', result('b'));
    s.forgetBase('v1');
    expect(await s.claim('v1\u0000a', 2)).toEqual({ compute: true });
    expect(await s.claim('v2\u0000a', 2)).toEqual({ result: result('b') });
  });
});
