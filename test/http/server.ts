// Starts the real server (startServer) in-process over the real serving core with a FakeResolver
// for images and a memory store, with logs captured in memory, for tests that drive it with real
// clients.

import pino from 'pino';
import { EditValidationError, IsoproxyError } from '../../src/errors.js';
import { loadConfig } from '../../src/config.js';
import { startServer, type RunningServer, type ServingService } from '../../src/http/server.js';
import { MetricsRegistry } from '../../src/metrics.js';
import { ClusterListener } from '../../src/cluster/listener.js';
import { MemoryNodeStore, type NodeStore } from '../../src/registry/store.js';
import type { NodePolicy } from '../../src/serving/nodes.js';
import { createServing, type Serving } from '../../src/serving/serving.js';
import { fakeSource, FakeResolver } from './fake-image.js';

export const TOKEN = 'test-token-0123456789abcdef';
export const ALLOWED = 'http://images.example/';

export interface TestServer {
  readonly running: RunningServer;
  readonly url: string;
  readonly resolver: FakeResolver;
  readonly store: NodeStore;
  readonly logs: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

export const POLICY: NodePolicy = {
  checkUpstreamAllowed(url: string) {
    if (!url.startsWith(ALLOWED)) throw new IsoproxyError('UPSTREAM_NOT_ALLOWED', `${url} is not under an allowed prefix`);
  },
  validateEdits(edits: unknown) {
    const append = (edits as { append?: string[] }).append ?? [];
    const bad = append.find((t) => /\s/.test(t));
    if (bad !== undefined) throw new EditValidationError(bad, 'tokens may not contain spaces');
  },
};

/** The real serving core over a fake resolver, with the fake source beside the store. */
export function fakeServing(store: NodeStore, resolver: FakeResolver, now?: () => Date): Serving {
  return createServing({
    store,
    images: resolver,
    policy: POLICY,
    sources: new Map([['fake', fakeSource(store, resolver)]]),
    ...(now ? { now } : {}),
  });
}

export async function startTestServer(
  options: {
    now?: () => Date;
    dataDir?: string;
    shutdownDeadline?: string;
    directHttp?: boolean;
    headersTimeout?: string;
    maxConnections?: number;
    /** Connections accepted by a cluster's listener (src/cluster/listener.ts) and handed over, as in a cluster. */
    handed?: boolean;
  } = {},
): Promise<TestServer> {
  const resolver = new FakeResolver();
  const store = new MemoryNodeStore();
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'debug' },
    {
      write: (line: string) => {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  );
  const metrics = new MetricsRegistry();
  metrics.collect('isoproxy_fake_total', 'A fake service metric.', 'counter', () => 7);
  const service: ServingService = {
    serving: fakeServing(store, resolver, options.now),
    // Images are served from the fake source: nodes added to the resolver, then the store's.
    imageRoutes: [{ prefix: '/iso', source: 'fake' }],
    metrics,
    async close() {},
  };
  const config = loadConfig([
    '--port',
    '0',
    '--data-dir',
    options.dataDir ?? '/nonexistent',
    '--admin-token',
    TOKEN,
    '--shutdown-deadline',
    options.shutdownDeadline ?? '2s',
    '--direct-http',
    options.directHttp === false ? 'off' : 'on',
    ...(options.headersTimeout ? ['--headers-timeout', options.headersTimeout] : []),
    ...(options.maxConnections !== undefined ? ['--max-connections', String(options.maxConnections)] : []),
  ]);
  const listener = options.handed ? new ClusterListener() : undefined;
  const handed = listener ? { url: await listener.listen(0, '127.0.0.1') } : undefined;
  const running = await startServer(config, { store, service, logger, ...(options.now ? { now: options.now } : {}), ...(handed ? { handed } : {}) });
  listener?.add(0, (socket) => running.adopt(socket));
  return {
    running,
    url: running.url,
    resolver,
    store,
    logs,
    close: async () => {
      listener?.close();
      await running.close();
    },
  };
}
