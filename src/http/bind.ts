// Binding a listening socket (Node's HTTP server, or a cluster's listener) and naming it as a URL.

import type { Server } from 'node:net';

/** Binds `server` to host:port; resolves with http://host:port of the bound socket (the real port when 0 was asked). */
export async function bindServer(server: Server, port: number, host: string): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the server has no TCP address');
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${shown}:${address.port}`;
}
