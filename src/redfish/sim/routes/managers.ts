// The Manager collection and one Manager (BMC) per system, each linking its VirtualMedia, where
// older services and clients (sushy 4.x) look for it.

import type { Hono } from 'hono';
import { missing, type SimContext, type SimEnv } from '../context.js';
import { collection, managerBody, ROOT } from '../render.js';
import { findManager } from '../state.js';

export function managerRoutes(app: Hono<SimEnv>, ctx: SimContext): void {
  const { state } = ctx;
  app.get(`${ROOT}/Managers`, (c) =>
    c.json(
      collection(
        `${ROOT}/Managers`,
        '#ManagerCollection.ManagerCollection',
        state.systems.map((s) => s.managerId),
      ),
    ),
  );
  app.get(`${ROOT}/Managers/:id`, (c) => {
    const s = findManager(state, c.req.param('id'));
    return s ? c.json(managerBody(s)) : missing(c, c.req.path);
  });
}
