// The simulator's resource renderers are pure: the same state and quirks give the same body, and
// each profile's quirks show where clients look for them (actions, ActionInfo, links, ETags).

import { describe, expect, it } from 'vitest';
import { PROFILES } from '../../src/redfish/sim/profiles.js';
import { etagOf, redfishError, systemBody, vmediaBody } from '../../src/redfish/sim/render.js';
import { createState } from '../../src/redfish/sim/state.js';

const machine = () => createState(1, PROFILES.standard, 'Off', 'none').systems[0]!;
const CD = '/redfish/v1/Managers/bmc1/VirtualMedia/CD1';

describe("the simulator's renderers", () => {
  it('render a Redfish error with one ExtendedInfo message, Critical for 5xx', () => {
    const body = redfishError(503, 'Base.1.8.ServiceTemporarilyUnavailable', 'Busy.', ['#/Image']);
    expect(body).toMatchObject({
      error: {
        code: 'Base.1.8.ServiceTemporarilyUnavailable',
        message: 'Busy.',
        '@Message.ExtendedInfo': [{ Severity: 'Critical', RelatedProperties: ['#/Image'] }],
      },
    });
    expect(redfishError(400, 'x', 'y')).toMatchObject({ error: { '@Message.ExtendedInfo': [{ Severity: 'Warning' }] } });
  });

  it('mint weak ETags only in profiles that do', () => {
    expect(etagOf(3, PROFILES.standard)).toBe('"3"');
    expect(etagOf(3, PROFILES['if-match'])).toBe('W/"3"');
  });

  it('offer InsertMedia and EjectMedia only where the profile has actions and the slot is free', () => {
    const s = machine();
    const cd = s.vmedia[1]!;
    expect(Object.keys(vmediaBody(s, cd, CD, PROFILES.standard)['Actions'] as object)).toEqual([
      '#VirtualMedia.InsertMedia',
      '#VirtualMedia.EjectMedia',
    ]);
    expect(vmediaBody(s, cd, CD, PROFILES.lenovo)['Actions']).toBeUndefined();
    expect(vmediaBody(s, { ...cd, locked: true }, CD, PROFILES.standard)['Actions']).toBeUndefined();
    const insert = (vmediaBody(s, cd, CD, PROFILES['transfer-protocol'])['Actions'] as Record<string, Record<string, unknown>>)[
      '#VirtualMedia.InsertMedia'
    ];
    expect(insert?.['@Redfish.ActionInfo']).toBe(`${CD}/InsertMediaActionInfo`);
  });

  it('link VirtualMedia from the system only where the profile does, and stage Boot in a settings object for Lenovo', () => {
    const s = machine();
    expect(systemBody(s, PROFILES.standard)['VirtualMedia']).toEqual({ '@odata.id': '/redfish/v1/Systems/1/VirtualMedia' });
    expect(systemBody(s, PROFILES.supermicro)['VirtualMedia']).toBeUndefined();
    expect(systemBody(s, PROFILES.lenovo)['@Redfish.Settings']).toMatchObject({ SettingsObject: { '@odata.id': '/redfish/v1/Systems/1/Settings' } });
  });

  it('start a sushy-emulator machine booting from disk, with no None among its targets', () => {
    const s = createState(1, PROFILES['sushy-emulator'], 'Off', 'none').systems[0]!;
    expect(systemBody(s, PROFILES['sushy-emulator'])['Boot']).toMatchObject({
      BootSourceOverrideTarget: 'Hdd',
      BootSourceOverrideEnabled: 'Continuous',
      'BootSourceOverrideTarget@Redfish.AllowableValues': ['Pxe', 'Cd', 'Hdd'],
    });
  });
});
