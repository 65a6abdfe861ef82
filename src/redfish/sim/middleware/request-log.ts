// Records method, path and status of every request once its response is known, so tests can
// assert the exact sequence a client sent (retries, fallbacks). Bounded to the last entries.

import type { MiddlewareHandler } from 'hono';
import type { SimEnv } from '../context.js';
import { MAX_LOGGED_REQUESTS, type SimState } from '../state.js';

export function requestLog(state: SimState): MiddlewareHandler<SimEnv> {
  return async function logRequest(c, next) {
    await next();
    state.requests.push({ method: c.req.method, path: c.req.path, status: c.res.status });
    if (state.requests.length > MAX_LOGGED_REQUESTS) state.requests.splice(0, state.requests.length - MAX_LOGGED_REQUESTS);
  };
}
