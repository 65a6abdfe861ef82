// The deploy flow of deploy-through-isoproxy.test.ts with Ironic behind http_basic: isoproxy
// reads the password from a file (--ironic-password-file), as an operator would configure it.

import { afterAll, beforeAll, describe, it } from 'vitest';
import { scratchDir } from '../helpers/tools.js';
import { deploySteps, type DeploySteps } from './deploy-flow.js';
import { startIronic, type Ironic } from './harness.js';
import { ironicMissing } from './python-ironic.js';

const missing = ironicMissing();
const USER = 'isoproxy';
const PASSWORD = 'basic-e2e-pw-7Hq2';

describe.skipIf(missing !== undefined)(
  `Ironic 21.4 (http_basic) deploys through isoproxy serve --ironic-url${missing ? ` (skipped: ${missing})` : ''}`,
  () => {
    let ironic: Ironic;
    let cleanup: () => Promise<void>;
    let steps: DeploySteps;

    beforeAll(async () => {
      const scratch = await scratchDir('isoproxy-ironic-e2e-basic-');
      cleanup = scratch.cleanup;
      ironic = await startIronic(scratch.dir, { type: 'http_basic', username: USER, password: PASSWORD });
      steps = await deploySteps({ dir: scratch.dir, ironic, auth: { type: 'http_basic', username: USER, password: PASSWORD } }, 'basic');
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
