// A Redfish BMC simulator (DSP0266 service, ComputerSystem / Manager / VirtualMedia /
// SessionService schemas) on hono, for N systems, with the vendor quirks of sim-profiles.ts.
// It speaks enough Redfish for sushy (Ironic's client) and our controller: an unauthenticated
// service root, sessions (X-Auth-Token + Location) and Basic auth, ETags and If-Match, VirtualMedia
// linked from Systems and from Managers, InsertMedia/EjectMedia or PATCH, boot overrides,
// resets, and 202 task monitors. On insert it really reads the image (sim-fetch.ts), exposing
// progress in the resource (Oem.Isoproxy.Fetch) and in `state`. Faults can be injected through
// `state.faults` so tests reach every error path of the controller.

import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Hono, type Context } from 'hono';
import { createServer as createHttpsServer } from 'node:https';
import { serve } from '@hono/node-server';
import { pino, type Logger } from 'pino';
import { fetchImage, idleProgress, type FetchMode, type FetchOptions, type FetchProgress } from './sim-fetch.js';
import { PROFILES, type ProfileName, type Quirks } from './sim-profiles.js';
import { isObject, str, type JsonObject } from './json.js';

export interface BmcSimulatorOptions {
  /** Number of systems (each with its own manager). Default 1. */
  readonly systems?: number;
  readonly profile?: ProfileName | Quirks;
  readonly username?: string;
  readonly password?: string;
  /** How inserted images are read; 'none' (or `false`) keeps the simulator offline. Default ranges. */
  readonly fetch?: FetchMode | Omit<FetchOptions, 'expect'> | false;
  /** Tokens each system's image must contain (its kernel parameters). */
  readonly expect?: readonly string[] | ((systemId: string, imageUrl: string) => readonly string[]);
  readonly powerState?: 'On' | 'Off';
  readonly logger?: Logger;
}

export interface SimBoot {
  target: string;
  enabled: 'Disabled' | 'Once' | 'Continuous';
  mode: 'UEFI' | 'Legacy';
}

export interface SimReset {
  readonly type: string;
  /** The override in force when the reset happened (null when disabled). */
  readonly bootTarget: string | null;
  /** The CD image the machine would boot, when it boots from the virtual CD. */
  readonly image: string | null;
}

export interface SimVirtualMedia {
  readonly id: string;
  readonly mediaTypes: readonly string[];
  image: string | null;
  inserted: boolean;
  writeProtected: boolean;
  transferProtocolType: string | null;
  transferMethod: string | null;
  /** The last insert request's body, without any Password, so tests can see what was sent. */
  lastInsertBody: JsonObject | null;
  inserts: number;
  /** Ejects that removed inserted media. */
  ejects: number;
  /** GETs left that still show the media inserted after a slow eject. */
  ejectPendingGets: number;
  etag: number;
  /** A slot clients cannot drive (no actions, no PATCH), as when the BMC's own console holds it. */
  locked: boolean;
  fetch: FetchProgress;
}

export interface SimSystem {
  readonly id: string;
  readonly managerId: string;
  powerState: 'On' | 'Off';
  boot: SimBoot;
  resets: SimReset[];
  vmedia: SimVirtualMedia[];
  etag: number;
}

export interface SimFault {
  readonly method?: string;
  /** A path suffix or a pattern matched against the request path. */
  readonly path: string | RegExp;
  /** 'error' answers `status`; 'ignore' answers success without applying; 'task-fail' makes the task end in Exception. */
  readonly effect?: 'error' | 'ignore' | 'task-fail';
  readonly status?: number;
  readonly message?: string;
  /** How many requests it hits; default 1; Infinity for all. */
  times?: number;
}

export interface SimState {
  readonly systems: SimSystem[];
  readonly sessions: Map<string, { readonly id: string; readonly user: string }>;
  readonly faults: SimFault[];
  /** Method, path and status of the last requests (at most 2000). */
  readonly requests: { method: string; path: string; status: number }[];
  basicAuthRequests: number;
}

export interface BmcSimulator {
  readonly app: Hono;
  readonly state: SimState;
  readonly quirks: Quirks;
  /** Listens on HTTP, or HTTPS when `tls` (PEM key and certificate) is given. */
  listen(port?: number, host?: string, tls?: { key: string | Buffer; cert: string | Buffer }): Promise<{ url: string; close(): Promise<void> }>;
  system(id: string): SimSystem;
  /** Resolves when the media's current fetch has finished (done or failed). */
  whenFetched(systemId: string, mediaId?: string): Promise<FetchProgress>;
  close(): Promise<void>;
}

interface Task { polls: number; fail: string | null }

const ROOT = '/redfish/v1';
const MAX_JSON_BYTES = 64 * 1024;

