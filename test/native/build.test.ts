// The addon's build (src/native/build.mjs, run by `npm run build`): it compiles with the system's
// C compiler and Node's own headers, and on a machine without a compiler it says so and succeeds,
// so `npm install && npm start` still works there (isoproxy then copies). Run on a copy of the two
// files, so the repository's dist/ is not touched.

import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = mkdtempSync(join(tmpdir(), 'isoproxy-native-build-'));
mkdirSync(join(root, 'src/native'), { recursive: true });
for (const f of ['build.mjs', 'sendfile.c', 'sender.c', 'sender.h'])
  copyFileSync(join(import.meta.dirname, '../../src/native', f), join(root, 'src/native', f));
const out = join(root, 'dist/native/sendfile.node');
const hasCc = spawnSync('cc', ['--version']).status === 0;

afterAll(() => rmSync(root, { recursive: true, force: true }));

function build(env: NodeJS.ProcessEnv): { status: number | null; text: string } {
  const r = spawnSync(process.execPath, [join(root, 'src/native/build.mjs')], { env: { ...process.env, ...env }, encoding: 'utf8' });
  return { status: r.status, text: `${r.stdout}${r.stderr}` };
}

describe('the sendfile addon build', () => {
  it('without a C compiler, says so and succeeds, building nothing', () => {
    const r = build({ CC: join(root, 'no-such-cc') });
    expect(r.status).toBe(0);
    expect(r.text).toContain('sendfile addon not built: no C compiler');
    expect(existsSync(out)).toBe(false);
  });

  it.skipIf(!hasCc)('with one, builds an addon that loads, and does not build again when nothing changed', () => {
    const first = build({ CC: '' });
    expect(first.status).toBe(0);
    expect(first.text).toContain('sendfile addon built');
    const addon = spawnSync(process.execPath, ['-e', `console.log(Object.keys(require(${JSON.stringify(out)})).sort().join(','))`], {
      encoding: 'utf8',
    });
    expect(addon.stdout.trim()).toBe('cancel,mmapThreshold,send,sendNow,start');
    const second = build({ CC: '' });
    expect(second.status).toBe(0);
    expect(second.text).toBe('');
  });

  it.skipIf(!hasCc)('removes an addon built before when the build fails now (no stale addon beside newer sources)', () => {
    expect(build({ CC: '' }).status).toBe(0);
    expect(existsSync(out)).toBe(true);
    const r = build({ CC: join(root, 'no-such-cc') });
    expect(r.status).toBe(0);
    expect(r.text).toContain('sendfile addon not built');
    expect(existsSync(out)).toBe(false);
  });
});
