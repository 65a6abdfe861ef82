// A self-signed certificate for 127.0.0.1, made by openssl at test time (tests that use it skip
// when openssl is missing: `missingTools('openssl')`).

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './tools.js';

export async function selfSignedCert(dir: string): Promise<{ key: Buffer; cert: Buffer }> {
  const key = join(dir, 'key.pem');
  const crt = join(dir, 'cert.pem');
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    key,
    '-out',
    crt,
    '-days',
    '2',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
  ]);
  return { key: await readFile(key), cert: await readFile(crt) };
}
