// Bearer auth of the status view: the admin token or, when configured, a read-only viewer token
// (everything under /ui is read-only, so either opens all of it; the viewer token opens nothing
// else). Compared in constant time, both sides hashed first so lengths never leak. With no token
// configured the view is open, as the admin API is: `isoproxy serve` only allows that on loopback.
//
// The answer to a missing or wrong token is written here rather than thrown, so the routes behave
// the same whatever error handler the app they are mounted in has.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';

export interface StatusAuth {
  /** The admin API's token; undefined leaves the view open (loopback only). */
  readonly adminToken?: string;
  /** A token that opens the status view and nothing else. */
  readonly viewerToken?: string;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** True when the Authorization header carries one of the tokens (or none is configured). */
export function tokenChecker(auth: StatusAuth): (authorization: string | undefined) => boolean {
  const expected = [auth.adminToken, auth.viewerToken].filter((t): t is string => t !== undefined && t !== '').map(digest);
  if (expected.length === 0) return () => true;
  return (authorization) => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) return false;
    const got = digest(m[1]!);
    // Check every token, not the first match, so timing does not say which one matched.
    let ok = false;
    for (const e of expected) ok = timingSafeEqual(got, e) || ok;
    return ok;
  };
}

export function statusAuth(auth: StatusAuth): MiddlewareHandler {
  const check = tokenChecker(auth);
  return async function statusBearer(c, next) {
    if (!check(c.req.header('authorization'))) {
      return c.json({ error: { code: 'UNAUTHORIZED', message: 'a valid bearer token is required' } }, 401, {
        'WWW-Authenticate': 'Bearer realm="isoproxy"',
        'Cache-Control': 'no-store',
      });
    }
    await next();
  };
}
