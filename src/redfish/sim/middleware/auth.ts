// Authentication as DSP0266 §13.3 has it: the service root (and its OData documents) and session
// creation are open; everything else needs a session's X-Auth-Token or Basic credentials.

import type { MiddlewareHandler } from 'hono';
import { refuse, type SimContext, type SimEnv } from '../context.js';
import { ROOT } from '../render.js';

/** The request path without trailing slashes, as faults and the open-resource check match it. */
export function plainPath(path: string): string {
  return path.replace(/\/+$/, '');
}

function isOpen(method: string, path: string): boolean {
  return (
    path === ROOT || path === `${ROOT}/odata` || path === `${ROOT}/$metadata` || (method === 'POST' && path === `${ROOT}/SessionService/Sessions`)
  );
}

export function auth(ctx: SimContext): MiddlewareHandler<SimEnv> {
  const { state } = ctx;
  return async function authenticate(c, next) {
    if (!isOpen(c.req.method, plainPath(c.req.path))) {
      const token = c.req.header('x-auth-token');
      const authz = c.req.header('authorization');
      let ok = false;
      if (token !== undefined) ok = state.sessions.has(token);
      else if (authz?.startsWith('Basic ')) {
        const [u, ...p] = Buffer.from(authz.slice(6), 'base64').toString('utf8').split(':');
        ok = u === ctx.username && p.join(':') === ctx.password;
        if (ok) state.basicAuthRequests++;
      }
      if (!ok) {
        return refuse(c, 401, 'Base.1.8.NoValidSession', 'There is no valid session established with the implementation.', [], {
          'WWW-Authenticate': 'Basic realm="bmc-sim"',
        });
      }
    }
    await next();
    return undefined;
  };
}
