// Time budgets towards a BMC. A BMC that accepts connections and never answers must not hold an
// attach or detach (and the admin request waiting on it) for minutes: with only a per-call
// timeout, four retried calls of 30 s plus backoff held a vmedia request for 125 s. So there are
// two budgets:
// - per Redfish call, for the response headers and again for each gap in the body (undici's
//   headersTimeout and bodyTimeout): 30 s by default. For comparison (Debian's sushy 4.3 and
//   Ironic 21.4): sushy sets no per-request timeout and waits up to 60 s for an asynchronous
//   (202) call; Ironic retries a connection 5 times, 4 s apart ([redfish]connection_attempts and
//   connection_retry_interval). 30 s is far above a healthy BMC's answer time, and short enough
//   that a call that timed out can be retried within the operation's budget. (undici checks
//   these timeouts on a clock of about one second, so they fire up to a second late.)
// - per operation (one attach or one detach: login, every call, retries, backoff, slow-eject
//   waits and task-monitor polling): 90 s by default. That bounds the admin request waiting on
//   it, and still leaves a slow but healthy BMC room for one timed-out call and its retry.
// The session DELETE at the end gets its own short budget, outside the operation's, because a BMC
// has few session slots and a session left open can lock the next caller out.

export const DEFAULT_CALL_TIMEOUT_MS = 30_000;
export const DEFAULT_OPERATION_TIMEOUT_MS = 90_000;
export const LOGOUT_TIMEOUT_MS = 5_000;

/** Why an operation stopped early: its budget ran out, or its caller cancelled it. */
export interface Stop {
  readonly code: 'REDFISH_TIMEOUT' | 'REDFISH_ABORTED';
  readonly message: string;
  readonly cause: unknown;
}

function isTimeoutReason(reason: unknown): boolean {
  return (reason instanceof Error || reason instanceof DOMException) && reason.name === 'TimeoutError';
}

/** undici's per-call timeouts (headers, or a gap in the body). */
export function isCallTimeout(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
}

export class OperationBudget {
  /** Aborts when the budget runs out or the caller's signal aborts. */
  readonly signal: AbortSignal;
  private readonly deadline: AbortSignal;

  constructor(
    readonly operationMs: number,
    caller?: AbortSignal,
  ) {
    this.deadline = AbortSignal.timeout(operationMs);
    this.signal = caller ? AbortSignal.any([caller, this.deadline]) : this.deadline;
  }

  get stopped(): boolean {
    return this.signal.aborted;
  }

  stop(): Stop {
    const reason: unknown = this.signal.reason;
    if (this.deadline.aborted || isTimeoutReason(reason)) {
      return { code: 'REDFISH_TIMEOUT', message: `the BMC did not finish within the operation's budget of ${this.operationMs} ms`, cause: reason };
    }
    return { code: 'REDFISH_ABORTED', message: 'the operation was cancelled', cause: reason };
  }

  /** Waits `ms` through `sleep`, or less when the budget runs out first; never rejects. */
  async pause(ms: number, sleep: (ms: number) => Promise<void>): Promise<void> {
    if (this.signal.aborted) return;
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<void>((resolve) => {
      onAbort = resolve;
      this.signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await Promise.race([sleep(ms), aborted]);
    } finally {
      if (onAbort) this.signal.removeEventListener('abort', onAbort);
    }
  }
}
