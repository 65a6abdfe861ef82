// Abort signals, the way cache/ and upstream/ use them: what to throw when a signal fires, how to
// tell an abort from a failure, and a sleep that a signal cuts short. An abort is never an error
// worth counting or logging: a reader went away, or the cache is closing.

/** What to throw for an aborted signal: its reason, or a plain AbortError when it has none. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}

/** True for an AbortError (DOMException or Error): a caller gave up, nothing failed. */
export function isAbortError(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Makes `child` abort when `parent` does (with the parent's reason). Returns the function that
 * unlinks them: call it once the child's work is over, so a long-lived parent does not collect
 * one listener per child.
 */
export function linkAbort(parent: AbortSignal | undefined, child: AbortController): () => void {
  if (!parent) return () => {};
  if (parent.aborted) {
    child.abort(parent.reason);
    return () => {};
  }
  const onAbort = () => child.abort(parent.reason);
  parent.addEventListener('abort', onAbort, { once: true });
  return () => parent.removeEventListener('abort', onAbort);
}

/**
 * Waits for shared work with a caller's own deadline: `work`, or the signal's reason as soon as
 * it aborts. The work itself goes on (a base being opened, a patch set, a block asked of the
 * cluster's primary are shared by other callers); this caller just stops waiting.
 */
export function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/**
 * A request's AbortController whose signal is made only when something asks for it. Node makes an
 * AbortSignal on V8's slow paths (an EventTarget given another prototype, then fields keyed by
 * symbols): about 3 us, 3% of the serving thread on cached 256 KiB ranges, and a range answered
 * at once and sent whole from the serving thread never listens on one. `aborted` and `reason` read
 * as a signal's do, without making it.
 */
export class LazyAbortController {
  #controller: AbortController | undefined;
  #aborted = false;
  #reason: unknown;

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  get reason(): unknown {
    return this.#reason;
  }

  abort(reason?: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    // As AbortController does: no reason is an AbortError.
    this.#reason = reason === undefined ? new DOMException('This operation was aborted', 'AbortError') : reason;
    this.#controller?.abort(this.#reason);
  }
}

/** A signal, or a lazy controller standing in for its signal: `aborted` and `reason` without making one. */
export type AbortLike = AbortSignal | LazyAbortController;

/** The signal to listen on. */
export const signalOf = (a: AbortLike): AbortSignal => (a instanceof LazyAbortController ? a.signal : a);

/** What to read `aborted` and `reason` of, for either kind of controller, without making a signal. */
export const abortState = (c: AbortController | LazyAbortController): AbortLike => (c instanceof LazyAbortController ? c : c.signal);
