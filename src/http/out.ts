// What the image route's writers need of a response: Node's ServerResponse has all of it, and so
// does the direct server's response (direct/response.ts), which answers image requests on a raw
// socket without Node's HTTP objects. Writers depend on this, never on either class.

import type { Socket } from 'node:net';

export interface ResponseOut {
  /** The connection while the response owns it; null once it is done (Node detaches it). */
  readonly socket: Socket | null;
  /** The request's connection, also for a response still queued behind another. */
  readonly req?: { readonly socket: Socket | null };
  readonly destroyed: boolean;
  /** Everything, the end included, is written to the socket. */
  readonly writableFinished: boolean;
  readonly headersSent: boolean;
  writeHead(status: number, headers: Record<string, string>): unknown;
  /** False when the socket's buffer is full: wait for 'drain'. */
  write(chunk: Uint8Array, callback?: (err?: Error | null) => void): boolean;
  end(chunk?: string | Uint8Array): unknown;
  destroy(): unknown;
  on(event: 'close' | 'drain', listener: () => void): unknown;
  once(event: 'close' | 'drain', listener: () => void): unknown;
  off(event: 'close' | 'drain', listener: () => void): unknown;
  /**
   * The head written by writeHead and not yet sent, handed to a sender that writes it with the
   * first bytes; undefined when it is sent, or anything is queued on the socket.
   */
  takeHead?(): Buffer | undefined;
}
