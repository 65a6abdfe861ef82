// VirtualMedia (DMTF VirtualMedia v1.x, DSP2046): the same slots under Systems/{id} (v1.13+
// services; not in the manager-only profiles) and under Managers/{id}, driven by the
// InsertMedia/EjectMedia actions or by PATCH (Lenovo XCC style), with an ActionInfo where the
// profile publishes one.

import type { Hono } from 'hono';
import { malformed, missing, refuse, type C, type SimContext, type SimEnv } from '../context.js';
import { jsonBody } from '../middleware/json-body.js';
import { preconditionFails } from '../middleware/if-match.js';
import { ejectMedia, insertMedia, settle } from '../media.js';
import { collection, etagOf, insertActionInfo, ROOT, vmediaBody } from '../render.js';
import { findManager, findSystem, type SimSystem, type SimVirtualMedia } from '../state.js';

export function virtualMediaRoutes(app: Hono<SimEnv>, ctx: SimContext): void {
  const { state, quirks } = ctx;

  function owner(c: C): { s: SimSystem; base: string } | undefined {
    const kind = c.req.path.split('/')[3];
    const id = c.req.param('id') ?? '';
    if (kind === 'Systems' && quirks.vmediaUnder === 'both') {
      const s = findSystem(state, id);
      return s ? { s, base: `${ROOT}/Systems/${s.id}/VirtualMedia` } : undefined;
    }
    if (kind === 'Managers') {
      const s = findManager(state, id);
      return s ? { s, base: `${ROOT}/Managers/${s.managerId}/VirtualMedia` } : undefined;
    }
    return undefined;
  }
  function slot(c: C): { s: SimSystem; m: SimVirtualMedia; path: string } | undefined {
    const o = owner(c);
    const m = o?.s.vmedia.find((v) => v.id === c.req.param('vm'));
    return o && m ? { s: o.s, m, path: `${o.base}/${m.id}` } : undefined;
  }

  for (const prefix of [`${ROOT}/Systems`, `${ROOT}/Managers`]) {
    app.get(`${prefix}/:id/VirtualMedia`, (c) => {
      const o = owner(c);
      if (!o) return missing(c, c.req.path);
      return c.json(
        collection(
          o.base,
          '#VirtualMediaCollection.VirtualMediaCollection',
          o.s.vmedia.map((m) => m.id),
        ),
      );
    });
    app.get(`${prefix}/:id/VirtualMedia/:vm`, (c) => {
      const x = slot(c);
      if (!x) return missing(c, c.req.path);
      settle(x.m);
      const allow = quirks.insertVia === 'patch' && !x.m.locked ? 'GET, PATCH' : 'GET';
      return c.json(vmediaBody(x.s, x.m, x.path, quirks), 200, { ETag: etagOf(x.m.etag, quirks), Allow: allow });
    });
    app.get(`${prefix}/:id/VirtualMedia/:vm/InsertMediaActionInfo`, (c) => {
      const x = slot(c);
      if (!x || !quirks.actionInfo) return missing(c, c.req.path);
      return c.json(insertActionInfo(x.path, quirks));
    });
    app.post(`${prefix}/:id/VirtualMedia/:vm/Actions/VirtualMedia.InsertMedia`, async (c) => {
      const x = slot(c);
      if (!x || quirks.insertVia !== 'action' || x.m.locked) return missing(c, c.req.path);
      const { body, bad } = await jsonBody(c);
      if (bad || !body) return malformed(c);
      return insertMedia(c, ctx, x.s, x.m, body);
    });
    app.post(`${prefix}/:id/VirtualMedia/:vm/Actions/VirtualMedia.EjectMedia`, async (c) => {
      const x = slot(c);
      if (!x || quirks.insertVia !== 'action' || x.m.locked) return missing(c, c.req.path);
      const { empty, bad } = await jsonBody(c);
      if (bad) return malformed(c);
      if (empty && quirks.ejectNeedsBody) return refuse(c, 415, 'Base.1.8.UnsupportedMediaType', 'The request needs a JSON body.');
      return ejectMedia(c, ctx, x.s, x.m);
    });
    app.patch(`${prefix}/:id/VirtualMedia/:vm`, async (c) => {
      const x = slot(c);
      if (!x) return missing(c, c.req.path);
      if (quirks.insertVia !== 'patch' || x.m.locked) {
        return refuse(c, 405, 'Base.1.8.OperationNotAllowed', 'Use the InsertMedia and EjectMedia actions.', [], { Allow: 'GET' });
      }
      const pre = preconditionFails(c, x.m.etag, quirks);
      if (pre) return pre;
      const { body, bad } = await jsonBody(c);
      if (bad || !body) return malformed(c);
      if (body['Inserted'] === false || body['Image'] === null || body['Image'] === '') return ejectMedia(c, ctx, x.s, x.m);
      return insertMedia(c, ctx, x.s, x.m, body);
    });
  }
}
