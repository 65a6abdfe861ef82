// A response's client going away, seen from the response or from its connection (pipelined
// responses never close themselves when the connection does).

import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResponseOut } from '../../src/http/out.js';
import { whenClosed } from '../../src/http/response-gone.js';
import { RawConnection, request } from '../helpers/raw-connection.js';
import { pseudoRandomBytes } from './fake-image.js';
import { startTestServer, type TestServer } from './server.js';

function fakeResponse(socket: EventEmitter): ResponseOut & EventEmitter {
  return Object.assign(new EventEmitter(), { req: { socket: socket as unknown as Socket } }) as unknown as ResponseOut & EventEmitter;
}

describe('whenClosed', () => {
  it('holds one listener on a connection however many responses wait on it, and calls each once', () => {
    const socket = new EventEmitter();
    const calls: number[] = [];
    const outs = Array.from({ length: 30 }, (_, i) => {
      const out = fakeResponse(socket);
      whenClosed(out, () => calls.push(i));
      return out;
    });
    expect(socket.listenerCount('close')).toBe(1);
    outs[3]!.emit('close');
    outs[3]!.emit('close');
    expect(calls).toEqual([3]);
    socket.emit('close');
    expect(calls.sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    // The responses closing after their connection call nobody again.
    for (const out of outs) out.emit('close');
    expect(calls).toHaveLength(30);
  });

  it('forgets a response that closed, so a keep-alive connection does not collect them', () => {
    const socket = new EventEmitter();
    let gone = 0;
    for (let i = 0; i < 1000; i++) {
      const out = fakeResponse(socket);
      whenClosed(out, () => gone++);
      out.emit('close');
    }
    expect(gone).toBe(1000);
    socket.emit('close');
    expect(gone).toBe(1000);
    expect(socket.listenerCount('close')).toBe(0);
  });
});

describe('pipelined image requests through Node’s server', () => {
  let server: TestServer;
  const IMAGE = pseudoRandomBytes(64 * 1024);
  beforeAll(async () => {
    server = await startTestServer({ directHttp: false });
    server.resolver.add('n', { data: IMAGE });
  });
  afterAll(async () => server?.close());

  it('answers 12 at once (the per-client cap is 16) without a listener-leak warning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      const conn = await RawConnection.open(server.url);
      conn.write(Array.from({ length: 12 }, (_, i) => request('/iso/n.iso', `bytes=${i * 100}-${i * 100 + 99}`)).join(''));
      for (let i = 0; i < 12; i++) {
        const r = await conn.response();
        expect(r.status).toBe(206);
        expect(Buffer.from(r.body).equals(Buffer.from(IMAGE.subarray(i * 100, i * 100 + 100)))).toBe(true);
      }
      conn.close();
      // Warnings are emitted on the next tick.
      await new Promise((r) => setTimeout(r, 20));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => w.includes('MaxListeners'))).toEqual([]);
  });
});
