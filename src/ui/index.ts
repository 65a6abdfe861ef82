// The status view's HTTP side: routes to mount at the server's root, and their auth.
export { createStatusRoutes, type StatusRoutesOptions } from './routes.js';
export { statusAuth, tokenChecker, type StatusAuth } from './auth.js';
export { parseStatusQuery } from './query.js';
