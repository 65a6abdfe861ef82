// Quirk profiles of the BMC simulator: each one reproduces a way real Redfish services differ,
// as recorded in sushy's and Metal3's workarounds. A profile is plain data so tests can build
// their own mix (`{ ...PROFILES.standard, sessions: false }`).

export interface Quirks {
  readonly name: string;
  /** 'action': #VirtualMedia.InsertMedia/EjectMedia; 'patch': no actions, PATCH the resource (Lenovo XCC style). */
  readonly insertVia: 'action' | 'patch';
  /** InsertMedia with `Inserted` or `WriteProtected` is a 400 (Supermicro X11/X12). */
  readonly rejectInsertedWriteProtected: boolean;
  /** InsertMedia without `TransferProtocolType` is a 400 ActionParameterMissing. */
  readonly requireTransferProtocolType: boolean;
  /** Publish an ActionInfo for InsertMedia listing the required parameters. */
  readonly actionInfo: boolean;
  /** Annotate the InsertMedia action with `TransferProtocolType@Redfish.AllowableValues`. */
  readonly annotateInsertParameters: boolean;
  /** Actions and PATCHes answer 202 + a task monitor that runs for `taskPolls` polls. */
  readonly tasks: boolean;
  readonly taskPolls: number;
  /** PATCH without If-Match is a 412 (services enforcing optimistic concurrency). */
  readonly requireIfMatch: boolean;
  /** ETags are minted weak (W/"n") but only the strong form is accepted in If-Match. */
  readonly weakEtags: boolean;
  /** Eject answers at once but media shows Inserted for this many more GETs. */
  readonly slowEjectGets: number;
  /** A bodiless EjectMedia POST is a 415; `{}` is needed (HPE iLO style). */
  readonly ejectNeedsBody: boolean;
  /** EjectMedia on an empty slot is a 400 (many BMCs). */
  readonly ejectEmptyFails: boolean;
  /** Where VirtualMedia is linked from. */
  readonly vmediaUnder: 'both' | 'manager';
  /** BootSourceOverrideTarget allowable values. */
  readonly bootTargets: readonly string[];
  /** Boot changes go to `@Redfish.Settings` SettingsObject; PATCH of Boot on the system is refused. */
  readonly bootSettingsObject: boolean;
  readonly manufacturer: string;
  /** Sessions offered; when false, POST to Sessions is 405 and only Basic auth works. */
  readonly sessions: boolean;
  readonly resetTypes: readonly string[];
  /**
   * Overrides are stored Continuous whatever BootSourceOverrideEnabled asks, and a reset does not
   * consume them. sushy-tools' emulator (Ironic's CI BMC) does this: its libvirt driver sets the
   * domain's boot device and ignores BootSourceOverrideEnabled; several real BMCs also report
   * Continuous after a Once PATCH.
   */
  readonly stickyContinuous: boolean;
  /** A Boot PATCH naming neither BootSourceOverrideTarget nor BootSourceOverrideMode is a 400 (sushy-tools). */
  readonly bootPatchNeedsTarget: boolean;
  /** The boot override a system starts with. */
  readonly initialBoot: { readonly target: string; readonly enabled: 'Disabled' | 'Once' | 'Continuous'; readonly mode: 'UEFI' | 'Legacy' };
}

const standard: Quirks = {
  name: 'standard',
  insertVia: 'action',
  rejectInsertedWriteProtected: false,
  requireTransferProtocolType: false,
  actionInfo: false,
  annotateInsertParameters: false,
  tasks: false,
  taskPolls: 2,
  requireIfMatch: false,
  weakEtags: false,
  slowEjectGets: 0,
  ejectNeedsBody: false,
  ejectEmptyFails: false,
  vmediaUnder: 'both',
  bootTargets: ['None', 'Pxe', 'Cd', 'Usb', 'Hdd', 'BiosSetup', 'UefiShell'],
  bootSettingsObject: false,
  manufacturer: 'isoproxy',
  sessions: true,
  resetTypes: ['On', 'ForceOff', 'GracefulShutdown', 'GracefulRestart', 'ForceRestart', 'PowerCycle'],
  stickyContinuous: false,
  bootPatchNeedsTarget: false,
  initialBoot: { target: 'None', enabled: 'Disabled', mode: 'UEFI' },
};

/**
 * sushy-tools' emulator over libvirt: overrides are sticky and shown Continuous, a PATCH needs a
 * target, and the allowed targets (its system.json template) have no None. A machine boots from
 * disk until told otherwise.
 */
const sushyEmulator: Quirks = {
  ...standard,
  name: 'sushy-emulator',
  manufacturer: 'Sushy Emulator',
  stickyContinuous: true,
  bootPatchNeedsTarget: true,
  bootTargets: ['Pxe', 'Cd', 'Hdd'],
  resetTypes: ['On', 'ForceOff', 'GracefulShutdown', 'GracefulRestart', 'ForceRestart', 'Nmi', 'ForceOn'],
  initialBoot: { target: 'Hdd', enabled: 'Continuous', mode: 'UEFI' },
};

export const PROFILES = {
  standard,
  lenovo: { ...standard, name: 'lenovo', insertVia: 'patch', bootSettingsObject: true, manufacturer: 'Lenovo', vmediaUnder: 'manager' },
  supermicro: {
    ...standard,
    name: 'supermicro',
    rejectInsertedWriteProtected: true,
    ejectEmptyFails: true,
    manufacturer: 'Supermicro',
    vmediaUnder: 'manager',
    bootTargets: ['None', 'Pxe', 'Hdd', 'Cd', 'UsbCd', 'BiosSetup'],
  },
  'transfer-protocol': { ...standard, name: 'transfer-protocol', requireTransferProtocolType: true, actionInfo: true },
  task: { ...standard, name: 'task', tasks: true },
  'if-match': { ...standard, name: 'if-match', requireIfMatch: true, weakEtags: true },
  'slow-eject': { ...standard, name: 'slow-eject', slowEjectGets: 2, ejectNeedsBody: true },
  'sushy-emulator': sushyEmulator,
} satisfies Record<string, Quirks>;

export type ProfileName = keyof typeof PROFILES;

export const PROFILE_NAMES = Object.keys(PROFILES) as ProfileName[];

export function isProfileName(s: string): s is ProfileName {
  return Object.hasOwn(PROFILES, s);
}
