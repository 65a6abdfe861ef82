// Starts the real server (startServer) in-process over a FakeResolver and a memory store, with
// logs captured in memory, for tests that drive it with real clients.

import pino from 'pino';
import { EditValidationError, IsoproxyError } from '../../src/errors.js';
import { loadConfig } from '../../src/config.js';
import { startServer, type RunningServer, type ServingService } from '../../src/commands/serve.js';
import { MemoryNodeStore, type NodeStore } from '../../src/registry/store.js';
import { FakeResolver } from './fake-image.js';

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

export async function startTestServer(options: { now?: () => Date; dataDir?: string; shutdownDeadline?: string } = {}): Promise<TestServer> {
  const resolver = new FakeResolver();
  const store = new MemoryNodeStore();
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => { logs.push(JSON.parse(line) as Record<string, unknown>); } });
  const service: ServingService = {
    resolver,
    stats: { metricsText: () => '# HELP isoproxy_fake_total A fake service metric.\n# TYPE isoproxy_fake_total counter\nisoproxy_fake_total 7\n' },
    checkUpstreamAllowed(url: string) {
      if (!url.startsWith(ALLOWED)) throw new IsoproxyError('UPSTREAM_NOT_ALLOWED', `${url} is not under an allowed prefix`);
    },
    validateEdits(edits: unknown) {
      const append = (edits as { append?: string[] }).append ?? [];
      const bad = append.find((t) => /\s/.test(t));
      if (bad !== undefined) throw new EditValidationError(bad, 'tokens may not contain spaces');
    },
    async close() {},
  };
  const config = loadConfig(['--port', '0', '--data-dir', options.dataDir ?? '/nonexistent', '--admin-token', TOKEN, '--shutdown-deadline', options.shutdownDeadline ?? '2s']);
  const running = await startServer(config, { store, service, logger, ...(options.now ? { now: options.now } : {}) });
  return { running, url: running.url, resolver, store, logs, close: () => running.close() };
}
