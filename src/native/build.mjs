// Builds the sendfile addon (sendfile.c, sender.c) into dist/native/sendfile.node, as part of `npm run
// build`. Needs a C compiler (`cc`, or $CC) and Node's headers (shipped with Node in
// include/node). Without them it says so and exits 0: isoproxy then serves with copies
// (src/native/sendfile.ts). Rebuilds only when the source or Node's version changed.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const sources = ['sendfile.c', 'sender.c'].map((f) => join(here, f));
const header = join(here, 'sender.h');
const outDir = join(here, '../../dist/native');
const out = join(outDir, 'sendfile.node');
const stampFile = `${out}.stamp`;
const include = join(dirname(process.execPath), '..', 'include', 'node');
const cc = process.env.CC || 'cc';

function skip(why) {
  console.log(`sendfile addon not built: ${why}; isoproxy will serve with copies`);
  process.exit(0);
}

if (process.platform !== 'linux') skip('it is Linux-only');
if (!existsSync(join(include, 'node_api.h'))) skip(`no Node headers in ${include}`);
const hash = createHash('sha256');
for (const f of [...sources, header]) hash.update(readFileSync(f));
const stamp = hash.update(process.version).update(cc).digest('hex');
if (existsSync(out) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) process.exit(0);
mkdirSync(outDir, { recursive: true });
const tmp = `${out}.${process.pid}.tmp`;
try {
  execFileSync(cc, ['-O2', '-Wall', '-Wextra', '-shared', '-fPIC', '-pthread', `-I${include}`, '-o', tmp, ...sources], { stdio: ['ignore', 'inherit', 'inherit'] });
} catch (err) {
  // An addon built from older sources must not outlive sources that no longer build.
  rmSync(out, { force: true });
  rmSync(stampFile, { force: true });
  rmSync(tmp, { force: true });
  skip(err.code === 'ENOENT' ? `no C compiler (${cc})` : `${cc} failed`);
}
renameSync(tmp, out);
writeFileSync(stampFile, stamp);
console.log(`sendfile addon built: ${out}`);
