// Reading the JSON bodies of the admin API: `Content-Type: application/json` required (415
// otherwise: a form or text body is a client bug to report, not to guess at), a size cap, and
// syntax errors as 400 INVALID_JSON. The shape of the node body is checked here too; what its
// values mean (allowlist, edit grammar, expiry in the future) is the serving core's to check.

import type { Context } from 'hono';
import type { Edits } from '../bootconfig/types.js';
import type { NodeInput } from '../serving/nodes.js';
import { BadRequestError, UnsupportedMediaTypeError } from './errors.js';

/** Room for a node with its injected files: 4 MiB of files base64-encoded is about 5.6 MB. */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;

/** application/json, with or without parameters (charset), in any letter case. */
export function isJsonContentType(header: string | undefined): boolean {
  if (header === undefined) return false;
  return header.split(';')[0]!.trim().toLowerCase() === 'application/json';
}

/** The request's JSON body: 415 unless it says it is JSON, 400 when too large or not JSON. */
export async function readJsonBody(c: Context, maxBytes = MAX_BODY_BYTES): Promise<unknown> {
  if (!isJsonContentType(c.req.header('content-type'))) throw new UnsupportedMediaTypeError();
  const declared = Number(c.req.header('content-length') ?? NaN);
  if (declared > maxBytes) throw new BadRequestError('BODY_TOO_LARGE', `body is larger than ${maxBytes} bytes`);
  const text = await c.req.text();
  if (Buffer.byteLength(text) > maxBytes) throw new BadRequestError('BODY_TOO_LARGE', `body is larger than ${maxBytes} bytes`);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new BadRequestError('INVALID_JSON', 'body is not valid JSON');
  }
}

/**
 * RFC 3339 §5.6 date-time: full date, "T", time with optional fraction, and "Z" or an offset.
 * ISO 8601's other forms ("2026", "March 7", week dates) are refused: Date.parse guesses at them.
 */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-](\d{2}):(\d{2}))$/;

/** Milliseconds since the epoch of an RFC 3339 date-time, or undefined when it is not one. */
export function parseRfc3339(text: string): number | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const offsetH = m[9] === undefined ? 0 : Number(m[9]);
  const offsetM = m[10] === undefined ? 0 : Number(m[10]);
  // Leap seconds (60) are not representable in a Date: refused rather than rolled over.
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59 || offsetH > 23 || offsetM > 59) return undefined;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day > daysInMonth) return undefined;
  const ms = Date.parse(text.toUpperCase());
  return Number.isNaN(ms) ? undefined : ms;
}

const NODE_FIELDS = new Set(['bootIso', 'edits', 'expiresAt']);
const EDIT_KINDS = new Set(['append', 'set', 'remove', 'separator', 'files']);

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.length <= 1024 && v.every((x) => typeof x === 'string');
}

/** Shape check of the PUT body; the semantic checks are the serving core's (nodes.put). */
export function parseNodeBody(body: unknown): NodeInput {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadRequestError('INVALID_BODY', 'body must be a JSON object');
  const b = body as Record<string, unknown>;
  const unknown = Object.keys(b).filter((k) => !NODE_FIELDS.has(k));
  if (unknown.length > 0) {
    throw new BadRequestError('INVALID_BODY', `unknown field ${JSON.stringify(unknown[0])}; a node has bootIso, edits and expiresAt`);
  }
  if (typeof b.bootIso !== 'string' || b.bootIso === '') throw new BadRequestError('INVALID_BODY', 'bootIso must be a non-empty string');
  const e = b.edits ?? {};
  if (typeof e !== 'object' || e === null || Array.isArray(e)) throw new BadRequestError('INVALID_BODY', 'edits must be an object');
  const ed = e as Record<string, unknown>;
  for (const k of Object.keys(ed)) {
    if (!EDIT_KINDS.has(k)) throw new BadRequestError('INVALID_BODY', `unknown edit kind ${JSON.stringify(k)}`);
  }
  if (ed.append !== undefined && !isStringArray(ed.append)) throw new BadRequestError('INVALID_BODY', 'edits.append must be an array of strings');
  if (ed.remove !== undefined && !isStringArray(ed.remove)) throw new BadRequestError('INVALID_BODY', 'edits.remove must be an array of strings');
  if (
    ed.set !== undefined &&
    (typeof ed.set !== 'object' || ed.set === null || Array.isArray(ed.set) || !Object.values(ed.set).every((v) => typeof v === 'string'))
  ) {
    throw new BadRequestError('INVALID_BODY', 'edits.set must be an object of strings');
  }
  if (ed.separator !== undefined && ed.separator !== 'before' && ed.separator !== 'after') {
    throw new BadRequestError('INVALID_BODY', 'edits.separator must be "before" or "after"');
  }
  const edits: Edits = {
    ...(ed.append !== undefined ? { append: ed.append as string[] } : {}),
    ...(ed.set !== undefined ? { set: ed.set as Record<string, string> } : {}),
    ...(ed.remove !== undefined ? { remove: ed.remove as string[] } : {}),
    ...(ed.separator !== undefined ? { separator: ed.separator as 'before' | 'after' } : {}),
    // Each entry's path, mode and content are checked by the edit validation (400 INVALID_EDIT naming the entry).
    ...(ed.files !== undefined ? { files: ed.files as Edits['files'] } : {}),
  };
  let expiresAt: string | undefined;
  if (b.expiresAt !== undefined && b.expiresAt !== null) {
    const ms = typeof b.expiresAt === 'string' ? parseRfc3339(b.expiresAt) : undefined;
    if (ms === undefined) throw new BadRequestError('INVALID_BODY', 'expiresAt must be an RFC 3339 date-time, e.g. 2026-03-07T12:00:00Z');
    expiresAt = new Date(ms).toISOString();
  }
  return { bootIso: b.bootIso, edits, ...(expiresAt !== undefined ? { expiresAt } : {}) };
}
