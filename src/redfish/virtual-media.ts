// VirtualMedia on a Redfish service (DMTF VirtualMedia v1.x, DSP2046): find the system, find the
// CD slots (under Systems/{id}/VirtualMedia first, as v1.13+ services link them, else under each
// Manager, where older services and clients look), eject, insert and verify. The quirks handled
// here are the ones sushy/Ironic and Metal3 learned from real BMCs: PATCH-only media (no
// InsertMedia action), services that reject `Inserted`/`WriteProtected`, services that demand
// `TransferProtocolType`/`TransferMethod`, ejects that want `{}` instead of an empty body, and
// ejects of empty media that error although nothing is inserted.

import type { RedfishClient, RedfishResource, RedfishResponse } from './client.js';
import { RedfishError } from '../errors.js';
import { errorText, members, obj, odataId, str, strList, type JsonObject } from './json.js';

export interface MediaSlot {
  readonly path: string;
  readonly mediaType: 'CD' | 'DVD';
  /** Target of #VirtualMedia.InsertMedia, when the slot has the action. */
  readonly insertTarget: string | undefined;
  readonly ejectTarget: string | undefined;
  readonly insertActionInfo: string | undefined;
  /** Parameters the action object itself annotates with `<Name>@Redfish.AllowableValues`. */
  readonly insertAllowable: ReadonlyMap<string, string[]>;
  readonly patchable: boolean;
}

/** The last path segments of members, for messages. */
function ids(paths: readonly string[]): string {
  return paths.map((p) => p.split('/').pop()).join(', ') || 'none';
}

/** Picks the system: the given id (matched against Id or the last path segment) or the only one. */
export async function findSystem(client: RedfishClient, systemId: string | undefined): Promise<RedfishResource> {
  const collection = odataId(client.serviceRoot['Systems']) ?? '/redfish/v1/Systems';
  const list = await client.get(collection, 'list systems');
  const paths = members(list.body);
  if (systemId !== undefined) {
    const byPath = paths.find((p) => p.replace(/\/+$/, '').split('/').pop() === systemId);
    if (byPath) return client.get(byPath, 'read system');
    for (const p of paths) {
      const sys = await client.get(p, 'read system');
      if (str(sys.body['Id']) === systemId) return sys;
    }
    throw client.error('REDFISH_NOT_FOUND', collection, 'find system', `no system ${JSON.stringify(systemId)} among ${paths.length} (${ids(paths)})`);
  }
  const [only] = paths;
  if (paths.length !== 1 || only === undefined) {
    throw client.error('REDFISH_AMBIGUOUS', collection, 'find system', `${paths.length} systems (${ids(paths)}); pass a system id`);
  }
  return client.get(only, 'read system');
}

/** VirtualMedia collections to look in, Systems first, then the managers of the system, then all. */
async function mediaCollections(client: RedfishClient, system: RedfishResource): Promise<string[]> {
  const out: string[] = [];
  const own = odataId(system.body['VirtualMedia']);
  if (own) out.push(own);
  const links = obj(system.body['Links'])?.['ManagedBy'];
  const managedBy = (Array.isArray(links) ? (links as unknown[]) : []).map(odataId).filter((p): p is string => !!p);
  let managers = managedBy;
  if (managers.length === 0) {
    const coll = odataId(client.serviceRoot['Managers']);
    if (coll) managers = members((await client.get(coll, 'list managers')).body, 16);
  }
  for (const m of managers.slice(0, 16)) {
    const mgr = await client.get(m, 'read manager');
    const vm = odataId(mgr.body['VirtualMedia']);
    if (vm && !out.includes(vm)) out.push(vm);
  }
  return out;
}

function slotOf(res: RedfishResource): MediaSlot | undefined {
  const types = strList(res.body['MediaTypes']) ?? [];
  const mediaType = types.includes('CD') ? 'CD' : types.includes('DVD') ? 'DVD' : undefined;
  if (!mediaType) return undefined;
  const actions = obj(res.body['Actions']);
  const insert = obj(actions?.['#VirtualMedia.InsertMedia']);
  const eject = obj(actions?.['#VirtualMedia.EjectMedia']);
  const insertAllowable = new Map<string, string[]>();
  for (const [key, value] of Object.entries(insert ?? {})) {
    const m = /^(\w+)@Redfish\.AllowableValues$/.exec(key);
    const list = strList(value);
    if (m?.[1] && list) insertAllowable.set(m[1], list);
  }
  return {
    path: res.path,
    mediaType,
    insertTarget: str(insert?.['target']),
    ejectTarget: str(eject?.['target']),
    insertActionInfo: str(insert?.['@Redfish.ActionInfo']),
    insertAllowable,
    patchable: res.allow.has('PATCH'),
  };
}

