// LazyAbortController: a request's abort that makes its AbortSignal only when asked, and reads
// `aborted` and `reason` as a signal would before and after.

import { describe, expect, it } from 'vitest';
import { abortState, LazyAbortController, signalOf } from '../../src/io/abort.js';

describe('LazyAbortController', () => {
  it('is not aborted until aborted, and a signal asked for afterwards is aborted with the same reason', () => {
    const ac = new LazyAbortController();
    expect(ac.aborted).toBe(false);
    expect(ac.reason).toBeUndefined();
    const reason = new Error('client went away');
    ac.abort(reason);
    expect(ac.aborted).toBe(true);
    expect(ac.reason).toBe(reason);
    expect(ac.signal.aborted).toBe(true);
    expect(ac.signal.reason).toBe(reason);
  });

  it('fires a signal made before the abort, once, with the first reason', () => {
    const ac = new LazyAbortController();
    const signal = ac.signal;
    expect(ac.signal).toBe(signal);
    const seen: unknown[] = [];
    signal.addEventListener('abort', () => seen.push(signal.reason));
    const first = new Error('first');
    ac.abort(first);
    ac.abort(new Error('second'));
    expect(seen).toEqual([first]);
    expect(ac.reason).toBe(first);
  });

  it('gives an AbortError as the reason when none is given, as AbortController does', () => {
    const ac = new LazyAbortController();
    ac.abort();
    const plain = new AbortController();
    plain.abort();
    expect(ac.reason).toBeInstanceOf(DOMException);
    expect((ac.reason as DOMException).name).toBe((plain.signal.reason as DOMException).name);
    expect(ac.signal.reason).toBe(ac.reason);
  });

  it('stands in for its signal where only `aborted` and `reason` are read', () => {
    const lazy = new LazyAbortController();
    const plain = new AbortController();
    expect(abortState(lazy)).toBe(lazy);
    expect(abortState(plain)).toBe(plain.signal);
    expect(signalOf(lazy)).toBe(lazy.signal);
    expect(signalOf(plain.signal)).toBe(plain.signal);
  });
});
