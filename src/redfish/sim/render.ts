// Pure renderers of the simulator's Redfish resources (DSP0266 payloads; schemas ServiceRoot,
// SessionService, Task, ComputerSystem, Manager, VirtualMedia, ActionInfo and the error body of
// DSP0266 §9.6): state and quirks in, JSON out. No Hono, no mutation, so each shape is readable in
// one place and testable without a server.

import type { Quirks } from './profiles.js';
import type { SimSystem, SimVirtualMedia } from './state.js';
import type { JsonObject } from '../json.js';

export const ROOT = '/redfish/v1';

export const BOOT_ENABLED_VALUES = ['Disabled', 'Once', 'Continuous'] as const;
export const BOOT_MODE_VALUES = ['UEFI', 'Legacy'] as const;

/** An ETag as the profile mints it: weak (`W/"n"`) where the service does so. */
export function etagOf(n: number, quirks: Quirks): string {
  return quirks.weakEtags ? `W/"${n}"` : `"${n}"`;
}

/** The error body of DSP0266 §9.6, with one ExtendedInfo message as sushy and our client read it. */
export function redfishError(status: number, messageId: string, message: string, related: string[] = []): JsonObject {
  return {
    error: {
      code: messageId,
      message,
      '@Message.ExtendedInfo': [
        {
          '@odata.type': '#Message.v1_1_1.Message',
          MessageId: messageId,
          Message: message,
          RelatedProperties: related,
          Severity: status >= 500 ? 'Critical' : 'Warning',
          Resolution: 'See the message.',
        },
      ],
    },
  };
}

export function collection(path: string, type: string, ids: readonly string[]): JsonObject {
  return {
    '@odata.id': path,
    '@odata.type': type,
    Name: type.split('.')[0]?.replace('#', '') ?? type,
    'Members@odata.count': ids.length,
    Members: ids.map((id) => ({ '@odata.id': `${path}/${id}` })),
  };
}

export function serviceRoot(quirks: Quirks): JsonObject {
  return {
    '@odata.id': `${ROOT}/`,
    '@odata.type': '#ServiceRoot.v1_5_0.ServiceRoot',
    Id: 'RootService',
    Name: 'isoproxy BMC simulator',
    RedfishVersion: '1.11.0',
    UUID: '8b5c4b5e-0000-4000-8000-000000000000',
    Systems: { '@odata.id': `${ROOT}/Systems` },
    Managers: { '@odata.id': `${ROOT}/Managers` },
    SessionService: { '@odata.id': `${ROOT}/SessionService` },
    TaskService: { '@odata.id': `${ROOT}/TaskService` },
    Links: { Sessions: { '@odata.id': `${ROOT}/SessionService/Sessions` } },
    Oem: { Isoproxy: { Profile: quirks.name } },
  };
}

export function sessionService(quirks: Quirks): JsonObject {
  return {
    '@odata.id': `${ROOT}/SessionService`,
    '@odata.type': '#SessionService.v1_1_8.SessionService',
    Id: 'SessionService',
    Name: 'Session Service',
    ServiceEnabled: quirks.sessions,
    SessionTimeout: 1800,
    Sessions: { '@odata.id': `${ROOT}/SessionService/Sessions` },
  };
}

export function sessionBody(id: string, user: string, full: boolean): JsonObject {
  const path = `${ROOT}/SessionService/Sessions/${id}`;
  return full
    ? { '@odata.id': path, '@odata.type': '#Session.v1_3_0.Session', Id: id, Name: 'User Session', UserName: user }
    : { '@odata.id': path, Id: id, Name: 'User Session', UserName: user };
}

export function taskService(): JsonObject {
  return { '@odata.id': `${ROOT}/TaskService`, Id: 'TaskService', Name: 'Task Service', ServiceEnabled: true };
}

/** A task as its monitor shows it: running, failed with a message, or completed. */
export function taskBody(id: string, phase: { running: true } | { running: false; fail: string | null }): JsonObject {
  const body = { '@odata.id': `${ROOT}/TaskService/Tasks/${id}`, '@odata.type': '#Task.v1_4_3.Task', Id: id, Name: 'Task' };
  if (phase.running) return { ...body, TaskState: 'Running', TaskStatus: 'OK', PercentComplete: 50 };
  if (phase.fail)
    return { ...body, TaskState: 'Exception', TaskStatus: 'Critical', Messages: [{ MessageId: 'Base.1.8.InternalError', Message: phase.fail }] };
  return { ...body, TaskState: 'Completed', TaskStatus: 'OK', PercentComplete: 100 };
}

