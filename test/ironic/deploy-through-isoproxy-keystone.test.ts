// The deploy flow of deploy-through-isoproxy.test.ts with Ironic behind Debian's Keystone
// (sqlite, `keystone-manage bootstrap`): isoproxy authenticates with an application credential
// whose secret it reads from a file. Slow (Keystone validates every Ironic call), so on its own.

import { afterAll, beforeAll, describe, it } from 'vitest';
import { hasTool, scratchDir } from '../helpers/tools.js';
import { deploySteps, type DeploySteps } from './deploy-flow.js';
import { startIronic, startKeystone, type Ironic, type Keystone } from './harness.js';
import { ironicMissing } from './python-ironic.js';

const missing = ironicMissing() ?? (hasTool('keystone-manage') ? undefined : 'keystone is not installed (apt-get install keystone)');

describe.skipIf(missing !== undefined)(
  `Ironic 21.4 (keystone) deploys through isoproxy serve --ironic-url${missing ? ` (skipped: ${missing})` : ''}`,
  () => {
    let keystone: Keystone;
    let ironic: Ironic;
    let cleanup: () => Promise<void>;
    let steps: DeploySteps;

    beforeAll(async () => {
      const scratch = await scratchDir('isoproxy-ironic-e2e-keystone-');
      cleanup = scratch.cleanup;
      keystone = await startKeystone(scratch.dir);
      ironic = await startIronic(scratch.dir, { type: 'keystone', keystone });
      const cred = await keystone.createApplicationCredential('isoproxy-e2e');
      steps = await deploySteps(
        { dir: scratch.dir, ironic, auth: { type: 'keystone', authUrl: keystone.authUrl, appCredId: cred.id, appCredSecret: cred.secret } },
        'keystone',
      );
    }, 900_000);

    afterAll(async () => {
      await steps?.close();
      await ironic?.stop();
      await keystone?.stop();
      await cleanup?.();
    });

    it(
      'deploys a node set up in Ironic only: Ironic inserts the isoproxy URL, the BMC reads it by ranges, the bytes equal materialize',
      () => steps.deploy(),
      480_000,
    );
    it('serves a new kernel_append_params from Ironic under a new ETag once the cache TTL has passed', () => steps.change(), 120_000);
    it(
      'refuses a node without a base and nodes outside the provision states (404, reason logged), asking Ironic per period not per range',
      () => steps.refusals(),
      480_000,
    );
  },
);
