// Reads a request's JSON body, bounded: a body that is empty, too large or not a JSON object is
// reported as such so each route answers the way the BMC it models does (400, 415 or accepted).

import type { C } from '../context.js';
import { isObject, type JsonObject } from '../../json.js';

const MAX_JSON_BYTES = 64 * 1024;

export interface JsonBody {
  readonly body: JsonObject | undefined;
  readonly empty: boolean;
  readonly bad: boolean;
}

export async function jsonBody(c: C): Promise<JsonBody> {
  const text = await c.req.text();
  if (text.length > MAX_JSON_BYTES) return { body: undefined, empty: false, bad: true };
  if (text.trim() === '') return { body: undefined, empty: true, bad: false };
  try {
    const v = JSON.parse(text) as unknown;
    return isObject(v) ? { body: v, empty: false, bad: false } : { body: undefined, empty: false, bad: true };
  } catch {
    return { body: undefined, empty: false, bad: true };
  }
}
