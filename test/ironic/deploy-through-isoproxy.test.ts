// A ramdisk deploy by Debian's Ironic 21.4 (noauth) through `isoproxy serve --ironic-url`: the
// whole path of docs/ironic.md with real parts (flow and assertions in deploy-flow.ts).

import { afterAll, beforeAll, describe, it } from 'vitest';
import { scratchDir } from '../helpers/tools.js';
import { deploySteps, type DeploySteps } from './deploy-flow.js';
import { startIronic, type Ironic } from './harness.js';
import { ironicMissing } from './python-ironic.js';

const missing = ironicMissing();

describe.skipIf(missing !== undefined)(
  `Ironic 21.4 (noauth) deploys through isoproxy serve --ironic-url${missing ? ` (skipped: ${missing})` : ''}`,
  () => {
    let ironic: Ironic;
    let cleanup: () => Promise<void>;
    let steps: DeploySteps;

    beforeAll(async () => {
      const scratch = await scratchDir('isoproxy-ironic-e2e-');
      cleanup = scratch.cleanup;
      ironic = await startIronic(scratch.dir, { type: 'noauth' });
      steps = await deploySteps({ dir: scratch.dir, ironic, auth: { type: 'noauth' } }, 'noauth');
    }, 600_000);

    afterAll(async () => {
      await steps?.close();
      await ironic?.stop();
      await cleanup?.();
    });

    it(
      'deploys a node set up in Ironic only: Ironic inserts the isoproxy URL, the BMC reads it by ranges, the bytes equal materialize',
      () => steps.deploy(),
      300_000,
    );
    it('serves a new kernel_append_params from Ironic under a new ETag once the cache TTL has passed', () => steps.change(), 60_000);
    it(
      'refuses a node without a base and nodes outside the provision states (404, reason logged), asking Ironic per period not per range',
      () => steps.refusals(),
      300_000,
    );
  },
);
