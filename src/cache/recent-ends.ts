// Where the recent streams of a base version ended. A stream that starts where one ended (or at
// byte 0) is a sequential reader, a BMC reading range after range, and is read ahead past its
// own end; any other reader is read ahead only inside its range. Shared by the primary's cache
// (block-stream.ts) and a cluster worker's (src/cluster/remote-cache.ts).

/** Ends remembered per base version. */
const KEPT = 32;

export class RecentEnds {
  private readonly ends: number[] = [];

  /** Whether a stream starting at `offset` continues a recent one (or starts the image). */
  continues(offset: number): boolean {
    return offset === 0 || this.ends.includes(offset);
  }

  /** A stream ended at `end` (exclusive). */
  note(end: number): void {
    this.ends.push(end);
    if (this.ends.length > KEPT) this.ends.shift();
  }
}