/** CD slots (then DVD) that can be driven by InsertMedia or PATCH, in the service's order. */
export async function findCdSlots(client: RedfishClient, system: RedfishResource): Promise<MediaSlot[]> {
  const collections = await mediaCollections(client, system);
  const slots: MediaSlot[] = [];
  let lastMissing: RedfishError | undefined;
  for (const coll of collections) {
    let list: RedfishResource;
    try {
      list = await client.get(coll, 'list virtual media');
    } catch (err) {
      // A linked but absent collection (404) is common on services that moved VirtualMedia; try the next.
      if (err instanceof RedfishError && err.status === 404) {
        lastMissing = err;
        continue;
      }
      throw err;
    }
    for (const p of members(list.body, 32)) {
      const slot = slotOf(await client.get(p, 'read virtual media'));
      if (slot && (slot.insertTarget !== undefined || slot.patchable)) slots.push(slot);
    }
    if (slots.length > 0) break;
  }
  if (slots.length === 0) {
    if (lastMissing && collections.length > 0) throw lastMissing;
    const where = collections.length > 0 ? collections.join(', ') : system.path;
    throw client.error('REDFISH_NO_MEDIA', where, 'find virtual media', 'no CD or DVD virtual media slot with InsertMedia or PATCH');
  }
  return [...slots.filter((s) => s.mediaType === 'CD'), ...slots.filter((s) => s.mediaType === 'DVD')];
}

function ok(res: RedfishResponse): boolean {
  return res.status >= 200 && res.status < 300;
}

/**
 * Ejects whatever the slot holds (even our own URL: a BMC may hold a stale session on it). An
 * empty POST first, then `{}` (services that reject a bodiless POST with 400/415); an error is
 * accepted when a fresh GET shows `Inserted: false`. Waits for slow ejects to take effect.
 */
export async function eject(client: RedfishClient, slot: MediaSlot, waitPolls = 10): Promise<void> {
  const step = 'eject';
  if (slot.ejectTarget) {
    let res = await client.post(slot.ejectTarget, undefined, step);
    if (res.status === 400 || res.status === 415) res = await client.post(slot.ejectTarget, {}, step);
    if (!ok(res)) {
      const fresh = await client.get(slot.path, 'read virtual media after eject');
      if (fresh.body['Inserted'] === false) return;
      throw client.fail(res, slot.ejectTarget, step, 'REDFISH_EJECT');
    }
  } else {
    const cur = await client.get(slot.path, 'read virtual media');
    if (cur.body['Inserted'] !== true && !str(cur.body['Image'])) return;
    const res = await client.patch(slot.path, { Image: null, Inserted: false }, cur.etag, step);
    if (!ok(res)) throw client.fail(res, slot.path, step, 'REDFISH_EJECT');
  }
  for (let poll = 0; ; poll++) {
    const fresh = await client.get(slot.path, 'verify eject');
    if (fresh.body['Inserted'] !== true) return;
    if (poll >= waitPolls) throw client.error('REDFISH_EJECT', slot.path, 'verify eject', `media still inserted after ${poll + 1} checks`);
    await client.wait(poll);
  }
}

interface ParamInfo {
  readonly required: boolean;
  readonly allowable: string[] | undefined;
}

/**
 * What the service says about InsertMedia's parameters: its ActionInfo (Required, AllowableValues)
 * and AllowableValues annotated on the action itself, which we take as a request to send that
 * parameter (services annotate what they expect; seen for TransferProtocolType).
 */
