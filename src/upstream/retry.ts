// The one retry policy of the http upstream: a failure that isRetryable (resets, timeouts, 5xx,
// 429) is tried again after an exponential backoff (base x 2^(n-1), capped), at most `maxRetries`
// times in a row. A caller that makes progress (a range read that received bytes) resets the count,
// so retries are bounded per stall, not per image. Aborting the signal ends the wait at once.

import { abortReason, sleep } from '../io/abort.js';
import { isRetryable, toUpstreamError } from './http-errors.js';
import type { LoggerLike, UpstreamStats } from './types.js';

export interface RetryPolicy {
  readonly maxRetries: number;
  readonly retryBaseDelayMs: number;
  readonly retryMaxDelayMs: number;
  readonly stats?: UpstreamStats;
  readonly logger?: LoggerLike;
}

export function backoffMs(policy: RetryPolicy, failures: number): number {
  return Math.min(policy.retryMaxDelayMs, policy.retryBaseDelayMs * 2 ** (failures - 1));
}

export class Retry {
  private failures = 0;

  constructor(
    private readonly policy: RetryPolicy,
    private readonly url: string,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /** Bytes arrived: the next failure starts a fresh series of retries. */
  progressed(): void {
    this.failures = 0;
  }

  /**
   * Handles a failed attempt: throws the mapped error when it is not retryable or the retries are
   * spent (counted in stats.errors), else counts a retry and waits the backoff before returning.
   */
  async after(err: unknown, context: object = {}): Promise<void> {
    if (this.signal?.aborted) throw abortReason(this.signal);
    const mapped = toUpstreamError(err, this.url);
    const stats = this.policy.stats;
    if (!isRetryable(mapped) || this.failures >= this.policy.maxRetries) {
      if (stats) stats.errors++;
      throw mapped;
    }
    this.failures++;
    if (stats) stats.retries++;
    this.policy.logger?.debug(
      { url: this.url, ...context, attempt: this.failures, code: (mapped as { code?: string }).code },
      'upstream request retried',
    );
    await sleep(backoffMs(this.policy, this.failures), this.signal);
  }
}

/** Runs `fn` until it succeeds, retrying retryable failures under the policy. */
export async function withRetries<T>(policy: RetryPolicy, url: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  const retry = new Retry(policy, url, signal);
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      await retry.after(err);
    }
  }
}
