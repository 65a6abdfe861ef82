// The VirtualMedia controller: `attach` points a BMC's virtual CD at a node's image URL and sets a
// one-time boot from it (optionally resetting the machine); `detach` ejects and clears the
// override. One Redfish session per call, always closed. Steps and quirks live in
// virtual-media.ts and boot.ts; this module only orders them.

import { RedfishError } from '../errors.js';
import { bmcName, RedfishClient, type RedfishClientOptions } from './client.js';
import { clearBootOverride, resetSystem, setBootOverride, type BootMode } from './boot.js';
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
  readonly resetType: string | undefined;
}

export interface DetachResult {
  readonly bmc: string;
  readonly system: string;
  readonly ejected: string[];
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
      resetType,
    };
  });
}

export async function detach(options: BmcTarget): Promise<DetachResult> {
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
    await clearBootOverride(client, system);
    return { bmc: client.bmc, system: str(system.body['Id']) ?? system.path, ejected };
  });
}
