// Boot override and power on a Redfish ComputerSystem (DMTF ComputerSystem v1.x): a one-time boot
// from CD checked against the service's AllowableValues (the Boot object of the system, or of its
// `@Redfish.Settings` object where the system stages changes there), `UsbCd` where that is how
// the service names its virtual CD (Supermicro X11/X12 boot virtual media only as UsbCd), and a
// reset: `On` when the system is off, else `ForceRestart`, from the allowed ResetTypes.

import type { RedfishClient, RedfishResource } from './client.js';
import { obj, odataId, str, strList, type JsonObject } from './json.js';

export type BootMode = 'uefi' | 'legacy';

export interface OverrideOutcome {
  readonly target: string;
  /** The resource the override was PATCHed on (the system or its settings object). */
  readonly resource: string;
}

/** Where Boot is written: the settings object when the system has one whose Boot holds the override. */
async function bootResource(client: RedfishClient, system: RedfishResource): Promise<{ res: RedfishResource; allowable: JsonObject }> {
  const settings = odataId(obj(system.body['@Redfish.Settings'])?.['SettingsObject']);
  const ownBoot = obj(system.body['Boot']) ?? {};
  if (settings) {
    const staged = await client.get(settings, 'read system settings');
    const boot = obj(staged.body['Boot']);
    if (boot && 'BootSourceOverrideTarget' in boot) return { res: staged, allowable: { ...ownBoot, ...boot } };
  }
  return { res: system, allowable: ownBoot };
}

function pickTarget(system: RedfishResource, allowed: string[] | undefined): string | undefined {
  if (!allowed) return 'Cd';
  const manufacturer = (str(system.body['Manufacturer']) ?? '').toLowerCase();
  if (manufacturer.includes('supermicro') && allowed.includes('UsbCd')) return 'UsbCd';
  if (allowed.includes('Cd')) return 'Cd';
  if (allowed.includes('UsbCd')) return 'UsbCd';
  return undefined;
}

/** Sets a one-time boot from the virtual CD, with the boot mode when given. */
export async function setBootOverride(client: RedfishClient, system: RedfishResource, mode: BootMode | undefined): Promise<OverrideOutcome> {
  const step = 'set boot override';
  const { res, allowable } = await bootResource(client, system);
  const targets = strList(allowable['BootSourceOverrideTarget@Redfish.AllowableValues']);
  const target = pickTarget(system, targets);
  if (!target) {
    throw client.error('REDFISH_OVERRIDE_NOT_ALLOWED', res.path, step, `BootSourceOverrideTarget Cd is not allowed (allowed: ${targets?.join(', ') || 'none'})`);
  }
  const enabledAllowed = strList(allowable['BootSourceOverrideEnabled@Redfish.AllowableValues']);
  if (enabledAllowed && !enabledAllowed.includes('Once')) {
    throw client.error('REDFISH_OVERRIDE_NOT_ALLOWED', res.path, step, `BootSourceOverrideEnabled Once is not allowed (allowed: ${enabledAllowed.join(', ')})`);
  }
  const boot: JsonObject = { BootSourceOverrideTarget: target, BootSourceOverrideEnabled: 'Once' };
  if (mode) {
    const value = mode === 'uefi' ? 'UEFI' : 'Legacy';
    const modes = strList(allowable['BootSourceOverrideMode@Redfish.AllowableValues']);
    if (modes && !modes.includes(value)) {
      throw client.error('REDFISH_OVERRIDE_NOT_ALLOWED', res.path, step, `BootSourceOverrideMode ${value} is not allowed (allowed: ${modes.join(', ')})`);
    }
    boot['BootSourceOverrideMode'] = value;
  }
  const answer = await client.patch(res.path, { Boot: boot }, res.etag, step);
  client.expectOk(answer, res.path, step, 'REDFISH_OVERRIDE');
  if (res.path === system.path) {
    const fresh = await client.get(system.path, 'verify boot override');
    const now = obj(fresh.body['Boot']);
    if (str(now?.['BootSourceOverrideTarget']) !== target || str(now?.['BootSourceOverrideEnabled']) !== 'Once') {
      throw client.error('REDFISH_OVERRIDE_NOT_APPLIED', system.path, 'verify boot override',
        `override answered ${answer.status} but Boot shows ${JSON.stringify(now?.['BootSourceOverrideTarget'] ?? null)}/${JSON.stringify(now?.['BootSourceOverrideEnabled'] ?? null)}`);
    }
  }
  return { target, resource: res.path };
}

/** Clears a boot override (BootSourceOverrideEnabled: Disabled). */
export async function clearBootOverride(client: RedfishClient, system: RedfishResource): Promise<void> {
  const step = 'clear boot override';
  const { res } = await bootResource(client, system);
  const answer = await client.patch(res.path, { Boot: { BootSourceOverrideEnabled: 'Disabled' } }, res.etag, step);
  client.expectOk(answer, res.path, step, 'REDFISH_OVERRIDE');
}

/** Powers the system on (when off) or force-restarts it; returns the ResetType used. */
export async function resetSystem(client: RedfishClient, systemPath: string): Promise<string> {
  const step = 'reset system';
  const system = await client.get(systemPath, 'read power state');
  const action = obj(obj(system.body['Actions'])?.['#ComputerSystem.Reset']);
  const target = str(action?.['target']);
  if (!action || !target) throw client.error('REDFISH_NO_RESET', systemPath, step, 'the system has no #ComputerSystem.Reset action');
  let allowed = strList(action['ResetType@Redfish.AllowableValues']);
  const infoPath = str(action['@Redfish.ActionInfo']);
  if (!allowed && infoPath) {
    const info = await client.get(infoPath, 'read Reset ActionInfo');
    const params = Array.isArray(info.body['Parameters']) ? (info.body['Parameters'] as unknown[]) : [];
    const resetType = params.map(obj).find((p) => str(p?.['Name']) === 'ResetType');
    allowed = strList(resetType?.['AllowableValues']);
  }
  const off = str(system.body['PowerState']) === 'Off';
  const wanted = off ? ['On', 'ForceOn'] : ['ForceRestart', 'PowerCycle', 'GracefulRestart'];
  const type = allowed ? wanted.find((t) => allowed?.includes(t)) : wanted[0];
  if (!type) throw client.error('REDFISH_NO_RESET', target, step, `none of ${wanted.join(', ')} is allowed (allowed: ${allowed?.join(', ')})`);
  const res = await client.post(target, { ResetType: type }, step);
  client.expectOk(res, target, step, 'REDFISH_RESET');
  return type;
}
