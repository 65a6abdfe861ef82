// How a node spec is held in Redis by the node store (redis-store.ts): the JSON value of
// `<prefix>node:<name>`, with exactly the NodeSpec fields, checked field by field when read back,
// since another replica, a hand edit or another program may have written the key.

import { asNodeSpec, type NodeSpec } from './store.js';

/** Spec JSON larger than this is refused (the admin API caps a body at 64 KiB). */
export const MAX_SPEC_BYTES = 256 * 1024;

/** The stored shape of a spec: exactly these fields, whatever the caller's object carries. */
export function storedSpec(spec: NodeSpec): NodeSpec {
  const { name, bootIso, edits, expiresAt, createdAt, updatedAt } = spec;
  return { name, bootIso, edits, ...(expiresAt !== undefined ? { expiresAt } : {}), createdAt, updatedAt };
}

/** Checks what Redis holds (another replica, a hand edit or another program may have written it). */
export function checkSpec(value: unknown, name?: string): NodeSpec | undefined {
  const spec = asNodeSpec(value);
  return spec && (name === undefined || spec.name === name) ? spec : undefined;
}

/** The spec a key's value holds, or undefined if it is oversized, not JSON or not a spec for `name`. */
export function decodeSpec(text: string, name: string): NodeSpec | undefined {
  let value: unknown;
  try {
    value = text.length <= MAX_SPEC_BYTES ? JSON.parse(text) : undefined;
  } catch {
    value = undefined;
  }
  return checkSpec(value, name);
}
