// A misbehaving upstream in a box: an HTTP proxy on 127.0.0.1 that sits between isoproxy and a
// real upstream and, request by request, injects the faults real web servers and networks
// produce: resets at an offset, stalls (before the headers or mid-body), 5xx bursts, bodies cut
// short, a 206 whose Content-Range lies, an ETag that changes mid-wave, Range ignored, and
// redirects to a host outside the allowlist. A test chooses each request's fault with `choose`
// (seeded, so a failing run can be replayed) and reads back what was injected.

import { request as httpRequest, createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Fault =
  | { readonly kind: 'pass' }
  /** Destroy the socket after this many body bytes (0: right after the headers). */
  | { readonly kind: 'reset'; readonly afterBytes: number }
  /** Hold the response for `ms`: before the headers when afterBytes < 0, else after that many body bytes. */
  | { readonly kind: 'stall'; readonly afterBytes: number; readonly ms: number }
  /** Answer this status with a small body instead of forwarding. */
  | { readonly kind: 'status'; readonly status: number }
  /** Send the upstream's headers (with their Content-Length) and end the body early, cleanly. */
  | { readonly kind: 'truncate'; readonly afterBytes: number }
  /** A 206 whose Content-Range names other bytes than the ones sent. */
  | { readonly kind: 'wrong-range' }
  /** Forward, with a different ETag than the upstream's. */
  | { readonly kind: 'etag-change'; readonly etag: string }
  /** Forward without the Range header: 200 and the whole file. */
  | { readonly kind: 'ignore-range' }
  /** 302 to this location. */
  | { readonly kind: 'redirect'; readonly location: string };

export interface FaultRequest {
  readonly method: string;
  readonly path: string;
  readonly range: string | undefined;
  /** 0-based count of requests this proxy has seen. */
  readonly seq: number;
}

export interface FaultProxy {
  readonly origin: string;
  url(path: string): string;
  /** Every request with the fault it got. */
  readonly log: Array<FaultRequest & { fault: Fault['kind'] }>;
  /**
   * Connections the client (isoproxy) has not closed (for leak checks). A connection the client
   * has closed but this proxy is still closing its own side of is not the client's leak.
   */
  openConnections(): number;
  /** What the connections counted by openConnections carried, to name a leak when there is one. */
  describeOpen(): string[];
  close(): Promise<void>;
}

export interface FaultProxyOptions {
  /** The real upstream's origin, e.g. http://127.0.0.1:1234. */
  readonly target: string;
  readonly choose: (req: FaultRequest) => Fault;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  const log: FaultProxy['log'] = [];
  const sockets = new Set<Socket>();
  /** Sockets whose client has sent its FIN or gone: no longer held open by the client. */
  const clientGone = new WeakSet<Socket>();
  const carried = new WeakMap<Socket, string[]>();
  let seq = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const info: FaultRequest = { method: req.method ?? 'GET', path: req.url ?? '/', range: req.headers.range, seq: seq++ };
    const fault = options.choose(info);
    log.push({ ...info, fault: fault.kind });
    if (req.socket) carried.get(req.socket)?.push(`#${info.seq} ${info.method} ${info.range ?? 'whole'} ${fault.kind}`);
    if (fault.kind === 'status') {
      res.writeHead(fault.status, { 'content-type': 'text/plain', 'content-length': '6' }).end('fault\n');
      return;
    }
    if (fault.kind === 'redirect') {
      res.writeHead(302, { location: fault.location, 'content-length': '0' }).end();
      return;
    }
    if (fault.kind === 'stall' && fault.afterBytes < 0) await sleep(fault.ms);
    const headers: Record<string, string | string[] | undefined> = { ...req.headers, host: target.host };
    if (fault.kind === 'ignore-range') {
      delete headers['range'];
      delete headers['if-range'];
    }
    const upstream = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers });
    req.on('close', () => {
      if (!res.writableEnded) upstream.destroy();
    });
    upstream.on('error', () => res.destroy());
    upstream.on('response', (up) => void forward(up, res, fault));
    upstream.end();
  };

  const forward = async (up: IncomingMessage, res: ServerResponse, fault: Fault): Promise<void> => {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(up.headers)) if (v !== undefined) headers[k] = v;
    if (fault.kind === 'etag-change') headers['etag'] = fault.etag;
    if (fault.kind === 'wrong-range' && typeof headers['content-range'] === 'string') {
      const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(headers['content-range']);
      if (m) headers['content-range'] = `bytes ${Number(m[1]) + 1}-${Number(m[2]) + 1}/${m[3]}`;
    }
    res.writeHead(up.statusCode ?? 502, headers);
    const cut = fault.kind === 'reset' || fault.kind === 'truncate' || fault.kind === 'stall' ? fault.afterBytes : Infinity;
    let sent = 0;
    try {
      for await (const chunk of up as AsyncIterable<Buffer>) {
        if (sent + chunk.length > cut && cut >= 0) {
          const head = chunk.subarray(0, cut - sent);
          if (head.length > 0 && !res.write(head)) await new Promise((r) => res.once('drain', r));
          sent = cut;
          if (fault.kind === 'reset') {
            res.socket?.resetAndDestroy();
            up.destroy();
            return;
          }
          if (fault.kind === 'truncate') {
            // The declared length cannot be met: closing the connection is how a server ends early.
            res.socket?.end();
            up.destroy();
            return;
          }
          if (fault.kind === 'stall') {
            await sleep(fault.ms);
            const rest = chunk.subarray(head.length);
            if (!res.write(rest)) await new Promise((r) => res.once('drain', r));
            sent += rest.length;
            continue;
          }
        }
        sent += chunk.length;
        if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
      }
      res.end();
    } catch {
      res.destroy();
    }
  };

  const server = createServer((req, res) => void handle(req, res).catch(() => res.destroy()));
  server.on('connection', (s) => {
    sockets.add(s);
    carried.set(s, []);
    s.on('end', () => clientGone.add(s));
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    url: (path) => `${origin}${path}`,
    log,
    openConnections: () => [...sockets].filter((s) => !clientGone.has(s)).length,
    describeOpen: () =>
      [...sockets]
        .filter((s) => !clientGone.has(s))
        .map((s) => `port ${s.remotePort}: ${(carried.get(s) ?? []).slice(-4).join('; ') || 'no request'}`),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A deterministic fault schedule: `rate` of the eligible requests get a fault drawn from `kinds`. */
export function faultSchedule(
  random: () => number,
  rate: number,
  kinds: ReadonlyArray<(req: FaultRequest, random: () => number) => Fault>,
  eligible: (req: FaultRequest) => boolean = () => true,
): (req: FaultRequest) => Fault {
  return (req) => {
    if (!eligible(req) || random() >= rate) return { kind: 'pass' };
    const pick = kinds[Math.floor(random() * kinds.length)];
    return pick ? pick(req, random) : { kind: 'pass' };
  };
}
