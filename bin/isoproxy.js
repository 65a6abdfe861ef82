#!/usr/bin/env node
// The `isoproxy` command: runs the compiled CLI (npm install / npm start compile it into dist/).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const cli = fileURLToPath(new URL('../dist/src/cli.js', import.meta.url));
if (!existsSync(cli)) {
  console.error('isoproxy: dist/ is missing; run `npm run build` in the package directory first');
  process.exit(2);
}
const { main } = await import(cli);
process.exitCode = await main(process.argv.slice(2));
