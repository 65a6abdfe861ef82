// Injected faults (`state.faults`), applied after authentication as a real service's failures
// are. 'error' answers at once; 'hang' and 'stall-body' hold the request until the simulator
// closes or the client goes away, which is what a wedged BMC web server does (accepts the
// connection, then never answers); 'ignore' and 'task-fail' ride on the context for the route.

import type { MiddlewareHandler } from 'hono';
import { refuse, type SimEnv } from '../context.js';
import type { SimFault, SimState } from '../state.js';
import { plainPath } from './auth.js';

/** Requests held by 'hang' and 'stall-body' faults, released when the simulator closes. */
export class HeldRequests {
  private readonly waiting = new Set<() => void>();

  /** Resolves when released or when `signal` aborts. */
  hold(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      const release = (): void => {
        this.waiting.delete(release);
        signal?.removeEventListener('abort', release);
        resolve();
      };
      this.waiting.add(release);
      signal?.addEventListener('abort', release, { once: true });
    });
  }

  releaseAll(): void {
    for (const release of [...this.waiting]) release();
  }

  get size(): number {
    return this.waiting.size;
  }
}

function matches(f: SimFault, method: string, path: string): boolean {
  if ((f.times ?? 1) <= 0) return false;
  if (f.method !== undefined && f.method !== method) return false;
  return typeof f.path === 'string' ? path.endsWith(plainPath(f.path)) : f.path.test(path);
}

export function faults(state: SimState, held: HeldRequests): MiddlewareHandler<SimEnv> {
  return async function injectFault(c, next) {
    const fault = state.faults.find((f) => matches(f, c.req.method, plainPath(c.req.path)));
    if (fault) {
      fault.times = (fault.times ?? 1) - 1;
      const effect = fault.effect ?? 'error';
      if (effect === 'error') {
        const status = fault.status ?? 500;
        if (fault.body !== undefined) return c.html(fault.body, status as 500);
        return refuse(c, status, status >= 500 ? 'Base.1.8.InternalError' : 'Base.1.8.GeneralError', fault.message ?? 'Injected fault.');
      }
      if (effect === 'hang') {
        await held.hold(c.req.raw.signal);
        return refuse(c, 503, 'Base.1.8.ServiceShuttingDown', 'The simulator is closing.');
      }
      if (effect === 'stall-body') {
        const wait = held.hold(c.req.raw.signal);
        const body = new ReadableStream<Uint8Array>({
          async start(controller) {
            controller.enqueue(new TextEncoder().encode('{"@odata.id": '));
            await wait;
            controller.close();
          },
        });
        return new Response(body, { status: fault.status ?? 200, headers: { 'content-type': 'application/json' } });
      }
      c.set('fault', effect);
    }
    await next();
    return undefined;
  };
}
