// ComputerSystem resources (DMTF ComputerSystem v1.x): the collection, each system with its Boot
// override (PATCHed on the system, or on its `@Redfish.Settings` object in the Lenovo profile)
// and the Reset action, which boots the virtual CD when a CD override is in force.

import type { Hono } from 'hono';
import { done, faultOf, malformed, missing, refuse, type C, type SimContext, type SimEnv } from '../context.js';
import { jsonBody } from '../middleware/json-body.js';
import { preconditionFails } from '../middleware/if-match.js';
import { BOOT_ENABLED_VALUES, BOOT_MODE_VALUES, collection, etagOf, ROOT, settingsBody, systemBody } from '../render.js';
import { findSystem, type SimBoot, type SimSystem } from '../state.js';
import { isObject, str } from '../../json.js';

export function systemRoutes(app: Hono<SimEnv>, ctx: SimContext): void {
  const { state, quirks, log } = ctx;

  const systemIds = (): string[] => state.systems.map((s) => s.id);
  app.get(`${ROOT}/Systems`, (c) => c.json(collection(`${ROOT}/Systems`, '#ComputerSystemCollection.ComputerSystemCollection', systemIds())));

  app.get(`${ROOT}/Systems/:id`, (c) => {
    const s = findSystem(state, c.req.param('id'));
    if (!s) return missing(c, c.req.path);
    return c.json(systemBody(s, quirks), 200, { ETag: etagOf(s.etag, quirks), Allow: 'GET, PATCH' });
  });

  async function patchBoot(c: C, s: SimSystem): Promise<Response> {
    const pre = preconditionFails(c, s.etag, quirks);
    if (pre) return pre;
    const { body, bad } = await jsonBody(c);
    if (bad || !body) return malformed(c);
    const boot = body['Boot'];
    if (!isObject(boot)) return refuse(c, 400, 'Base.1.8.PropertyUnknown', 'Only Boot can be changed.');
    const next: SimBoot = { ...s.boot };
    const check = (prop: string, allowed: readonly string[]): Response | undefined => {
      const v = boot[prop];
      if (v === undefined) return undefined;
      if (typeof v !== 'string' || !allowed.includes(v)) {
        return refuse(
          c,
          400,
          'Base.1.8.PropertyValueNotInList',
          `The value ${JSON.stringify(v)} for the property ${prop} is not in the list of acceptable values.`,
          [`#/Boot/${prop}`],
        );
      }
      (next as unknown as Record<string, unknown>)[prop.replace('BootSourceOverride', '').toLowerCase()] = v;
      return undefined;
    };
    const err =
      check('BootSourceOverrideTarget', quirks.bootTargets) ??
      check('BootSourceOverrideEnabled', BOOT_ENABLED_VALUES) ??
      check('BootSourceOverrideMode', BOOT_MODE_VALUES);
    if (err) return err;
    if (quirks.bootPatchNeedsTarget && boot['BootSourceOverrideTarget'] === undefined && boot['BootSourceOverrideMode'] === undefined) {
      return refuse(c, 400, 'Base.1.8.PropertyMissing', 'Missing the BootSourceOverrideTarget and/or BootSourceOverrideMode element.', ['#/Boot']);
    }
    if (quirks.stickyContinuous) next.enabled = 'Continuous';
    if (faultOf(c) === 'ignore') return done(c, ctx);
    if (faultOf(c) === 'task-fail') return done(c, ctx, 'Setting the boot override failed.');
    s.boot = next;
    s.etag++;
    log.info({ system: s.id, boot: s.boot }, 'boot override set');
    return done(c, ctx);
  }

  app.patch(`${ROOT}/Systems/:id`, async (c) => {
    const s = findSystem(state, c.req.param('id'));
    if (!s) return missing(c, c.req.path);
    if (quirks.bootSettingsObject) {
      return refuse(c, 400, 'Base.1.8.PropertyNotWritable', 'The property Boot is a read only property; change it through @Redfish.Settings.', [
        '#/Boot',
      ]);
    }
    return patchBoot(c, s);
  });
  // The settings object: this simulator applies staged boot settings at once (real services apply
  // them at the next reset; the effect on a one-time boot is the same).
  app.get(`${ROOT}/Systems/:id/Settings`, (c) => {
    const s = findSystem(state, c.req.param('id'));
    if (!s || !quirks.bootSettingsObject) return missing(c, c.req.path);
    return c.json(settingsBody(s, quirks), 200, { ETag: etagOf(s.etag, quirks), Allow: 'GET, PATCH' });
  });
  app.patch(`${ROOT}/Systems/:id/Settings`, async (c) => {
    const s = findSystem(state, c.req.param('id'));
    if (!s || !quirks.bootSettingsObject) return missing(c, c.req.path);
    return patchBoot(c, s);
  });

  app.post(`${ROOT}/Systems/:id/Actions/ComputerSystem.Reset`, async (c) => {
    const s = findSystem(state, c.req.param('id'));
    if (!s) return missing(c, c.req.path);
    const { body } = await jsonBody(c);
    const type = str(body?.['ResetType']);
    if (!type) return refuse(c, 400, 'Base.1.8.ActionParameterMissing', 'The action requires the parameter ResetType.', ['#/ResetType']);
    if (!quirks.resetTypes.includes(type)) {
      return refuse(c, 400, 'Base.1.8.ActionParameterValueNotInList', `The value ${JSON.stringify(type)} for ResetType is not allowed.`, [
        '#/ResetType',
      ]);
    }
    if (faultOf(c) === 'ignore') return done(c, ctx);
    if (faultOf(c) === 'task-fail') return done(c, ctx, 'The reset failed.');
    reset(s, type);
    log.info({ system: s.id, type, power: s.powerState }, 'reset');
    return done(c, ctx);
  });
}

/** Applies a reset: power follows the type; a boot consumes a one-time override and records what booted. */
function reset(s: SimSystem, type: string): void {
  const off = type === 'ForceOff' || type === 'GracefulShutdown' || (type === 'PushPowerButton' && s.powerState === 'On');
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
}
