// piscina worker: computes a node's patch set off the main thread. Returns a result object, not
// a thrown error: structured clone drops an error's class and code across the thread boundary.

import { computePatchSet, type RemasterResult } from '../src/remaster/compute.js';
import type { BaseContext } from '../src/remaster/base-context.js';
import type { NormalizedEdits } from '../src/bootconfig/index.js';
import { toResult, type Result } from '../src/errors.js';

export interface RemasterTask {
  readonly ctx: BaseContext;
  readonly edits: NormalizedEdits;
  readonly node?: string;
}

/** Starts the thread and does nothing: the pool sends it while a new base is being prepared. */
export interface WarmUpTask {
  readonly warmUp: true;
}

export default function remaster(task: RemasterTask | WarmUpTask): Result<RemasterResult | undefined> {
  if ('warmUp' in task) return { ok: true, value: undefined };
  try {
    return { ok: true, value: computePatchSet(task.ctx, task.edits, task.node ? { node: task.node } : {}) };
  } catch (err) {
    return toResult(err);
  }
}
