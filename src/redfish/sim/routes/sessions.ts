// SessionService (DSP0266 §13.3.4): POST a session to get an X-Auth-Token and a Location to
// DELETE at logout. Profiles without sessions answer 405 so clients fall back to Basic auth.

import { randomUUID } from 'node:crypto';
import type { Hono } from 'hono';
import { refuse, type SimContext, type SimEnv } from '../context.js';
import { jsonBody } from '../middleware/json-body.js';
import { ROOT, sessionBody, sessionService } from '../render.js';
import { str } from '../../json.js';

const SESSIONS = `${ROOT}/SessionService/Sessions`;

export function sessionRoutes(app: Hono<SimEnv>, ctx: SimContext): void {
  const { state, quirks } = ctx;
  let nextSession = 1;
  const noSession = (c: Parameters<typeof refuse>[0]): Response => refuse(c, 404, 'Base.1.8.ResourceMissingAtURI', 'No such session.');

  app.get(`${ROOT}/SessionService`, (c) => c.json(sessionService(quirks)));
  app.get(SESSIONS, (c) =>
    c.json({
      '@odata.id': SESSIONS,
      '@odata.type': '#SessionCollection.SessionCollection',
      Name: 'Sessions',
      'Members@odata.count': state.sessions.size,
      Members: [...state.sessions.values()].map((s) => ({ '@odata.id': `${SESSIONS}/${s.id}` })),
    }),
  );
  app.post(SESSIONS, async (c) => {
    if (!quirks.sessions) return refuse(c, 405, 'Base.1.8.OperationNotAllowed', 'Sessions are not supported; use Basic authentication.');
    const { body } = await jsonBody(c);
    if (str(body?.['UserName']) !== ctx.username || str(body?.['Password']) !== ctx.password) {
      return refuse(c, 401, 'Base.1.8.NoValidSession', 'Invalid user name or password.');
    }
    const id = String(nextSession++);
    // Tokens are credentials: unpredictable on purpose (the one place the simulator uses randomness).
    const token = randomUUID();
    state.sessions.set(token, { id, user: ctx.username });
    return c.json(sessionBody(id, ctx.username, true), 201, { 'X-Auth-Token': token, Location: `${SESSIONS}/${id}` });
  });
  app.get(`${SESSIONS}/:id`, (c) => {
    const s = [...state.sessions.values()].find((x) => x.id === c.req.param('id'));
    return s ? c.json(sessionBody(s.id, s.user, false)) : noSession(c);
  });
  app.delete(`${SESSIONS}/:id`, (c) => {
    for (const [token, s] of state.sessions) {
      if (s.id === c.req.param('id')) {
        state.sessions.delete(token);
        return c.body(null, 204);
      }
    }
    return noSession(c);
  });
}
