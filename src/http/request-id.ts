// Request ids: the client's X-Request-Id when it is sane, else one made here. A made id is a
// random per-process prefix and a counter: a cluster's workers, a restarted process and the
// replicas behind one load balancer all write to the same log stream, and a counter alone gave
// each of them the same r1, r2, ... (two workers' lines with one id). The counter keeps it cheap
// on every range request; the prefix (32 random bits) keeps it apart from every other process's.

import { randomBytes } from 'node:crypto';

/** What a client may send as its request id: printable, no spaces, at most 64 characters. */
export const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** A request-id source for one process: `given` when it is sane, else the next id of its own. */
export function requestIds(): (given: string | undefined) => string {
  const prefix = `r${randomBytes(4).toString('hex')}-`;
  let seq = 0;
  return (given) => (given !== undefined && REQUEST_ID.test(given) ? given : prefix + (++seq).toString(36));
}
