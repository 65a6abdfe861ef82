// The VirtualMedia controller: `attach` points a BMC's virtual CD at a node's image URL and sets a
// one-time boot from it (optionally resetting the machine); `detach` ejects and puts the boot
// override back. One Redfish session per call, always closed, and each call within the time
// budgets of budget.ts. Steps and quirks live in virtual-media.ts and boot.ts; this module only
// orders them. What worked but not as asked (a BMC that keeps the override Continuous) is
// reported in `warnings` and logged, not thrown.

import { RedfishError } from '../errors.js';
import { bmcName, RedfishClient, type RedfishClientOptions } from './client.js';
import { resetSystem, restoreBootOverride, setBootOverride, type BootMode, type BootState } from './boot.js';
import { eject, findCdSlots, findSystem, insert } from './virtual-media.js';
import { str } from './json.js';

export interface BmcTarget extends RedfishClientOptions {
  /** System id (Id or last path segment); default: the only system. */
  readonly systemId?: string;
}

export interface AttachOptions extends BmcTarget {
  readonly imageUrl: string;
  readonly bootMode?: BootMode;
  /** Power on / force-restart after attaching. */
  readonly reset?: boolean;
}

export interface AttachResult {
  readonly bmc: string;
  readonly system: string;
  readonly virtualMedia: string;
  readonly image: string;
  readonly method: 'InsertMedia' | 'PATCH';
  readonly bootTarget: string;
  readonly bootResource: string;
  /** 'Continuous' where the BMC keeps overrides: the machine boots the CD until detach. */
  readonly bootEnabled: 'Once' | 'Continuous';
  /** The override before attach; give it to detach as `restoreBoot` to put it back exactly. */
  readonly previousBoot: BootState;
  readonly resetType: string | undefined;
  readonly warnings: readonly string[];
}

export interface DetachOptions extends BmcTarget {
  /** The override to put back (an attach's `previousBoot`); default: Disabled. */
  readonly restoreBoot?: BootState;
}

export interface DetachResult {
  readonly bmc: string;
  readonly system: string;
  readonly ejected: string[];
  /** The override left in place. */
  readonly boot: BootState;
  readonly warnings: readonly string[];
}

async function withClient<T>(options: RedfishClientOptions, fn: (client: RedfishClient) => Promise<T>): Promise<T> {
  const client = new RedfishClient(options);
  try {
    await client.open();
    return await fn(client);
  } finally {
    await client.close();
  }
}

export async function attach(options: AttachOptions): Promise<AttachResult> {
  try {
    const u = new URL(options.imageUrl);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
  } catch {
    throw new RedfishError('REDFISH_BAD_URL', bmcName(options.bmc), options.imageUrl, 'check image URL', 'the image URL must be http(s)');
  }
  return withClient(options, async (client) => {
    const system = await findSystem(client, options.systemId);
    const slots = await findCdSlots(client, system);
    const inserted = await insert(client, slots, options.imageUrl);
    const override = await setBootOverride(client, system, options.bootMode);
    const resetType = options.reset ? await resetSystem(client, system.path) : undefined;
    return {
      bmc: client.bmc,
      system: str(system.body['Id']) ?? system.path,
      virtualMedia: inserted.slot.path,
      image: options.imageUrl,
      method: inserted.method,
      bootTarget: override.target,
      bootResource: override.resource,
      bootEnabled: override.enabled,
      previousBoot: override.previous,
      resetType,
      warnings: override.warnings,
    };
  });
}

export async function detach(options: DetachOptions): Promise<DetachResult> {
  return withClient(options, async (client) => {
    const system = await findSystem(client, options.systemId);
    const slots = await findCdSlots(client, system);
    const ejected: string[] = [];
    for (const slot of slots) {
      const cur = await client.get(slot.path, 'read virtual media');
      if (cur.body['Inserted'] !== true && !str(cur.body['Image'])) continue;
      await eject(client, slot);
      ejected.push(slot.path);
    }
    const restored = await restoreBootOverride(client, system, options.restoreBoot);
    return { bmc: client.bmc, system: str(system.body['Id']) ?? system.path, ejected, boot: restored.boot, warnings: restored.warnings };
  });
}
