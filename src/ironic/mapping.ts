// From an Ironic node document to a NodeSpec: which base, which edits, and whether isoproxy may
// serve the node at all. Pure: no I/O, no logger; the source logs what this returns.
//
// - Base: instance_info/isoproxy_base_iso, else the configured default; checked against the
//   upstream allowlist (the same check the admin API runs at PUT). Nothing a BMC sends chooses it.
// - Edits: `append` is the kernel parameters Ironic would apply (kernel-params.ts), followed by
//   instance_info/isoproxy_edits.append if any; `set`, `remove` and `separator` come from
//   instance_info/isoproxy_edits (the admin API's `edits` JSON, as an object or a JSON string:
//   the `baremetal` CLI stores `--instance-info k='{"..."}'` as an object, a raw PATCH may store
//   the string); instance_info/isoproxy_files goes to `edits.files` verbatim, validated downstream.
// - Provision state: outside the configured set the node is refused (404, reason logged).

import { normalizeEdits } from '../bootconfig/edits.js';
import type { Edits } from '../bootconfig/types.js';
import type { NodeSpec } from '../registry/store.js';
import { IronicNodeRefusedError } from './errors.js';
import { appendTokens, ironicKernelAppendParams, type KernelAppendParams } from './kernel-params.js';

/** The fields of GET /v1/nodes/{ident} that isoproxy reads. */
export interface IronicNode {
  readonly uuid: string;
  readonly name?: string | null;
  readonly provision_state?: string | null;
  readonly instance_info?: Record<string, unknown> | null;
  readonly driver_info?: Record<string, unknown> | null;
  readonly driver?: string | null;
  readonly deploy_interface?: string | null;
  readonly boot_interface?: string | null;
  readonly maintenance?: boolean | null;
}

/**
 * The node fields requested from Ironic (`?fields=`), everything IronicNode names. Ironic does not
 * accept created_at / updated_at there ("not a valid field"), and its updated_at moves with every
 * power-state sync anyway: the spec's times are when isoproxy first saw its content.
 */
export const NODE_FIELDS = [
  'uuid',
  'name',
  'provision_state',
  'instance_info',
  'driver_info',
  'driver',
  'deploy_interface',
  'boot_interface',
  'maintenance',
] as const;

export interface MappingOptions {
  readonly defaultBase?: string;
  readonly defaultAppend: string;
  /** undefined: every state. */
  readonly provisionStates: ReadonlySet<string> | undefined;
  /** Throws (an IsoproxyError with a message) when the base URL is not allowed. */
  readonly checkUpstreamAllowed: (url: string) => void;
}

/** Edits as the Ironic source produces them: the shared Edits plus `files`, passed through. */
export type IronicEdits = Edits;

export interface Resolution {
  readonly node: IronicNode;
  readonly base?: { readonly url: string; readonly from: 'instance_info/isoproxy_base_iso' | 'default' };
  readonly append?: KernelAppendParams;
  readonly edits?: IronicEdits;
  /** Every reason not to serve, most fundamental first; empty when the node is served. */
  readonly refusals: readonly IronicNodeRefusedError[];
  /** Present when `refusals` is empty. */
  readonly spec?: NodeSpec;
}

const BASE_KEY = 'isoproxy_base_iso';
const EDITS_KEY = 'isoproxy_edits';
const FILES_KEY = 'isoproxy_files';

