// The service root (DSP0266 §8.1, open to everyone), the version document at /redfish, and the
// TaskService with the task monitors that 202 answers point at.

import type { Hono } from 'hono';
import { refuse, type SimContext, type SimEnv } from '../context.js';
import { ROOT, serviceRoot, taskBody, taskService } from '../render.js';

export function serviceRoutes(app: Hono<SimEnv>, ctx: SimContext): void {
  app.get('/redfish', (c) => c.json({ v1: `${ROOT}/` }));
  app.get(ROOT, (c) => c.json(serviceRoot(ctx.quirks)));
  app.get(`${ROOT}/TaskService`, (c) => c.json(taskService()));
  app.get(`${ROOT}/TaskService/TaskMonitors/:id`, (c) => {
    const id = c.req.param('id');
    const task = ctx.tasks.get(id);
    if (!task) return refuse(c, 404, 'Base.1.8.ResourceMissingAtURI', 'No such task.');
    if (task.polls > 0) {
      task.polls--;
      return c.json(taskBody(id, { running: true }), 202, { Location: `${ROOT}/TaskService/TaskMonitors/${id}`, 'Retry-After': '1' });
    }
    return c.json(taskBody(id, { running: false, fail: task.fail }));
  });
}
