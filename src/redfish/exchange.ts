// One HTTP exchange with a BMC: send a request (a JSON body when there is one), read the answer
// with a cap on its size (a BMC's error page or a hostile service must not fill memory), and
// parse it as JSON when it is JSON. Timeouts and cancellation come from the caller; retries,
// sessions and meaning are the client's business.

import type { Agent, Dispatcher } from 'undici';
import { undici } from '../undici.js';

export interface RedfishResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: unknown;
}

const MAX_BODY_BYTES = 4 * 1024 * 1024;

export async function exchange(
  agent: Agent,
  url: string,
  method: Dispatcher.HttpMethod,
  headers: Record<string, string>,
  body: unknown,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<RedfishResponse> {
  let payload: string | undefined;
  const sent = { ...headers };
  if (body !== undefined) {
    payload = JSON.stringify(body);
    sent['content-type'] = 'application/json';
  }
  const res = await undici().request(url, {
    method,
    headers: sent,
    body: payload,
    dispatcher: agent,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    signal,
  });
  const flat: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers)) {
    if (v !== undefined) flat[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  const declared = Number(flat['content-length'] ?? '0');
  if (declared > MAX_BODY_BYTES) {
    await res.body.dump();
    throw new Error(`response body of ${declared} bytes exceeds ${MAX_BODY_BYTES}`);
  }
  const text = await readCapped(res.body, MAX_BODY_BYTES);
  let parsed: unknown;
  if (text.length > 0) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text.slice(0, 512);
    }
  }
  return { status: res.statusCode, headers: flat, body: parsed };
}

async function readCapped(body: AsyncIterable<Uint8Array> & { destroy?: (e?: Error) => unknown }, cap: number): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.length;
    if (total > cap) {
      body.destroy?.();
      throw new Error(`response body exceeds ${cap} bytes`);
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks).toString('utf8');
}
