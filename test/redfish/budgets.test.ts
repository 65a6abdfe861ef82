// Time budgets towards the BMC: a BMC that accepts connections and never answers (the simulator's
// 'hang' fault), or sends headers and then stalls its body ('stall-body'), fails attach and
// detach with REDFISH_TIMEOUT within the per-call and per-operation budgets, instead of holding
// the caller for minutes. Budgets are small here; the assertions are on codes and messages, not
// on wall-clock time, so a loaded machine cannot make them flaky.

import { afterEach, describe, expect, it } from 'vitest';
import { attach, detach } from '../../src/redfish/controller.js';
import { createBmcSimulator, type BmcSimulator } from '../../src/redfish/sim/index.js';
import { RedfishError } from '../../src/errors.js';

const IMAGE = 'http://isoproxy.example:8080/iso/node-1.iso';
let running: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(running.map((r) => r.close()));
  running = [];
});

async function start(): Promise<{ sim: BmcSimulator; url: string }> {
  const sim = createBmcSimulator({ fetch: 'none' });
  const server = await sim.listen(0, '127.0.0.1');
  running.push(server);
  return { sim, url: server.url };
}

async function failure(p: Promise<unknown>): Promise<RedfishError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RedfishError);
  return err as RedfishError;
}

const noSleep = async (): Promise<void> => {};
const creds = { username: 'admin', password: 'password', sleep: noSleep };

describe('a BMC that accepts connections but never answers', () => {
  it('fails attach with REDFISH_TIMEOUT once every retried call has timed out', async () => {
    const { sim, url } = await start();
    sim.state.faults.push({ path: /.*/, effect: 'hang', times: Infinity });
    const err = await failure(attach({ bmc: url, ...creds, imageUrl: IMAGE, timeoutMs: 100, retry: { attempts: 2 } }));
    expect(err).toMatchObject({ code: 'REDFISH_TIMEOUT', bmc: url, resource: '/redfish/v1/', step: 'read service root' });
    expect(err.message).toContain('no answer within 100 ms (after 2 attempts)');
  });

  it("stops at the operation's budget even when calls would still be retried", async () => {
    const { sim, url } = await start();
    sim.state.faults.push({ path: /.*/, effect: 'hang', times: Infinity });
    const err = await failure(attach({ bmc: url, ...creds, imageUrl: IMAGE, timeoutMs: 10_000, operationTimeoutMs: 300 }));
    expect(err).toMatchObject({ code: 'REDFISH_TIMEOUT', step: 'read service root' });
    expect(err.message).toContain("operation's budget of 300 ms");
  });

  it('fails in the middle of an attach naming the step, and still logs out', async () => {
    const { sim, url } = await start();
    sim.state.faults.push({ method: 'POST', path: 'InsertMedia', effect: 'hang', times: Infinity });
    // The budget leaves the steps before the insert seconds to spare on a loaded machine.
    const err = await failure(attach({ bmc: url, ...creds, imageUrl: IMAGE, timeoutMs: 60_000, operationTimeoutMs: 4_000 }));
    expect(err).toMatchObject({
      code: 'REDFISH_TIMEOUT',
      resource: '/redfish/v1/Systems/1/VirtualMedia/CD1/Actions/VirtualMedia.InsertMedia',
      step: 'insert',
    });
    expect(sim.state.sessions.size).toBe(0);
  });

  it('fails detach the same way', async () => {
    const { sim, url } = await start();
    sim.state.faults.push({ method: 'GET', path: '/redfish/v1/Systems', effect: 'hang', times: Infinity });
    const err = await failure(detach({ bmc: url, ...creds, timeoutMs: 60_000, operationTimeoutMs: 3_000 }));
    expect(err).toMatchObject({ code: 'REDFISH_TIMEOUT', resource: '/redfish/v1/Systems', step: 'list systems' });
    expect(sim.state.sessions.size).toBe(0);
  });
});

describe('a BMC that sends headers and then stalls the body', () => {
  it('fails with REDFISH_TIMEOUT from the per-call body timeout', async () => {
    const { sim, url } = await start();
    sim.state.faults.push({ method: 'GET', path: '/redfish/v1/Systems', effect: 'stall-body', times: Infinity });
    const err = await failure(attach({ bmc: url, ...creds, imageUrl: IMAGE, timeoutMs: 150, retry: { attempts: 2 } }));
    expect(err).toMatchObject({ code: 'REDFISH_TIMEOUT', resource: '/redfish/v1/Systems', step: 'list systems' });
    expect(err.message).toContain('no answer within 150 ms (after 2 attempts)');
  });
});

describe('a caller that gives up', () => {
  it('cancels the operation with REDFISH_ABORTED', async () => {
    const { sim, url } = await start();
    sim.state.faults.push({ method: 'POST', path: 'InsertMedia', effect: 'hang', times: Infinity });
    const caller = new AbortController();
    const pending = attach({ bmc: url, ...creds, imageUrl: IMAGE, signal: caller.signal });
    while (!sim.state.requests.some((r) => r.path.endsWith('/VirtualMedia/CD1') && r.method === 'GET')) await new Promise((r) => setTimeout(r, 10));
    caller.abort();
    const err = await failure(pending);
    expect(err).toMatchObject({ code: 'REDFISH_ABORTED' });
  });
});

describe('budgets leave a healthy BMC alone', () => {
  it('attaches with tight budgets when every answer is prompt', async () => {
    const { sim, url } = await start();
    const r = await attach({ bmc: url, ...creds, imageUrl: IMAGE, timeoutMs: 2_000, operationTimeoutMs: 10_000 });
    expect(r.image).toBe(IMAGE);
    expect(sim.system('1').vmedia[1]?.inserted).toBe(true);
  });
});
