// A ResponseOut without a connection, for the writers' tests that check what a writer decides
// (which thread sends, what a body's end is called) with a recording sender standing in for the
// addon. Writes succeed at once; `close()` is the client closing the connection (Node destroys
// the response and emits 'close').

import type { Socket } from 'node:net';
import type { ResponseOut } from '../../src/http/out.js';

export interface FakeResponse {
  readonly out: ResponseOut;
  /** The client closes the connection. */
  close(): void;
  /** Whether the writer ended the response. */
  ended(): boolean;
}

export function fakeResponse(): FakeResponse {
  const socket = { _handle: { fd: 1000 }, destroyed: false, writableLength: 0 } as unknown as Socket;
  let destroyed = false;
  let ended = false;
  const onClose: Array<() => void> = [];
  const out: ResponseOut = {
    socket,
    get destroyed() {
      return destroyed;
    },
    writableFinished: false,
    headersSent: true,
    writeHead: () => undefined,
    write: (_chunk, callback) => {
      callback?.(null);
      return true;
    },
    end: () => {
      ended = true;
    },
    destroy: () => {
      destroyed = true;
    },
    on: (event, listener) => {
      if (event === 'close') onClose.push(listener);
    },
    once: () => undefined,
    off: () => undefined,
    takeHead: () => undefined,
  };
  return {
    out,
    close: () => {
      destroyed = true;
      for (const l of onClose) l();
    },
    ended: () => ended,
  };
}