async function actionParameters(client: RedfishClient, slot: MediaSlot): Promise<Map<string, ParamInfo>> {
  const out = new Map<string, ParamInfo>();
  for (const [name, allowable] of slot.insertAllowable) out.set(name, { required: true, allowable });
  if (!slot.insertActionInfo) return out;
  const info = await client.get(slot.insertActionInfo, 'read InsertMedia ActionInfo');
  const params = Array.isArray(info.body['Parameters']) ? (info.body['Parameters'] as unknown[]) : [];
  for (const p of params.slice(0, 64)) {
    const o = obj(p);
    const name = str(o?.['Name']);
    if (!o || !name) continue;
    const annotated = out.get(name);
    out.set(name, {
      required: o['Required'] === true || annotated?.required === true,
      allowable: strList(o['AllowableValues']) ?? annotated?.allowable,
    });
  }
  return out;
}

function protocolFor(url: string, allowable: string[] | undefined): string {
  const scheme = new URL(url).protocol.replace(':', '').toUpperCase();
  if (!allowable || allowable.includes(scheme)) return scheme;
  return allowable.find((v) => v.toUpperCase() === scheme) ?? scheme;
}

export interface InsertOutcome {
  readonly slot: MediaSlot;
  readonly method: 'InsertMedia' | 'PATCH';
}

/**
 * Inserts `url` into the first slot that takes it: InsertMedia `{Image}` plus only what the service
 * asks for; PATCH `{Image, Inserted, WriteProtected}` with If-Match where there is no action.
 * A 400/405 answer moves on to the next slot. Verifies `Inserted: true` and `Image == url`.
 */
export async function insert(client: RedfishClient, slots: readonly MediaSlot[], url: string, waitPolls = 3): Promise<InsertOutcome> {
  let lastRefusal: RedfishError | undefined;
  for (const slot of slots) {
    await eject(client, slot);
    let res: RedfishResponse;
    let method: InsertOutcome['method'];
    let target: string;
    if (slot.insertTarget) {
      method = 'InsertMedia';
      target = slot.insertTarget;
      const params = await actionParameters(client, slot);
      const body: JsonObject = { Image: url };
      const addProtocol = (): void => {
        body['TransferProtocolType'] = protocolFor(url, params.get('TransferProtocolType')?.allowable);
      };
      const addMethod = (): void => {
        const allowed = params.get('TransferMethod')?.allowable;
        body['TransferMethod'] = !allowed || allowed.includes('Stream') ? 'Stream' : (allowed[0] ?? 'Stream');
      };
      if (params.get('TransferProtocolType')?.required) addProtocol();
      if (params.get('TransferMethod')?.required) addMethod();
      // The image URL carries its own authorization (a signed token); credentials only if demanded.
      if (params.get('UserName')?.required) body['UserName'] = '';
      if (params.get('Password')?.required) body['Password'] = '';
      res = await client.post(target, body, 'insert');
      if (res.status === 400) {
        const text = errorText(res.body);
        let retry = false;
        if (/TransferProtocolType/.test(text) && body['TransferProtocolType'] === undefined) {
          addProtocol();
          retry = true;
        }
        if (/TransferMethod/.test(text) && body['TransferMethod'] === undefined) {
          addMethod();
          retry = true;
        }
        if (retry) res = await client.post(target, body, 'insert');
      }
    } else {
      method = 'PATCH';
      target = slot.path;
      const cur = await client.get(slot.path, 'read virtual media');
      res = await client.patch(slot.path, { Image: url, Inserted: true, WriteProtected: true }, cur.etag, 'insert');
    }
    if (res.status === 400 || res.status === 405) {
      lastRefusal = client.fail(res, target, 'insert', 'REDFISH_INSERT');
      continue;
    }
    if (!ok(res)) throw client.fail(res, target, 'insert', 'REDFISH_INSERT');
    for (let poll = 0; ; poll++) {
      const fresh = await client.get(slot.path, 'verify insert');
      const image = str(fresh.body['Image']);
      if (fresh.body['Inserted'] === true && image === url) return { slot, method };
      if (poll >= waitPolls) {
        throw client.error(
          'REDFISH_INSERT_NOT_APPLIED',
          slot.path,
          'verify insert',
          `insert answered ${res.status} but the media shows Inserted=${String(fresh.body['Inserted'])}, Image=${JSON.stringify(image ?? null)}`,
        );
      }
      await client.wait(poll);
    }
  }
  throw lastRefusal ?? client.error('REDFISH_INSERT', slots[0]?.path ?? '', 'insert', 'no slot accepted the image');
}
