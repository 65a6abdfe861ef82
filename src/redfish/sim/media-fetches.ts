// The image reads the simulated BMCs run after an insert (fetch.ts does the reading): one per
// slot, aborted by an eject or a new insert, awaited by tests through `whenFetched`.

import type { Logger } from 'pino';
import { fetchImage, idleProgress, type FetchOptions } from './fetch.js';
import type { SimSystem, SimVirtualMedia } from './state.js';

export type ExpectTokens = readonly string[] | ((systemId: string, imageUrl: string) => readonly string[]);

export class MediaFetches {
  private readonly running = new Map<SimVirtualMedia, { abort: AbortController; done: Promise<void> }>();

  constructor(
    private readonly options: Omit<FetchOptions, 'expect'>,
    private readonly expect: ExpectTokens | undefined,
    private readonly log: Logger,
  ) {}

  get mode(): FetchOptions['mode'] {
    return this.options.mode;
  }

  start(s: SimSystem, m: SimVirtualMedia, image: string): void {
    if (this.options.mode === 'none') return;
    const expect = typeof this.expect === 'function' ? this.expect(s.id, image) : (this.expect ?? []);
    const abort = new AbortController();
    const progress = idleProgress(this.options.mode);
    m.fetch = progress;
    const done = fetchImage(image, { ...this.options, expect }, progress, abort.signal).then(() => {
      this.log.info(
        {
          system: s.id,
          media: m.id,
          state: progress.state,
          bytes: progress.bytesRead,
          requests: progress.requests,
          verified: progress.verified,
          error: progress.error,
        },
        'image fetch finished',
      );
    });
    this.running.set(m, { abort, done });
  }

  abort(m: SimVirtualMedia): void {
    this.running.get(m)?.abort.abort();
  }

  async settled(m: SimVirtualMedia): Promise<void> {
    await this.running.get(m)?.done;
  }

  async closeAll(): Promise<void> {
    for (const f of this.running.values()) f.abort.abort();
    await Promise.all([...this.running.values()].map((f) => f.done));
  }
}
