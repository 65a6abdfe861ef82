// Optimistic concurrency on PATCH (DSP0266 §8.8, RFC 9110 §13.1.1): 412 unless If-Match matches
// the resource's ETag. Profiles model two real deviations: services that require If-Match, and
// services that mint weak ETags but only accept the strong form back.

import { refuse, type C } from '../context.js';
import type { Quirks } from '../profiles.js';

export function preconditionFails(c: C, current: number, quirks: Quirks): Response | undefined {
  const ifMatch = c.req.header('if-match');
  if (ifMatch === undefined) {
    return quirks.requireIfMatch ? refuse(c, 412, 'Base.1.8.PreconditionRequired', 'An If-Match header is required.') : undefined;
  }
  if (ifMatch.trim() === '*') return undefined;
  const tags = ifMatch.split(',').map((t) => t.trim());
  const ok = tags.some((t) => (quirks.weakEtags ? t === `"${current}"` : t.replace(/^W\//, '') === `"${current}"`));
  return ok ? undefined : refuse(c, 412, 'Base.1.8.PreconditionFailed', 'The ETag supplied did not match the current ETag.');
}
