// A URL as a byte source for `isoproxy inspect`: src/upstream's HTTP source (every 206 checked)
// behind a small in-memory LRU of 64 KiB blocks, so the many small metadata reads of buildIndex
// cost a few range requests instead of one each.

import { checkRange, type ByteSource } from '../../byte-source.js';
import { openHttpSource } from '../../upstream/http-source.js';

const BLOCK = 64 * 1024;
const MAX_BLOCKS = 256;

export async function openUrlSource(url: string): Promise<ByteSource & { close(): Promise<void> }> {
  const upstream = await openHttpSource(url);
  const size = upstream.size;
  const blocks = new Map<number, Uint8Array>();
  const block = async (n: number): Promise<Uint8Array> => {
    let b = blocks.get(n);
    if (b) {
      blocks.delete(n);
      blocks.set(n, b); // most recently used last
      return b;
    }
    const start = n * BLOCK;
    b = await upstream.read(start, Math.min(size, start + BLOCK) - start);
    blocks.set(n, b);
    if (blocks.size > MAX_BLOCKS) blocks.delete(blocks.keys().next().value!);
    return b;
  };
  return {
    size,
    close: () => upstream.close(),
    async read(offset, length) {
      checkRange(offset, length, size);
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const at = offset + done;
        const b = await block(Math.floor(at / BLOCK));
        const within = at % BLOCK;
        const n = Math.min(length - done, b.length - within);
        out.set(b.subarray(within, within + n), done);
        done += n;
      }
      return out;
    },
  };
}
