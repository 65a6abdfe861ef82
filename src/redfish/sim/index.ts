// A Redfish BMC simulator (DSP0266 service, ComputerSystem / Manager / VirtualMedia /
// SessionService schemas) on hono, for N systems, with the vendor quirks of profiles.ts.
// It speaks enough Redfish for sushy (Ironic's client) and our controller: an unauthenticated
// service root, sessions (X-Auth-Token + Location) and Basic auth, ETags and If-Match, VirtualMedia
// linked from Systems and from Managers, InsertMedia/EjectMedia or PATCH, boot overrides,
// resets, and 202 task monitors. On insert it really reads the image (fetch.ts), exposing
// progress in the resource (Oem.Isoproxy.Fetch) and in `state`. Faults can be injected through
// `state.faults` so tests reach every error path of the controller.
//
// This module wires the parts: state.ts (the machines), middleware/ (request log, auth, faults,
// If-Match, JSON bodies), render.ts (pure resource bodies), routes/ (one file per resource) and
// media.ts (what insert and eject do). The production controller never imports any of it.

import type { AddressInfo } from 'node:net';
import { createServer as createHttpsServer } from 'node:https';
import { Hono } from 'hono';
import { serve } from '@hono/node-server';
import { pino, type Logger } from 'pino';
import { missing, refuse, type SimContext, type SimEnv } from './context.js';
import type { FetchMode, FetchOptions, FetchProgress } from './fetch.js';
import { MediaFetches, type ExpectTokens } from './media-fetches.js';
import { auth } from './middleware/auth.js';
import { faults, HeldRequests } from './middleware/faults.js';
import { requestLog } from './middleware/request-log.js';
import { PROFILES, type ProfileName, type Quirks } from './profiles.js';
import { ROOT } from './render.js';
import { managerRoutes } from './routes/managers.js';
import { serviceRoutes } from './routes/service.js';
import { sessionRoutes } from './routes/sessions.js';
import { systemRoutes } from './routes/systems.js';
import { virtualMediaRoutes } from './routes/virtual-media.js';
import { createState, findSystem, type SimState, type SimSystem } from './state.js';
import { TaskBoard } from './tasks.js';

export type { FaultEffect, SimBoot, SimFault, SimReset, SimState, SimSystem, SimVirtualMedia } from './state.js';
export { fetchImage, idleProgress, type FetchChecks, type FetchMode, type FetchOptions, type FetchProgress } from './fetch.js';
export { isProfileName, PROFILE_NAMES, PROFILES, type ProfileName, type Quirks } from './profiles.js';

export interface BmcSimulatorOptions {
  /** Number of systems (each with its own manager). Default 1. */
  readonly systems?: number;
  readonly profile?: ProfileName | Quirks;
  readonly username?: string;
  readonly password?: string;
  /** How inserted images are read; 'none' (or `false`) keeps the simulator offline. Default ranges. */
  readonly fetch?: FetchMode | Omit<FetchOptions, 'expect'> | false;
  /** Tokens each system's image must contain (its kernel parameters). */
  readonly expect?: ExpectTokens;
  readonly powerState?: 'On' | 'Off';
  readonly logger?: Logger;
}

export interface SimServer {
  readonly url: string;
  close(): Promise<void>;
}

export interface BmcSimulator {
  readonly app: Hono<SimEnv>;
  readonly state: SimState;
  readonly quirks: Quirks;
  /** Listens on HTTP, or HTTPS when `tls` (PEM key and certificate) is given. */
  listen(port?: number, host?: string, tls?: { key: string | Buffer; cert: string | Buffer }): Promise<SimServer>;
  system(id: string): SimSystem;
  /** Resolves when the media's current fetch has finished (done or failed). */
  whenFetched(systemId: string, mediaId?: string): Promise<FetchProgress>;
  /** Stops image reads and releases requests held by 'hang' and 'stall-body' faults. */
  close(): Promise<void>;
}

function fetchOptions(fetch: BmcSimulatorOptions['fetch']): Omit<FetchOptions, 'expect'> {
  if (fetch === false || fetch === undefined) return { mode: fetch === false ? 'none' : 'ranges' };
  return typeof fetch === 'string' ? { mode: fetch } : fetch;
}

export function createBmcSimulator(options: BmcSimulatorOptions = {}): BmcSimulator {
  const quirks: Quirks = typeof options.profile === 'object' ? options.profile : PROFILES[options.profile ?? 'standard'];
  const fetchOpts = fetchOptions(options.fetch);
  const log = options.logger ?? pino({ level: 'silent' });
  const count = Math.max(1, Math.min(1024, options.systems ?? 1));
  const state = createState(count, quirks, options.powerState ?? 'Off', fetchOpts.mode);
  const ctx: SimContext = {
    state,
    quirks,
    log,
    tasks: new TaskBoard(),
    fetches: new MediaFetches(fetchOpts, options.expect, log),
    username: options.username ?? 'admin',
    password: options.password ?? 'password',
  };
  const held = new HeldRequests();

  const app = new Hono<SimEnv>({ strict: false });
  app.use('*', requestLog(state));
  app.use(`${ROOT}/*`, auth(ctx));
  app.use(`${ROOT}/*`, faults(state, held));
  serviceRoutes(app, ctx);
  sessionRoutes(app, ctx);
  systemRoutes(app, ctx);
  managerRoutes(app, ctx);
  virtualMediaRoutes(app, ctx);

  // Outside the Redfish tree and unauthenticated, for the demo and the wave benchmark when they
  // run `isoproxy bmc-sim` as a separate process: systems, media and fetch progress (no tokens).
  app.get('/bmc-sim/state', (c) => c.json({ profile: quirks.name, systems: state.systems }));

  app.notFound((c) => missing(c, `at ${c.req.path}`));
  app.onError((err, c) => {
    log.error({ err: err.message }, 'simulator error');
    return refuse(c, 500, 'Base.1.8.InternalError', 'Internal error.');
  });

  const sim: BmcSimulator = {
    app,
    state,
    quirks,
    system(id) {
      const s = findSystem(state, id);
      if (!s) throw new Error(`no simulated system ${id}`);
      return s;
    },
    async whenFetched(systemId, mediaId = 'CD1') {
      const m = sim.system(systemId).vmedia.find((v) => v.id === mediaId);
      if (!m) throw new Error(`no media ${mediaId} on system ${systemId}`);
      await ctx.fetches.settled(m);
      return m.fetch;
    },
    async listen(port = 0, host = '127.0.0.1', tls) {
      const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
        const https = tls ? { createServer: createHttpsServer, serverOptions: { key: tls.key, cert: tls.cert } } : {};
        const srv = serve({ fetch: app.fetch, port, hostname: host, ...https }, () => resolve(srv));
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
      held.releaseAll();
      await ctx.fetches.closeAll();
    },
  };
  return sim;
}
