// A throttled upstream for the cold-cache benchmarks: a TCP proxy on loopback in front of nginx
// whose server-to-client bytes share one token bucket, so the aggregate rate over every
// connection is capped (nginx's limit_rate caps each connection alone, and the block cache opens
// several). Requests pass through untouched; it counts the bytes it forwarded, which is what
// "upstream bytes fetched" means independently of isoproxy's own counters.

import { createServer, connect, type Server, type Socket } from 'node:net';

export interface Throttle {
  readonly port: number;
  /** Bytes sent from the upstream to clients since start (or the last reset). */
  bytes(): number;
  connections(): number;
  reset(): void;
  close(): Promise<void>;
}

/** Proxies 127.0.0.1:<port> to 127.0.0.1:<targetPort>, downstream capped at `bytesPerSecond` in total. */
export async function startThrottle(targetPort: number, bytesPerSecond: number): Promise<Throttle> {
  // Token bucket: `tokens` may go negative; a socket that drives it negative pauses until the
  // bucket has refilled to zero. Burst allowance: 50 ms worth of bytes.
  const burst = bytesPerSecond / 20;
  let tokens = burst;
  let last = performance.now();
  let forwarded = 0;
  let accepted = 0;
  const sockets = new Set<Socket>();
  const refill = (): void => {
    const now = performance.now();
    tokens = Math.min(burst, tokens + ((now - last) / 1000) * bytesPerSecond);
    last = now;
  };
  const server: Server = createServer((client) => {
    accepted++;
    const upstream = connect({ port: targetPort, host: '127.0.0.1' });
    sockets.add(client);
    sockets.add(upstream);
    client.setNoDelay(true);
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      refill();
      tokens -= chunk.length;
      forwarded += chunk.length;
      const flushed = client.write(chunk);
      if (tokens < 0) {
        upstream.pause();
        setTimeout(
          () => {
            if (flushed || client.writableLength === 0) upstream.resume();
            else client.once('drain', () => upstream.resume());
          },
          (-tokens / bytesPerSecond) * 1000,
        );
      } else if (!flushed) {
        upstream.pause();
        client.once('drain', () => upstream.resume());
      }
    });
    upstream.on('end', () => client.end());
    const done = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', done);
    upstream.on('error', done);
    client.on('close', done);
    upstream.on('close', done);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    bytes: () => forwarded,
    connections: () => accepted,
    reset() {
      forwarded = 0;
      accepted = 0;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
