// How much memory a computed result holds, for the memo's byte bound (pool.ts). Apart from
// compute.ts so that the pool, loaded by every serving process, does not load the engine.

import type { RemasterResult } from './compute.js';

/**
 * Bytes a result holds: its overlays, and the report's texts (every boot config's edited text,
 * changed or not, with its line changes, warnings, missing includes and include loops), which
 * can outweigh the overlays.
 */
export function resultBytes(r: RemasterResult): number {
  let n = r.report.overlayBytes;
  for (const e of r.report.edits) {
    for (const c of e.report.configs) {
      n += c.text.length;
      for (const ch of c.changes) n += ch.before.length + ch.after.length;
    }
    for (const w of e.report.warnings) n += w.length;
    for (const m of e.report.missing) n += m.from.length + m.target.length;
    for (const c of e.report.cycles) for (const p of c) n += p.length;
  }
  for (const w of r.report.warnings) n += w.length;
  return n;
}
