// Boot override and power on a Redfish ComputerSystem (DMTF ComputerSystem v1.x): a one-time boot
// from CD checked against the service's AllowableValues (the Boot object of the system, or of its
// `@Redfish.Settings` object where the system stages changes there), `UsbCd` where that is how
// the service names its virtual CD (Supermicro X11/X12 boot virtual media only as UsbCd), and a
// reset: `On` when the system is off, else `ForceRestart`, from the allowed ResetTypes.
//
// Some services keep every override: sushy-tools' emulator (Ironic's CI BMC) and several real
// BMCs show `Continuous` after a `Once` PATCH, and the emulator ignores `Disabled` and refuses a
// Boot PATCH without a target. Ironic 21.4 sets the boot device without reading it back
// (redfish/management.py `_set_boot_device`), so it carries on there. We do too, with a warning,
// and undo the override at detach by pointing the target elsewhere: to what it was before attach
// when the caller says, else None, else Hdd (the emulator allows no None).

import type { RedfishClient, RedfishResource } from './client.js';
import { obj, odataId, str, strList, type JsonObject } from './json.js';

export type BootMode = 'uefi' | 'legacy';

/** A Boot override as the service shows it (null where it shows nothing). */
export interface BootState {
  readonly target: string | null;
  readonly enabled: string | null;
}

export interface OverrideOutcome {
  readonly target: string;
  /** The resource the override was PATCHed on (the system or its settings object). */
  readonly resource: string;
  /** 'Once' as asked, or 'Continuous' where the service keeps overrides (then see `warnings`). */
  readonly enabled: 'Once' | 'Continuous';
  /** The override before this one, for detach to put back. */
  readonly previous: BootState;
  readonly warnings: readonly string[];
}

export interface RestoreOutcome {
  readonly resource: string;
  /** The override left in place: as the service shows it, or as written where it stages changes. */
  readonly boot: BootState;
  readonly warnings: readonly string[];
}

/** Targets that boot the virtual CD: restoring one after an eject would boot an empty drive. */
const CD_TARGETS = new Set(['Cd', 'UsbCd']);

function bootStateOf(boot: JsonObject | undefined): BootState {
  return { target: str(boot?.['BootSourceOverrideTarget']) ?? null, enabled: str(boot?.['BootSourceOverrideEnabled']) ?? null };
}

export function describeBoot(b: BootState): string {
  return `${b.target ?? 'none'}/${b.enabled ?? 'unknown'}`;
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
    const allowed = targets?.join(', ') || 'none';
    throw client.error('REDFISH_OVERRIDE_NOT_ALLOWED', res.path, step, `BootSourceOverrideTarget Cd is not allowed (allowed: ${allowed})`);
  }
  const enabledAllowed = strList(allowable['BootSourceOverrideEnabled@Redfish.AllowableValues']);
  if (enabledAllowed && !enabledAllowed.includes('Once')) {
    throw client.error(
      'REDFISH_OVERRIDE_NOT_ALLOWED',
      res.path,
      step,
      `BootSourceOverrideEnabled Once is not allowed (allowed: ${enabledAllowed.join(', ')})`,
    );
  }
  const boot: JsonObject = { BootSourceOverrideTarget: target, BootSourceOverrideEnabled: 'Once' };
  if (mode) {
    const value = mode === 'uefi' ? 'UEFI' : 'Legacy';
    const modes = strList(allowable['BootSourceOverrideMode@Redfish.AllowableValues']);
    if (modes && !modes.includes(value)) {
      throw client.error(
        'REDFISH_OVERRIDE_NOT_ALLOWED',
        res.path,
        step,
        `BootSourceOverrideMode ${value} is not allowed (allowed: ${modes.join(', ')})`,
      );
    }
    boot['BootSourceOverrideMode'] = value;
  }
  const previous = bootStateOf(obj(res.body['Boot']));
  const answer = await client.patch(res.path, { Boot: boot }, res.etag, step);
  client.expectOk(answer, res.path, step, 'REDFISH_OVERRIDE');
  // A settings object applies at the next reset, so there is nothing to read back yet.
  if (res.path !== system.path) return { target, resource: res.path, enabled: 'Once', previous, warnings: [] };
  const fresh = await client.get(system.path, 'verify boot override');
  const now = bootStateOf(obj(fresh.body['Boot']));
  if (now.target !== target || (now.enabled !== 'Once' && now.enabled !== 'Continuous')) {
    throw client.error(
      'REDFISH_OVERRIDE_NOT_APPLIED',
      system.path,
      'verify boot override',
      `override answered ${answer.status} but Boot shows ${JSON.stringify(now.target)}/${JSON.stringify(now.enabled)}`,
    );
  }
  if (now.enabled === 'Once') return { target, resource: res.path, enabled: 'Once', previous, warnings: [] };
  const warning =
    `the BMC shows BootSourceOverrideEnabled Continuous after a Once override (it keeps overrides, as sushy-emulator does): ` +
    `the machine boots from ${target} at every reset until detach puts the override back (it was ${describeBoot(previous)})`;
  client.log.warn({ bmc: client.bmc, system: system.path, target, previous }, 'boot override kept Continuous');
  return { target, resource: res.path, enabled: 'Continuous', previous, warnings: [warning] };
}