function redfishError(status: number, messageId: string, message: string, related: string[] = []): JsonObject {
  return {
    error: {
      code: messageId,
      message,
      '@Message.ExtendedInfo': [{ '@odata.type': '#Message.v1_1_1.Message', MessageId: messageId, Message: message, RelatedProperties: related, Severity: status >= 500 ? 'Critical' : 'Warning', Resolution: 'See the message.' }],
    },
  };
}

export function createBmcSimulator(options: BmcSimulatorOptions = {}): BmcSimulator {
  const quirks: Quirks = typeof options.profile === 'object' ? options.profile : PROFILES[options.profile ?? 'standard'];
  const username = options.username ?? 'admin';
  const password = options.password ?? 'password';
  const fetchOpts: Omit<FetchOptions, 'expect'> = options.fetch === false || options.fetch === undefined
    ? { mode: options.fetch === false ? 'none' : 'ranges' }
    : typeof options.fetch === 'string' ? { mode: options.fetch } : options.fetch;
  const log = options.logger ?? pino({ level: 'silent' });
  const count = Math.max(1, Math.min(1024, options.systems ?? 1));
  const state: SimState = { systems: [], sessions: new Map(), faults: [], requests: [], basicAuthRequests: 0 };
  for (let i = 1; i <= count; i++) {
    state.systems.push({
      id: String(i),
      managerId: `bmc${i}`,
      powerState: options.powerState ?? 'Off',
      boot: { target: 'None', enabled: 'Disabled', mode: 'UEFI' },
      resets: [],
      etag: 1,
      // A USB slot first, so clients must choose by MediaTypes rather than take the first.
      vmedia: [mediaSlot('USB1', ['USBStick']), mediaSlot('CD1', ['CD', 'DVD'])],
    });
  }
  function mediaSlot(id: string, mediaTypes: string[]): SimVirtualMedia {
    return { id, mediaTypes, image: null, inserted: false, writeProtected: true, transferProtocolType: null, transferMethod: null, lastInsertBody: null, inserts: 0, ejects: 0, ejectPendingGets: 0, etag: 1, locked: false, fetch: idleProgress(fetchOpts.mode) };
  }
  const fetches = new Map<SimVirtualMedia, { abort: AbortController; done: Promise<void> }>();
  const tasks = new Map<string, Task>();
  let nextSession = 1;
  let nextTask = 1;

  const findSystem = (id: string): SimSystem | undefined => state.systems.find((s) => s.id === id);
  const findManager = (id: string): SimSystem | undefined => state.systems.find((s) => s.managerId === id);
  const etagOf = (n: number): string => (quirks.weakEtags ? `W/"${n}"` : `"${n}"`);

  const app = new Hono({ strict: false });

  // Request log (after the response is known).
  app.use('*', async (c, next) => {
    await next();
    state.requests.push({ method: c.req.method, path: c.req.path, status: c.res.status });
    if (state.requests.length > 2000) state.requests.splice(0, state.requests.length - 2000);
  });

  // Authentication: the service root and session creation are open, everything else needs a
  // session token or Basic credentials.
  app.use(`${ROOT}/*`, async (c, next) => {
    const path = c.req.path.replace(/\/+$/, '');
    const open = path === ROOT || path === `${ROOT}/odata` || path === `${ROOT}/$metadata`
      || (c.req.method === 'POST' && path === `${ROOT}/SessionService/Sessions`);
    if (!open) {
      const token = c.req.header('x-auth-token');
      const authz = c.req.header('authorization');
      let ok = false;
      if (token !== undefined) ok = state.sessions.has(token);
      else if (authz?.startsWith('Basic ')) {
        const [u, ...p] = Buffer.from(authz.slice(6), 'base64').toString('utf8').split(':');
        ok = u === username && p.join(':') === password;
        if (ok) state.basicAuthRequests++;
      }
      if (!ok) return c.json(redfishError(401, 'Base.1.8.NoValidSession', 'There is no valid session established with the implementation.'), 401, { 'WWW-Authenticate': 'Basic realm="bmc-sim"' });
    }
    // Injected faults, after authentication like a real service's failures.
    const fault = state.faults.find((f) => (f.times ?? 1) > 0 && (f.method === undefined || f.method === c.req.method)
      && (typeof f.path === 'string' ? path.endsWith(f.path.replace(/\/+$/, '')) : f.path.test(path)));
    if (fault) {
      fault.times = (fault.times ?? 1) - 1;
      const effect = fault.effect ?? 'error';
      if (effect === 'error') {
        const status = fault.status ?? 500;
        return c.json(redfishError(status, status >= 500 ? 'Base.1.8.InternalError' : 'Base.1.8.GeneralError', fault.message ?? 'Injected fault.'), status as 400);
      }
      c.set('fault' as never, effect as never);
    }
    await next();
    return undefined;
  });

  const faultOf = (c: Context): string | undefined => c.get('fault' as never) as string | undefined;

  async function jsonBody(c: Context): Promise<{ body: JsonObject | undefined; empty: boolean; bad: boolean }> {
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

  /** 412 unless If-Match matches; enforces presence when the profile requires it. */
  function preconditionFails(c: Context, current: number): Response | undefined {
    const ifMatch = c.req.header('if-match');
    if (ifMatch === undefined) {
      return quirks.requireIfMatch ? c.json(redfishError(412, 'Base.1.8.PreconditionRequired', 'An If-Match header is required.'), 412) : undefined;
    }
    if (ifMatch.trim() === '*') return undefined;
    const tags = ifMatch.split(',').map((t) => t.trim());
    const ok = tags.some((t) => (quirks.weakEtags ? t === `"${current}"` : t.replace(/^W\//, '') === `"${current}"`));
    return ok ? undefined : c.json(redfishError(412, 'Base.1.8.PreconditionFailed', 'The ETag supplied did not match the current ETag.'), 412);
  }

  /** Answers an applied change: 204, or 202 + task monitor in the task profile. */
  function done(c: Context, fail: string | null = null): Response {
    if (!quirks.tasks) {
      if (fail) return c.json(redfishError(500, 'Base.1.8.InternalError', fail), 500);
      return c.body(null, 204);
    }
    const id = String(nextTask++);
    tasks.set(id, { polls: quirks.taskPolls, fail });
    return c.json({ '@odata.id': `${ROOT}/TaskService/Tasks/${id}`, Id: id, TaskState: 'New' }, 202, { Location: `${ROOT}/TaskService/TaskMonitors/${id}`, 'Retry-After': '1' });
  }

  // ---- service root, sessions --------------------------------------------------------------

  app.get('/redfish', (c) => c.json({ v1: `${ROOT}/` }));
  app.get(ROOT, (c) => c.json({
    '@odata.id': `${ROOT}/`, '@odata.type': '#ServiceRoot.v1_5_0.ServiceRoot', Id: 'RootService', Name: 'isoproxy BMC simulator',
    RedfishVersion: '1.11.0', UUID: '8b5c4b5e-0000-4000-8000-000000000000',
    Systems: { '@odata.id': `${ROOT}/Systems` }, Managers: { '@odata.id': `${ROOT}/Managers` },
    SessionService: { '@odata.id': `${ROOT}/SessionService` }, TaskService: { '@odata.id': `${ROOT}/TaskService` },
    Links: { Sessions: { '@odata.id': `${ROOT}/SessionService/Sessions` } },
    Oem: { Isoproxy: { Profile: quirks.name } },
  }));
  app.get(`${ROOT}/SessionService`, (c) => c.json({
    '@odata.id': `${ROOT}/SessionService`, '@odata.type': '#SessionService.v1_1_8.SessionService', Id: 'SessionService', Name: 'Session Service',
    ServiceEnabled: quirks.sessions, SessionTimeout: 1800, Sessions: { '@odata.id': `${ROOT}/SessionService/Sessions` },
  }));
  app.get(`${ROOT}/SessionService/Sessions`, (c) => c.json({
    '@odata.id': `${ROOT}/SessionService/Sessions`, '@odata.type': '#SessionCollection.SessionCollection', Name: 'Sessions',
    'Members@odata.count': state.sessions.size,
    Members: [...state.sessions.values()].map((s) => ({ '@odata.id': `${ROOT}/SessionService/Sessions/${s.id}` })),
  }));
  app.post(`${ROOT}/SessionService/Sessions`, async (c) => {
    if (!quirks.sessions) return c.json(redfishError(405, 'Base.1.8.OperationNotAllowed', 'Sessions are not supported; use Basic authentication.'), 405);
    const { body } = await jsonBody(c);
    if (str(body?.['UserName']) !== username || str(body?.['Password']) !== password) {
      return c.json(redfishError(401, 'Base.1.8.NoValidSession', 'Invalid user name or password.'), 401);
    }
    const id = String(nextSession++);
    // Tokens are credentials: unpredictable on purpose (the one place the simulator uses randomness).
    const token = randomUUID();
    state.sessions.set(token, { id, user: username });
    const path = `${ROOT}/SessionService/Sessions/${id}`;
    return c.json({ '@odata.id': path, '@odata.type': '#Session.v1_3_0.Session', Id: id, Name: 'User Session', UserName: username }, 201, { 'X-Auth-Token': token, Location: path });
  });
  app.get(`${ROOT}/SessionService/Sessions/:id`, (c) => {
    const s = [...state.sessions.values()].find((x) => x.id === c.req.param('id'));
    if (!s) return c.json(redfishError(404, 'Base.1.8.ResourceMissingAtURI', 'No such session.'), 404);
    return c.json({ '@odata.id': `${ROOT}/SessionService/Sessions/${s.id}`, Id: s.id, Name: 'User Session', UserName: s.user });
  });
  app.delete(`${ROOT}/SessionService/Sessions/:id`, (c) => {
    for (const [token, s] of state.sessions) {
      if (s.id === c.req.param('id')) { state.sessions.delete(token); return c.body(null, 204); }
    }
    return c.json(redfishError(404, 'Base.1.8.ResourceMissingAtURI', 'No such session.'), 404);
  });

  // ---- tasks ------------------------------------------------------------------------------

  app.get(`${ROOT}/TaskService`, (c) => c.json({ '@odata.id': `${ROOT}/TaskService`, Id: 'TaskService', Name: 'Task Service', ServiceEnabled: true }));
  app.get(`${ROOT}/TaskService/TaskMonitors/:id`, (c) => {
    const id = c.req.param('id');
    const task = tasks.get(id);
    if (!task) return c.json(redfishError(404, 'Base.1.8.ResourceMissingAtURI', 'No such task.'), 404);
    const body = { '@odata.id': `${ROOT}/TaskService/Tasks/${id}`, '@odata.type': '#Task.v1_4_3.Task', Id: id, Name: 'Task' };
    if (task.polls > 0) {
      task.polls--;
      return c.json({ ...body, TaskState: 'Running', TaskStatus: 'OK', PercentComplete: 50 }, 202, { Location: `${ROOT}/TaskService/TaskMonitors/${id}`, 'Retry-After': '1' });
    }
    if (task.fail) return c.json({ ...body, TaskState: 'Exception', TaskStatus: 'Critical', Messages: [{ MessageId: 'Base.1.8.InternalError', Message: task.fail }] });
    return c.json({ ...body, TaskState: 'Completed', TaskStatus: 'OK', PercentComplete: 100 });
  });

  // ---- systems ----------------------------------------------------------------------------

  const collection = (path: string, type: string, ids: string[]): JsonObject => ({
    '@odata.id': path, '@odata.type': type, Name: type.split('.')[0]?.replace('#', '') ?? type,
    'Members@odata.count': ids.length, Members: ids.map((id) => ({ '@odata.id': `${path}/${id}` })),
  });
  app.get(`${ROOT}/Systems`, (c) => c.json(collection(`${ROOT}/Systems`, '#ComputerSystemCollection.ComputerSystemCollection', state.systems.map((s) => s.id))));

  const missing = (c: Context, what: string): Response => c.json(redfishError(404, 'Base.1.8.ResourceMissingAtURI', `The resource ${what} was not found.`), 404);

  function bootBody(s: SimSystem): JsonObject {
    return {
      BootSourceOverrideTarget: s.boot.target,
      'BootSourceOverrideTarget@Redfish.AllowableValues': [...quirks.bootTargets],
      BootSourceOverrideEnabled: s.boot.enabled,
      'BootSourceOverrideEnabled@Redfish.AllowableValues': ['Disabled', 'Once', 'Continuous'],
      BootSourceOverrideMode: s.boot.mode,
      'BootSourceOverrideMode@Redfish.AllowableValues': ['UEFI', 'Legacy'],
    };
  }

  app.get(`${ROOT}/Systems/:id`, (c) => {
    const s = findSystem(c.req.param('id'));
    if (!s) return missing(c, c.req.path);
    const path = `${ROOT}/Systems/${s.id}`;
    const body: JsonObject = {
      '@odata.id': path, '@odata.type': '#ComputerSystem.v1_13_0.ComputerSystem', '@odata.etag': etagOf(s.etag),
      Id: s.id, Name: `Simulated system ${s.id}`, Manufacturer: quirks.manufacturer, Model: `bmc-sim ${quirks.name}`,
      UUID: `8b5c4b5e-0000-4000-8000-${s.id.padStart(12, '0')}`, SystemType: 'Physical', PowerState: s.powerState,
      Status: { State: 'Enabled', Health: 'OK' },
      Boot: bootBody(s),
      Actions: { '#ComputerSystem.Reset': { target: `${path}/Actions/ComputerSystem.Reset`, 'ResetType@Redfish.AllowableValues': [...quirks.resetTypes] } },
      Links: { ManagedBy: [{ '@odata.id': `${ROOT}/Managers/${s.managerId}` }] },
    };
    if (quirks.vmediaUnder === 'both') body['VirtualMedia'] = { '@odata.id': `${path}/VirtualMedia` };
    if (quirks.bootSettingsObject) body['@Redfish.Settings'] = { '@odata.type': '#Settings.v1_3_0.Settings', SettingsObject: { '@odata.id': `${path}/Settings` } };
    return c.json(body, 200, { ETag: etagOf(s.etag), Allow: 'GET, PATCH' });
  });

  async function patchBoot(c: Context, s: SimSystem): Promise<Response> {
    const pre = preconditionFails(c, s.etag);
    if (pre) return pre;
    const { body, bad } = await jsonBody(c);
    if (bad || !body) return c.json(redfishError(400, 'Base.1.8.MalformedJSON', 'The request body is not a JSON object.'), 400);
    const boot = body['Boot'];
    if (!isObject(boot)) return c.json(redfishError(400, 'Base.1.8.PropertyUnknown', 'Only Boot can be changed.'), 400);
    const next = { ...s.boot };
    const check = (prop: string, allowed: readonly string[]): Response | undefined => {
      const v = boot[prop];
      if (v === undefined) return undefined;
      if (typeof v !== 'string' || !allowed.includes(v)) {
        return c.json(redfishError(400, 'Base.1.8.PropertyValueNotInList', `The value ${JSON.stringify(v)} for the property ${prop} is not in the list of acceptable values.`, [`#/Boot/${prop}`]), 400);
      }
      (next as Record<string, unknown>)[prop.replace('BootSourceOverride', '').toLowerCase()] = v;
      return undefined;
    };
    const err = check('BootSourceOverrideTarget', quirks.bootTargets) ?? check('BootSourceOverrideEnabled', ['Disabled', 'Once', 'Continuous']) ?? check('BootSourceOverrideMode', ['UEFI', 'Legacy']);
    if (err) return err;
    if (faultOf(c) === 'ignore') return done(c);
    if (faultOf(c) === 'task-fail') return done(c, 'Setting the boot override failed.');
    s.boot = next;
    s.etag++;
    log.info({ system: s.id, boot: s.boot }, 'boot override set');
    return done(c);
  }

  app.patch(`${ROOT}/Systems/:id`, async (c) => {
    const s = findSystem(c.req.param('id'));
    if (!s) return missing(c, c.req.path);
    if (quirks.bootSettingsObject) {
      return c.json(redfishError(400, 'Base.1.8.PropertyNotWritable', 'The property Boot is a read only property; change it through @Redfish.Settings.', ['#/Boot']), 400);
    }
    return patchBoot(c, s);
  });
  // The settings object: this simulator applies staged boot settings at once (real services apply
  // them at the next reset; the effect on a one-time boot is the same).
  app.get(`${ROOT}/Systems/:id/Settings`, (c) => {
    const s = findSystem(c.req.param('id'));
    if (!s || !quirks.bootSettingsObject) return missing(c, c.req.path);
    const b = bootBody(s);
    return c.json({ '@odata.id': `${ROOT}/Systems/${s.id}/Settings`, '@odata.etag': etagOf(s.etag), Id: 'Settings', Boot: { BootSourceOverrideTarget: b['BootSourceOverrideTarget'], BootSourceOverrideEnabled: b['BootSourceOverrideEnabled'], BootSourceOverrideMode: b['BootSourceOverrideMode'] } }, 200, { ETag: etagOf(s.etag), Allow: 'GET, PATCH' });
  });
  app.patch(`${ROOT}/Systems/:id/Settings`, async (c) => {
    const s = findSystem(c.req.param('id'));
    if (!s || !quirks.bootSettingsObject) return missing(c, c.req.path);
    return patchBoot(c, s);
  });

  app.post(`${ROOT}/Systems/:id/Actions/ComputerSystem.Reset`, async (c) => {
    const s = findSystem(c.req.param('id'));
    if (!s) return missing(c, c.req.path);
    const { body } = await jsonBody(c);
    const type = str(body?.['ResetType']);
    if (!type) return c.json(redfishError(400, 'Base.1.8.ActionParameterMissing', 'The action requires the parameter ResetType.', ['#/ResetType']), 400);
    if (!quirks.resetTypes.includes(type)) return c.json(redfishError(400, 'Base.1.8.ActionParameterValueNotInList', `The value ${JSON.stringify(type)} for ResetType is not allowed.`, ['#/ResetType']), 400);
    if (faultOf(c) === 'ignore') return done(c);
    if (faultOf(c) === 'task-fail') return done(c, 'The reset failed.');
    const off = type === 'ForceOff' || type === 'GracefulShutdown' || type === 'PushPowerButton' && s.powerState === 'On';
    const booting = !off && (s.powerState === 'Off' ? type === 'On' || type === 'ForceOn' || type === 'PushPowerButton' : true);
    const cd = s.vmedia.find((m) => m.mediaTypes.includes('CD'));
    const fromCd = booting && s.boot.enabled !== 'Disabled' && (s.boot.target === 'Cd' || s.boot.target === 'UsbCd');
    if (booting) {
      s.resets.push({ type, bootTarget: s.boot.enabled !== 'Disabled' ? s.boot.target : null, image: fromCd && cd?.inserted ? cd.image : null });
      if (s.boot.enabled === 'Once') s.boot = { ...s.boot, enabled: 'Disabled' };
    } else {
      s.resets.push({ type, bootTarget: null, image: null });
    }
    s.powerState = off ? 'Off' : booting ? 'On' : s.powerState;
    s.etag++;
    log.info({ system: s.id, type, power: s.powerState }, 'reset');
    return done(c);
  });

  // ---- managers ---------------------------------------------------------------------------

  app.get(`${ROOT}/Managers`, (c) => c.json(collection(`${ROOT}/Managers`, '#ManagerCollection.ManagerCollection', state.systems.map((s) => s.managerId))));
  app.get(`${ROOT}/Managers/:id`, (c) => {
    const s = findManager(c.req.param('id'));
    if (!s) return missing(c, c.req.path);
    const path = `${ROOT}/Managers/${s.managerId}`;
    return c.json({
      '@odata.id': path, '@odata.type': '#Manager.v1_10_0.Manager', Id: s.managerId, Name: `BMC of system ${s.id}`, ManagerType: 'BMC',
      Status: { State: 'Enabled', Health: 'OK' }, VirtualMedia: { '@odata.id': `${path}/VirtualMedia` },
      Links: { ManagerForServers: [{ '@odata.id': `${ROOT}/Systems/${s.id}` }] },
    });
  });

  // ---- virtual media (the same slots under Systems/{id} and Managers/{id}) --------------------

  function owner(c: Context): { s: SimSystem; base: string } | undefined {
    const parts = c.req.path.split('/');
    const kind = parts[3];
    const id = c.req.param('id') ?? '';
    if (kind === 'Systems' && quirks.vmediaUnder === 'both') {
      const s = findSystem(id);
      return s ? { s, base: `${ROOT}/Systems/${s.id}/VirtualMedia` } : undefined;
    }
    if (kind === 'Managers') {
      const s = findManager(id);
      return s ? { s, base: `${ROOT}/Managers/${s.managerId}/VirtualMedia` } : undefined;
    }
    return undefined;
  }
  function slot(c: Context): { s: SimSystem; m: SimVirtualMedia; path: string } | undefined {
    const o = owner(c);
    const m = o?.s.vmedia.find((v) => v.id === c.req.param('vm'));
    return o && m ? { s: o.s, m, path: `${o.base}/${m.id}` } : undefined;
  }

  /** Slow eject: the media shows as inserted for a few more GETs. */
  function settle(m: SimVirtualMedia): void {
    if (m.ejectPendingGets > 0 && --m.ejectPendingGets === 0) clear(m);
  }
  function clear(m: SimVirtualMedia): void {
    Object.assign(m, { image: null, inserted: false, transferProtocolType: null, transferMethod: null, ejectPendingGets: 0 });
    m.etag++;
  }

  function vmediaBody(s: SimSystem, m: SimVirtualMedia, path: string): JsonObject {
    const body: JsonObject = {
      '@odata.id': path, '@odata.type': '#VirtualMedia.v1_3_0.VirtualMedia', '@odata.etag': etagOf(m.etag),
      Id: m.id, Name: `Virtual ${m.mediaTypes[0]}`, MediaTypes: [...m.mediaTypes],
      Image: m.image, ImageName: m.image ? m.image.split('?')[0]?.split('/').pop() ?? null : null,
      Inserted: m.inserted, WriteProtected: m.writeProtected, ConnectedVia: m.inserted ? 'URI' : 'NotConnected',
      TransferProtocolType: m.transferProtocolType, TransferMethod: m.transferMethod,
      Oem: { Isoproxy: { System: s.id, Fetch: { ...m.fetch, checks: m.fetch.checks ? { ...m.fetch.checks } : null } } },
    };
    if (quirks.insertVia === 'action' && !m.locked) {
      const insert: JsonObject = { target: `${path}/Actions/VirtualMedia.InsertMedia` };
      if (quirks.actionInfo) insert['@Redfish.ActionInfo'] = `${path}/InsertMediaActionInfo`;
      if (quirks.annotateInsertParameters) insert['TransferProtocolType@Redfish.AllowableValues'] = ['HTTP', 'HTTPS'];
      body['Actions'] = { '#VirtualMedia.InsertMedia': insert, '#VirtualMedia.EjectMedia': { target: `${path}/Actions/VirtualMedia.EjectMedia` } };
    }
    return body;
  }

  const vmRoutes = (prefix: string): void => {
    app.get(`${prefix}/:id/VirtualMedia`, (c) => {
      const o = owner(c);
      if (!o) return missing(c, c.req.path);
      return c.json(collection(o.base, '#VirtualMediaCollection.VirtualMediaCollection', o.s.vmedia.map((m) => m.id)));
    });
    app.get(`${prefix}/:id/VirtualMedia/:vm`, (c) => {
      const x = slot(c);
      if (!x) return missing(c, c.req.path);
      settle(x.m);
      return c.json(vmediaBody(x.s, x.m, x.path), 200, { ETag: etagOf(x.m.etag), Allow: quirks.insertVia === 'patch' && !x.m.locked ? 'GET, PATCH' : 'GET' });
    });
    app.get(`${prefix}/:id/VirtualMedia/:vm/InsertMediaActionInfo`, (c) => {
      const x = slot(c);
      if (!x || !quirks.actionInfo) return missing(c, c.req.path);
      return c.json({
        '@odata.id': `${x.path}/InsertMediaActionInfo`, '@odata.type': '#ActionInfo.v1_1_2.ActionInfo', Id: 'InsertMediaActionInfo', Name: 'InsertMedia Action Info',
        Parameters: [
          { Name: 'Image', Required: true, DataType: 'String' },
          { Name: 'Inserted', Required: false, DataType: 'Boolean' },
          { Name: 'WriteProtected', Required: false, DataType: 'Boolean' },
          { Name: 'TransferProtocolType', Required: quirks.requireTransferProtocolType, DataType: 'String', AllowableValues: ['HTTP', 'HTTPS'] },
          { Name: 'TransferMethod', Required: false, DataType: 'String', AllowableValues: ['Stream'] },
        ],
      });
    });
    app.post(`${prefix}/:id/VirtualMedia/:vm/Actions/VirtualMedia.InsertMedia`, async (c) => {
      const x = slot(c);
      if (!x || quirks.insertVia !== 'action' || x.m.locked) return missing(c, c.req.path);
      const { body, bad } = await jsonBody(c);
      if (bad || !body) return c.json(redfishError(400, 'Base.1.8.MalformedJSON', 'The request body is not a JSON object.'), 400);
      return insertMedia(c, x.s, x.m, body);
    });
    app.post(`${prefix}/:id/VirtualMedia/:vm/Actions/VirtualMedia.EjectMedia`, async (c) => {
      const x = slot(c);
      if (!x || quirks.insertVia !== 'action' || x.m.locked) return missing(c, c.req.path);
      const { empty, bad } = await jsonBody(c);
      if (bad) return c.json(redfishError(400, 'Base.1.8.MalformedJSON', 'The request body is not a JSON object.'), 400);
      if (empty && quirks.ejectNeedsBody) return c.json(redfishError(415, 'Base.1.8.UnsupportedMediaType', 'The request needs a JSON body.'), 415);
      return ejectMedia(c, x.s, x.m);
    });
    app.patch(`${prefix}/:id/VirtualMedia/:vm`, async (c) => {
      const x = slot(c);
      if (!x) return missing(c, c.req.path);
      if (quirks.insertVia !== 'patch' || x.m.locked) return c.json(redfishError(405, 'Base.1.8.OperationNotAllowed', 'Use the InsertMedia and EjectMedia actions.'), 405, { Allow: 'GET' });
      const pre = preconditionFails(c, x.m.etag);
      if (pre) return pre;
      const { body, bad } = await jsonBody(c);
      if (bad || !body) return c.json(redfishError(400, 'Base.1.8.MalformedJSON', 'The request body is not a JSON object.'), 400);
      if (body['Inserted'] === false || body['Image'] === null || body['Image'] === '') return ejectMedia(c, x.s, x.m);
      return insertMedia(c, x.s, x.m, body);
    });
  };
  vmRoutes(`${ROOT}/Systems`);
  vmRoutes(`${ROOT}/Managers`);

  function insertMedia(c: Context, s: SimSystem, m: SimVirtualMedia, body: JsonObject): Response {
    const image = str(body['Image']);
    if (!image) return c.json(redfishError(400, 'Base.1.8.ActionParameterMissing', 'The action InsertMedia requires the parameter Image.', ['#/Image']), 400);
    if (quirks.insertVia === 'action' && quirks.rejectInsertedWriteProtected && ('Inserted' in body || 'WriteProtected' in body)) {
      const prop = 'Inserted' in body ? 'Inserted' : 'WriteProtected';
      return c.json(redfishError(400, 'Base.1.8.ActionParameterNotSupported', `The parameter ${prop} for the action InsertMedia is not supported on the target resource.`, [`#/${prop}`]), 400);
    }
    const tpt = str(body['TransferProtocolType']);
    if (quirks.requireTransferProtocolType && !tpt) {
      // Exactly what sushy looks for: code Base.1.5.ActionParameterMissing and RelatedProperties.
      return c.json(redfishError(400, 'Base.1.5.ActionParameterMissing', 'The action InsertMedia requires the parameter TransferProtocolType to be present in the request body.', ['#/TransferProtocolType']), 400);
    }
    if (tpt !== undefined && !['HTTP', 'HTTPS'].includes(tpt)) {
      return c.json(redfishError(400, 'Base.1.8.ActionParameterValueNotInList', `The value ${JSON.stringify(tpt)} for TransferProtocolType is not allowed.`, ['#/TransferProtocolType']), 400);
    }
    let url: URL;
    try {
      url = new URL(image);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme');
    } catch {
      return c.json(redfishError(400, 'Base.1.8.ActionParameterValueFormatError', `The value ${JSON.stringify(image)} for Image is not an http(s) URL.`, ['#/Image']), 400);
    }
    if (tpt !== undefined && tpt.toLowerCase() !== url.protocol.replace(':', '')) {
      return c.json(redfishError(400, 'Base.1.8.ActionParameterValueConflict', `TransferProtocolType ${tpt} does not match the Image URL.`, ['#/TransferProtocolType']), 400);
    }
    if (m.inserted && m.ejectPendingGets === 0) {
      return c.json(redfishError(400, 'Base.1.8.PropertyValueConflict', 'Media is already inserted; eject it first.', ['#/Image']), 400);
    }
    const recorded = { ...body };
    delete recorded['Password'];
    m.lastInsertBody = recorded;
    if (faultOf(c) === 'ignore') return done(c);
    if (faultOf(c) === 'task-fail') return done(c, 'Mounting the image failed.');
    abortFetch(m);
    Object.assign(m, {
      image, inserted: body['Inserted'] === false ? false : true, writeProtected: body['WriteProtected'] === false ? false : true,
      transferProtocolType: tpt ?? null, transferMethod: str(body['TransferMethod']) ?? null, ejectPendingGets: 0,
    });
    m.inserts++;
    m.etag++;
    log.info({ system: s.id, media: m.id, image }, 'media inserted');
    if (m.inserted) startFetch(s, m, image);
    return done(c);
  }

  function ejectMedia(c: Context, s: SimSystem, m: SimVirtualMedia): Response {
    if (!m.inserted && quirks.ejectEmptyFails) {
      return c.json(redfishError(400, 'Base.1.8.ActionNotSupported', 'No media is inserted; there is nothing to eject.'), 400);
    }
    if (faultOf(c) === 'ignore') return done(c);
    if (faultOf(c) === 'task-fail') return done(c, 'Ejecting the media failed.');
    abortFetch(m);
    if (m.inserted) {
      m.ejects++;
      log.info({ system: s.id, media: m.id, image: m.image }, 'media ejected');
    }
    if (m.inserted && quirks.slowEjectGets > 0) m.ejectPendingGets = quirks.slowEjectGets;
    else clear(m);
    return done(c);
  }

  function abortFetch(m: SimVirtualMedia): void {
    fetches.get(m)?.abort.abort();
  }

  function startFetch(s: SimSystem, m: SimVirtualMedia, image: string): void {
    if (fetchOpts.mode === 'none') return;
    const expect = typeof options.expect === 'function' ? options.expect(s.id, image) : options.expect ?? [];
    const abort = new AbortController();
    const progress = idleProgress(fetchOpts.mode);
    m.fetch = progress;
    const entry = {
      abort,
      done: fetchImage(image, { ...fetchOpts, expect }, progress, abort.signal).then(() => {
        log.info({ system: s.id, media: m.id, state: progress.state, bytes: progress.bytesRead, requests: progress.requests, verified: progress.verified, error: progress.error }, 'image fetch finished');
      }),
    };
    fetches.set(m, entry);
  }

  // Outside the Redfish tree and unauthenticated, for the demo and the wave benchmark when they
  // run `isoproxy bmc-sim` as a separate process: systems, media and fetch progress (no tokens).
  app.get('/bmc-sim/state', (c) => c.json({ profile: quirks.name, systems: state.systems }));

  app.notFound((c) => c.json(redfishError(404, 'Base.1.8.ResourceMissingAtURI', `The resource at ${c.req.path} was not found.`), 404));
  app.onError((err, c) => {
    log.error({ err: err.message }, 'simulator error');
    return c.json(redfishError(500, 'Base.1.8.InternalError', 'Internal error.'), 500);
  });

  const sim: BmcSimulator = {
    app,
    state,
    quirks,
    system(id) {
      const s = findSystem(id);
      if (!s) throw new Error(`no simulated system ${id}`);
      return s;
    },
    async whenFetched(systemId, mediaId = 'CD1') {
      const m = sim.system(systemId).vmedia.find((v) => v.id === mediaId);
      if (!m) throw new Error(`no media ${mediaId} on system ${systemId}`);
      await fetches.get(m)?.done;
      return m.fetch;
    },
    async listen(port = 0, host = '127.0.0.1', tls) {
      const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
        const srv = tls
          ? serve({ fetch: app.fetch, port, hostname: host, createServer: createHttpsServer, serverOptions: { key: tls.key, cert: tls.cert } }, () => resolve(srv))
          : serve({ fetch: app.fetch, port, hostname: host }, () => resolve(srv));
        srv.once('error', reject);
      });
      const addr = server.address() as AddressInfo;
      const shown = host.includes(':') ? `[${host}]` : host;
      return {
        url: `${tls ? 'https' : 'http'}://${shown}:${addr.port}`,
        close: async () => {
          await sim.close();
          await new Promise<void>((resolve) => {
            server.close(() => resolve());
            (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
          });
        },
      };
    },
    async close() {
      for (const f of fetches.values()) f.abort.abort();
      await Promise.all([...fetches.values()].map((f) => f.done));
    },
  };
  return sim;
}