function dict(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** A JSON value stored either as itself or as a JSON string. */
function jsonValue(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

/** The isoproxy_edits object, shape-checked (semantic checks: normalizeEdits). */
function extraEdits(raw: unknown): { append: string[]; set?: Record<string, string>; remove?: string[]; separator?: 'before' | 'after' } {
  const v = jsonValue(raw);
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new Error(`instance_info/${EDITS_KEY} must be a JSON object like the admin API's edits`);
  const e = v as Record<string, unknown>;
  for (const k of Object.keys(e)) {
    if (!['append', 'set', 'remove', 'separator'].includes(k))
      throw new Error(`instance_info/${EDITS_KEY}.${k} is not a kind of edit (append, set, remove, separator)`);
  }
  const strings = (x: unknown, what: string): string[] => {
    if (!Array.isArray(x) || x.some((s) => typeof s !== 'string')) throw new Error(`instance_info/${EDITS_KEY}.${what} must be a list of strings`);
    return x as string[];
  };
  const out: { append: string[]; set?: Record<string, string>; remove?: string[]; separator?: 'before' | 'after' } = {
    append: e['append'] === undefined ? [] : strings(e['append'], 'append'),
  };
  if (e['set'] !== undefined) {
    const s = e['set'];
    if (s === null || typeof s !== 'object' || Array.isArray(s) || Object.values(s).some((x) => typeof x !== 'string'))
      throw new Error(`instance_info/${EDITS_KEY}.set must be an object of strings`);
    out.set = s as Record<string, string>;
  }
  if (e['remove'] !== undefined) out.remove = strings(e['remove'], 'remove');
  if (e['separator'] !== undefined) {
    if (e['separator'] !== 'before' && e['separator'] !== 'after')
      throw new Error(`instance_info/${EDITS_KEY}.separator must be "before" or "after"`);
    out.separator = e['separator'];
  }
  return out;
}

/**
 * Resolves a node: base, edits and every refusal. `requested` is the name in the URL; `seenAt`
 * (ISO 8601) becomes the spec's createdAt and updatedAt.
 */
export function resolveNode(requested: string, node: IronicNode, options: MappingOptions, seenAt: string = new Date().toISOString()): Resolution {
  const ii = dict(node.instance_info);
  const refusals: IronicNodeRefusedError[] = [];
  const refuse = (reason: IronicNodeRefusedError['reason'], detail: string, cause?: unknown): void => {
    refusals.push(new IronicNodeRefusedError(requested, node.uuid, reason, detail, cause === undefined ? undefined : { cause }));
  };

  let base: Resolution['base'];
  const own = ii[BASE_KEY];
  if (typeof own === 'string' && own.trim() !== '') base = { url: own.trim(), from: 'instance_info/isoproxy_base_iso' };
  else if (own !== undefined && own !== null && own !== '') refuse('no-base', `instance_info/${BASE_KEY} must be a URL string`);
  else if (options.defaultBase !== undefined) base = { url: options.defaultBase, from: 'default' };
  else refuse('no-base', `neither instance_info/${BASE_KEY} nor a default base (--ironic-default-base) is set`);

  if (base) {
    try {
      options.checkUpstreamAllowed(base.url);
    } catch (err) {
      refuse('upstream-forbidden', `base ${base.url} (from ${base.from}) is not allowed: ${(err as Error).message}`, err);
    }
  }

  let append: KernelAppendParams | undefined;
  let edits: IronicEdits | undefined;
  try {
    append = ironicKernelAppendParams(node, options.defaultAppend);
    const tokens = appendTokens(append);
    const extra = ii[EDITS_KEY] === undefined || ii[EDITS_KEY] === null ? { append: [] } : extraEdits(ii[EDITS_KEY]);
    const core: Edits = {
      append: [...tokens, ...extra.append],
      ...(extra.set ? { set: extra.set } : {}),
      ...(extra.remove ? { remove: extra.remove } : {}),
      ...(extra.separator ? { separator: extra.separator } : {}),
    };
    const files = ii[FILES_KEY];
    edits = files === undefined || files === null ? core : { ...core, files: jsonValue(files) as Edits['files'] };
    // Checked now so the refusal names the node (files included); the serving core normalizes again.
    normalizeEdits(edits);
  } catch (err) {
    refuse('invalid-edits', (err as Error).message, err);
  }

  const state = node.provision_state ?? '';
  if (options.provisionStates && !options.provisionStates.has(state)) {
    refuse('provision-state', `provision state ${JSON.stringify(state)} is not one of ${[...options.provisionStates].join(', ')}`);
  }

  const result: Resolution = { node, ...(base ? { base } : {}), ...(append ? { append } : {}), ...(edits ? { edits } : {}), refusals };
  if (refusals.length > 0 || !base || !edits) return result;
  const spec: NodeSpec = { name: requested, bootIso: base.url, edits, createdAt: seenAt, updatedAt: seenAt };
  return { ...result, spec };
}
