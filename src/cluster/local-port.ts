// The two ends of a channel port (src/cluster/ipc.ts) inside one process. What one end sends, the
// other receives on a later turn as a structured clone, in order, as over Node's IPC with the
// "advanced" serialization: the primary's own serving part talks to the primary's owning part
// through it with the same requests, copies and errors as a forked worker, so nothing it is handed
// aliases the cache's, the store's or the patch-set memo's own objects.

import type { Port } from './ipc.js';

type Listener = (message: unknown) => void;

class LocalPort implements Port {
  peer: LocalPort | undefined;
  readonly listeners = new Set<Listener>();
  closed = false;

  send(message: unknown, _handle?: unknown, _options?: unknown, callback?: (err: Error | null) => void): boolean {
    const peer = this.peer;
    if (this.closed || !peer || peer.closed) {
      const err = new Error('local channel closed');
      if (callback) setImmediate(() => callback(err));
      return false;
    }
    const copy = structuredClone(message);
    setImmediate(() => {
      for (const listener of peer.listeners) listener(copy);
      callback?.(null);
    });
    return true;
  }

  on(_event: 'message', listener: Listener): this {
    this.listeners.add(listener);
    return this;
  }

  off(_event: 'message', listener: Listener): this {
    this.listeners.delete(listener);
    return this;
  }

  /** Nothing more is sent from or delivered to this end. */
  close(): void {
    this.closed = true;
    this.listeners.clear();
  }
}

/** Two connected ends. */
export function localPorts(): [LocalPort, LocalPort] {
  const a = new LocalPort();
  const b = new LocalPort();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

export type { LocalPort };