export function bootBody(s: SimSystem, quirks: Quirks): JsonObject {
  return {
    BootSourceOverrideTarget: s.boot.target,
    'BootSourceOverrideTarget@Redfish.AllowableValues': [...quirks.bootTargets],
    BootSourceOverrideEnabled: s.boot.enabled,
    'BootSourceOverrideEnabled@Redfish.AllowableValues': [...BOOT_ENABLED_VALUES],
    BootSourceOverrideMode: s.boot.mode,
    'BootSourceOverrideMode@Redfish.AllowableValues': [...BOOT_MODE_VALUES],
  };
}

export function systemBody(s: SimSystem, quirks: Quirks): JsonObject {
  const path = `${ROOT}/Systems/${s.id}`;
  const body: JsonObject = {
    '@odata.id': path,
    '@odata.type': '#ComputerSystem.v1_13_0.ComputerSystem',
    '@odata.etag': etagOf(s.etag, quirks),
    Id: s.id,
    Name: `Simulated system ${s.id}`,
    Manufacturer: quirks.manufacturer,
    Model: `bmc-sim ${quirks.name}`,
    UUID: `8b5c4b5e-0000-4000-8000-${s.id.padStart(12, '0')}`,
    SystemType: 'Physical',
    PowerState: s.powerState,
    Status: { State: 'Enabled', Health: 'OK' },
    Boot: bootBody(s, quirks),
    Actions: {
      '#ComputerSystem.Reset': { target: `${path}/Actions/ComputerSystem.Reset`, 'ResetType@Redfish.AllowableValues': [...quirks.resetTypes] },
    },
    Links: { ManagedBy: [{ '@odata.id': `${ROOT}/Managers/${s.managerId}` }] },
  };
  if (quirks.vmediaUnder === 'both') body['VirtualMedia'] = { '@odata.id': `${path}/VirtualMedia` };
  if (quirks.bootSettingsObject) {
    body['@Redfish.Settings'] = { '@odata.type': '#Settings.v1_3_0.Settings', SettingsObject: { '@odata.id': `${path}/Settings` } };
  }
  return body;
}

/** The `@Redfish.Settings` object where a Lenovo-style system stages Boot changes. */
export function settingsBody(s: SimSystem, quirks: Quirks): JsonObject {
  const b = bootBody(s, quirks);
  return {
    '@odata.id': `${ROOT}/Systems/${s.id}/Settings`,
    '@odata.etag': etagOf(s.etag, quirks),
    Id: 'Settings',
    Boot: {
      BootSourceOverrideTarget: b['BootSourceOverrideTarget'],
      BootSourceOverrideEnabled: b['BootSourceOverrideEnabled'],
      BootSourceOverrideMode: b['BootSourceOverrideMode'],
    },
  };
}

export function managerBody(s: SimSystem): JsonObject {
  const path = `${ROOT}/Managers/${s.managerId}`;
  return {
    '@odata.id': path,
    '@odata.type': '#Manager.v1_10_0.Manager',
    Id: s.managerId,
    Name: `BMC of system ${s.id}`,
    ManagerType: 'BMC',
    Status: { State: 'Enabled', Health: 'OK' },
    VirtualMedia: { '@odata.id': `${path}/VirtualMedia` },
    Links: { ManagerForServers: [{ '@odata.id': `${ROOT}/Systems/${s.id}` }] },
  };
}

export function vmediaBody(s: SimSystem, m: SimVirtualMedia, path: string, quirks: Quirks): JsonObject {
  const body: JsonObject = {
    '@odata.id': path,
    '@odata.type': '#VirtualMedia.v1_3_0.VirtualMedia',
    '@odata.etag': etagOf(m.etag, quirks),
    Id: m.id,
    Name: `Virtual ${m.mediaTypes[0]}`,
    MediaTypes: [...m.mediaTypes],
    Image: m.image,
    ImageName: m.image ? (m.image.split('?')[0]?.split('/').pop() ?? null) : null,
    Inserted: m.inserted,
    WriteProtected: m.writeProtected,
    ConnectedVia: m.inserted ? 'URI' : 'NotConnected',
    TransferProtocolType: m.transferProtocolType,
    TransferMethod: m.transferMethod,
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

export function insertActionInfo(mediaPath: string, quirks: Quirks): JsonObject {
  return {
    '@odata.id': `${mediaPath}/InsertMediaActionInfo`,
    '@odata.type': '#ActionInfo.v1_1_2.ActionInfo',
    Id: 'InsertMediaActionInfo',
    Name: 'InsertMedia Action Info',
    Parameters: [
      { Name: 'Image', Required: true, DataType: 'String' },
      { Name: 'Inserted', Required: false, DataType: 'Boolean' },
      { Name: 'WriteProtected', Required: false, DataType: 'Boolean' },
      { Name: 'TransferProtocolType', Required: quirks.requireTransferProtocolType, DataType: 'String', AllowableValues: ['HTTP', 'HTTPS'] },
      { Name: 'TransferMethod', Required: false, DataType: 'String', AllowableValues: ['Stream'] },
    ],
  };
}
