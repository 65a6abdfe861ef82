// What the simulator's routes share: its state and quirks, the logger, the task board and the
// image fetches, plus the few reply helpers every route uses (404, a Redfish error, and "done":
// 204, or 202 with a task monitor in profiles whose BMCs answer that way).

import type { Context } from 'hono';
import type { Logger } from 'pino';
import type { MediaFetches } from './media-fetches.js';
import type { Quirks } from './profiles.js';
import { redfishError, ROOT } from './render.js';
import type { FaultEffect, SimState } from './state.js';
import type { TaskBoard } from './tasks.js';

/** Hono's environment for the simulator: the fault a request carries past the fault middleware. */
export interface SimEnv {
  Variables: { fault: FaultEffect | undefined };
}

export type SimContext = Readonly<{
  state: SimState;
  quirks: Quirks;
  log: Logger;
  tasks: TaskBoard;
  fetches: MediaFetches;
  username: string;
  password: string;
}>;

export type C = Context<SimEnv>;

/** A Redfish error response. The status is widened for Hono, which types it as a literal union. */
export function refuse(c: C, status: number, messageId: string, message: string, related: string[] = [], headers?: Record<string, string>): Response {
  return c.json(redfishError(status, messageId, message, related), status as 400, headers);
}

export function missing(c: C, what: string): Response {
  return refuse(c, 404, 'Base.1.8.ResourceMissingAtURI', `The resource ${what} was not found.`);
}

export function malformed(c: C): Response {
  return refuse(c, 400, 'Base.1.8.MalformedJSON', 'The request body is not a JSON object.');
}

/** The fault the request carries ('ignore' or 'task-fail'), if any. */
export function faultOf(c: C): FaultEffect | undefined {
  return c.get('fault');
}

/** Answers an applied change: 204, or 202 + task monitor in the task profile. */
export function done(c: C, ctx: SimContext, fail: string | null = null): Response {
  if (!ctx.quirks.tasks) {
    if (fail) return refuse(c, 500, 'Base.1.8.InternalError', fail);
    return c.body(null, 204);
  }
  const id = ctx.tasks.create(ctx.quirks.taskPolls, fail);
  const monitor = { Location: `${ROOT}/TaskService/TaskMonitors/${id}`, 'Retry-After': '1' };
  return c.json({ '@odata.id': `${ROOT}/TaskService/Tasks/${id}`, Id: id, TaskState: 'New' }, 202, monitor);
}