/** Where to point a kept override instead of the CD: the earlier target, else None, else Hdd. */
function elsewhere(wanted: BootState | undefined, allowed: string[] | undefined): string | undefined {
  const candidates = [wanted?.target, 'None', 'Hdd'].filter((t): t is string => !!t && !CD_TARGETS.has(t));
  return candidates.find((t) => !allowed || allowed.includes(t));
}

/**
 * Puts the boot override back after an eject: `wanted` (the override before attach) when it was
 * an active one off the CD, else Disabled. Where the service keeps the CD override anyway (it
 * still shows Cd, or refuses a PATCH without a target), the target is pointed elsewhere instead.
 */
export async function restoreBootOverride(client: RedfishClient, system: RedfishResource, wanted?: BootState): Promise<RestoreOutcome> {
  const step = 'restore boot override';
  const { res, allowable } = await bootResource(client, system);
  const active = wanted?.target && wanted.enabled && wanted.enabled !== 'Disabled' && !CD_TARGETS.has(wanted.target);
  const boot: JsonObject = active
    ? { BootSourceOverrideTarget: wanted.target, BootSourceOverrideEnabled: wanted.enabled }
    : { BootSourceOverrideEnabled: 'Disabled' };
  const written = bootStateOf(boot);
  const answer = await client.patch(res.path, { Boot: boot }, res.etag, step);
  // sushy-emulator answers 400 to a Boot PATCH without a target; pointing the target elsewhere is what works there.
  const needsTarget = answer.status === 400 && !active;
  if (!needsTarget) client.expectOk(answer, res.path, step, 'REDFISH_OVERRIDE');
  if (res.path !== system.path && !needsTarget) return { resource: res.path, boot: written, warnings: [] };
  // After a refusal the override is as it was; else as the PATCH left it.
  let current = needsTarget ? res : await client.get(res.path, 'verify boot override');
  const shown = bootStateOf(obj(current.body['Boot']));
  const onCd = shown.enabled !== 'Disabled' && shown.target !== null && CD_TARGETS.has(shown.target);
  if (!onCd) return { resource: res.path, boot: shown, warnings: [] };
  const targets = strList(allowable['BootSourceOverrideTarget@Redfish.AllowableValues']);
  const target = elsewhere(wanted, targets);
  const why = needsTarget
    ? `refused BootSourceOverrideEnabled Disabled (HTTP ${answer.status})`
    : `still shows ${describeBoot(shown)} after Disabled`;
  if (!target) {
    const allowed = targets?.join(', ') || 'none';
    throw client.error('REDFISH_OVERRIDE_NOT_APPLIED', res.path, step, `the BMC ${why}, and allows no target off the CD (allowed: ${allowed})`);
  }
  const again = await client.patch(res.path, { Boot: { BootSourceOverrideTarget: target } }, current.etag, step);
  client.expectOk(again, res.path, step, 'REDFISH_OVERRIDE');
  if (res.path !== system.path) return { resource: res.path, boot: { target, enabled: null }, warnings: [] };
  current = await client.get(res.path, 'verify boot override');
  const now = bootStateOf(obj(current.body['Boot']));
  if (now.target !== target) {
    throw client.error(
      'REDFISH_OVERRIDE_NOT_APPLIED',
      res.path,
      'verify boot override',
      `the BMC ${why}; BootSourceOverrideTarget ${target} answered ${again.status} but Boot shows ${describeBoot(now)}`,
    );
  }
  const warning = `the BMC keeps boot overrides (it ${why}): BootSourceOverrideTarget set to ${target} instead, shown as ${describeBoot(now)}`;
  client.log.warn({ bmc: client.bmc, system: system.path, boot: now }, 'boot override pointed off the CD');
  return { resource: res.path, boot: now, warnings: [warning] };
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
