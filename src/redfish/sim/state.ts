// The BMC simulator's state: systems (each with its own manager, boot override, resets and
// VirtualMedia slots), sessions, injected faults and a request log. Plain mutable data, exposed to
// tests as `sim.state` so they can arrange a machine and then read what a client did to it.

import { idleProgress, type FetchMode, type FetchProgress } from './fetch.js';
import type { Quirks } from './profiles.js';
import type { JsonObject } from '../json.js';

export type BootEnabled = 'Disabled' | 'Once' | 'Continuous';

export interface SimBoot {
  target: string;
  enabled: BootEnabled;
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

/**
 * What a matching request gets instead of normal service: 'error' answers `status`; 'ignore'
 * answers success without applying; 'task-fail' makes the task end in Exception; 'hang' accepts
 * the request and never answers (until the simulator closes), as a wedged BMC web server does;
 * 'stall-body' sends the status and headers, then part of a body, and never finishes it.
 */
export type FaultEffect = 'error' | 'ignore' | 'task-fail' | 'hang' | 'stall-body';

export interface SimFault {
  readonly method?: string;
  /** A path suffix or a pattern matched against the request path. */
  readonly path: string | RegExp;
  readonly effect?: FaultEffect;
  readonly status?: number;
  readonly message?: string;
  /** For 'error': this body as text/html instead of a Redfish error, as a BMC's web server error page. */
  readonly body?: string;
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

export const MAX_LOGGED_REQUESTS = 2000;

export function mediaSlot(id: string, mediaTypes: string[], fetchMode: FetchMode): SimVirtualMedia {
  return {
    id,
    mediaTypes,
    image: null,
    inserted: false,
    writeProtected: true,
    transferProtocolType: null,
    transferMethod: null,
    lastInsertBody: null,
    inserts: 0,
    ejects: 0,
    ejectPendingGets: 0,
    etag: 1,
    locked: false,
    fetch: idleProgress(fetchMode),
  };
}

export function createState(count: number, quirks: Quirks, powerState: 'On' | 'Off', fetchMode: FetchMode): SimState {
  const state: SimState = { systems: [], sessions: new Map(), faults: [], requests: [], basicAuthRequests: 0 };
  for (let i = 1; i <= count; i++) {
    state.systems.push({
      id: String(i),
      managerId: `bmc${i}`,
      powerState,
      boot: { ...quirks.initialBoot },
      resets: [],
      etag: 1,
      // A USB slot first, so clients must choose by MediaTypes rather than take the first.
      vmedia: [mediaSlot('USB1', ['USBStick'], fetchMode), mediaSlot('CD1', ['CD', 'DVD'], fetchMode)],
    });
  }
  return state;
}

export function findSystem(state: SimState, id: string): SimSystem | undefined {
  return state.systems.find((s) => s.id === id);
}

export function findManager(state: SimState, id: string): SimSystem | undefined {
  return state.systems.find((s) => s.managerId === id);
}
