// A stand-in for the `/ironic/<node>.iso` route (the lead wires the real one into the serving
// core): it asks an IronicSource for the node, answers 404 / 503 (with Retry-After) the way the
// route will, and otherwise serves the base image's bytes unchanged, with single ranges. Each
// request is recorded with who sent it (Ironic's python-requests or the simulated BMC's undici)
// and the node's provision state at that moment, read from Ironic's API: the evidence for the
// default provision-state set.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { NotFoundError } from '../../src/errors.js';
import { IronicNodeRefusedError, IronicUnavailableError } from '../../src/ironic/errors.js';
import type { IronicSource } from '../../src/ironic/source.js';

export interface Observation {
  readonly method: string;
  readonly node: string;
  readonly range: string | undefined;
  readonly agent: string;
  /** provision_state (→ target_provision_state) when the request arrived. */
  readonly state: string;
  readonly status: number;
  readonly reason?: string;
}

export interface ObservingServer {
  readonly url: string;
  readonly observations: Observation[];
  close(): Promise<void>;
}

export async function startObservingServer(source: IronicSource, ironicUrl: string, bases: ReadonlyMap<string, Buffer>): Promise<ObservingServer> {
  const observations: Observation[] = [];
  const stateOf = async (node: string): Promise<string> => {
    try {
      const res = await request(`${ironicUrl}/v1/nodes/${encodeURIComponent(node)}?fields=provision_state,target_provision_state`, {
        headers: { 'x-openstack-ironic-api-version': '1.31' },
      });
      const body = (await res.body.json()) as { provision_state?: string; target_provision_state?: string | null };
      return body.target_provision_state ? `${body.provision_state} -> ${body.target_provision_state}` : String(body.provision_state);
    } catch {
      return '(unknown)';
    }
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const m = /^\/ironic\/([^/?]+)\.iso$/.exec(req.url ?? '');
    const node = m ? decodeURIComponent(m[1]!) : '';
    const state = await stateOf(node);
    const record = (status: number, reason?: string): void => {
      observations.push({
        method: req.method ?? '',
        node,
        range: req.headers.range,
        agent: String(req.headers['user-agent'] ?? ''),
        state,
        status,
        ...(reason ? { reason } : {}),
      });
    };
    let spec;
    try {
      spec = m ? await source.lookup(node) : undefined;
    } catch (err) {
      if (err instanceof IronicUnavailableError) {
        record(503);
        res.writeHead(503, { 'retry-after': String(err.retryAfterS) }).end();
      } else if (err instanceof NotFoundError) {
        record(404, err instanceof IronicNodeRefusedError ? err.reason : undefined);
        res.writeHead(404).end();
      } else {
        record(500, (err as Error).message);
        res.writeHead(500).end();
      }
      return;
    }
    const image = spec ? bases.get(spec.bootIso) : undefined;
    if (!image) {
      record(404, spec ? 'base not in this stand-in' : 'unknown node');
      res.writeHead(404).end();
      return;
    }
    const size = image.length;
    const r = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (!r) {
      record(200);
      res.writeHead(200, { 'content-length': size, 'accept-ranges': 'bytes', etag: '"stand-in"' });
      res.end(req.method === 'HEAD' ? undefined : image);
      return;
    }
    const start = Number(r[1]);
    const end = r[2] !== '' ? Math.min(Number(r[2]), size - 1) : size - 1;
    if (start >= size || end < start) {
      record(416);
      res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
      return;
    }
    record(206);
    res.writeHead(206, {
      'content-length': end - start + 1,
      'content-range': `bytes ${start}-${end}/${size}`,
      'accept-ranges': 'bytes',
      etag: '"stand-in"',
    });
    res.end(req.method === 'HEAD' ? undefined : image.subarray(start, end + 1));
  };
  const server = createServer((req, res) => {
    void handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    observations,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
