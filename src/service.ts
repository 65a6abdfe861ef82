// The composition root of `isoproxy serve`: config -> upstream, block cache, index, patch-set pool,
// node store -> an ImageResolver for the HTTP layer. Owned by the lead; filled in as the engine lands.

import type { Logger } from 'pino';
import type { ImageResolver } from './http/types.js';
import type { Config } from './config.js';
import type { NodeStore } from './registry/store.js';

export interface ServiceStats {
  /** Prometheus text lines contributed by the cache, upstream and remaster pool. */
  metricsText(): string;
}

export interface Service {
  readonly resolver: ImageResolver;
  readonly stats: ServiceStats;
  /** Validates a node's boot ISO URL against the allowlist; throws an IsoproxyError with a clear message. */
  checkUpstreamAllowed(url: string): void;
  /** Validates edits; throws EditValidationError. */
  validateEdits(edits: unknown): void;
  close(): Promise<void>;
}

export async function createService(_config: Config, _store: NodeStore, _logger: Logger): Promise<Service> {
  throw new Error('createService: the remaster engine has not landed yet');
}
