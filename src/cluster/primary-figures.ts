// A worker's view of the primary's cache figures: per version (bytes of a base's blocks on disk,
// bytes fetched from upstream for it) and for the whole cache (bytes used, blocks, evictions,
// upstream bytes). The primary writes and evicts every block and makes every upstream fetch, so
// only it can count them; a worker asks over IPC. The status page reads the figures synchronously
// once a second, so a read answers from the last answer and asks again in the background when that
// is older than TTL_MS: figures at most a second or two old.

import type { CacheStats, SourceStats } from '../cache/block-cache.js';

const TTL_MS = 1000;

export interface Figures {
  readonly sources: Readonly<Record<string, SourceStats>>;
  readonly cache: CacheStats;
}

export type AskFigures = (vks: readonly string[]) => Promise<Figures>;

export class PrimaryFigures {
  private figures: Figures | undefined;
  private at = 0;
  private asking = false;

  /** @param versions the versions this process serves now (asked about together) */
  constructor(
    private readonly ask: AskFigures | undefined,
    private readonly versions: () => readonly string[],
  ) {}

  of(vk: string): SourceStats {
    this.refresh();
    return this.figures?.sources[vk] ?? { cachedBytes: 0, upstreamBytes: 0 };
  }

  /** The whole cache, as of the primary's last answer (undefined before the first). */
  cache(): CacheStats | undefined {
    this.refresh();
    return this.figures?.cache;
  }

  private refresh(): void {
    if (!this.ask || this.asking || Date.now() - this.at < TTL_MS) return;
    this.asking = true;
    this.ask(this.versions())
      .then(
        (f) => {
          this.figures = f;
        },
        () => {},
      )
      .finally(() => {
        this.at = Date.now();
        this.asking = false;
      });
  }
}
