// Files on the command line of `preview` and `materialize`: --file PATH=@LOCAL (bytes of a
// local file), --file PATH=TEXT, --file-mode after its --file or as PATH=MODE; preview lists what
// is added with sizes and digests, materialize writes the image with the files in its initrd.

import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { editOptions, editsFromArgs, filesFromArgs } from '../../src/commands/edit-args.js';
import { run as preview } from '../../src/commands/preview.js';
import { run as materialize } from '../../src/commands/materialize.js';
import { demoIsoSpec } from '../../src/demo/demo-iso.js';
import { writeIso } from '../../src/iso9660/writer.js';
import { scratchDir } from '../helpers/tools.js';

const tokensOf = (argv: string[]) => parseArgs({ args: argv, allowPositionals: true, tokens: true, options: editOptions }).tokens;

describe('filesFromArgs', () => {
  const local = (p: string) => Buffer.from(`bytes of ${p}`);
  it('reads @LOCAL as bytes, takes TEXT as it is, and applies each --file-mode to the --file before it', () => {
    const files = filesFromArgs(
      tokensOf(['--file', '/etc/a=@./a.conf', '--file-mode', '0600', '--file', '/etc/b=hello=world', '--file', '/etc/c=@c']),
      local,
    );
    expect(files).toEqual([
      { path: '/etc/a', contentBase64: Buffer.from('bytes of ./a.conf').toString('base64'), mode: '0600' },
      { path: '/etc/b', content: 'hello=world' },
      { path: '/etc/c', contentBase64: Buffer.from('bytes of c').toString('base64') },
    ]);
  });
  it('takes --file-mode PATH=MODE anywhere', () => {
    expect(filesFromArgs(tokensOf(['--file-mode', '/etc/a=0755', '--file', '/etc/a=x']), local)).toEqual([
      { path: '/etc/a', content: 'x', mode: '0755' },
    ]);
  });
  it.each([
    [['--file', 'noequals'], /PATH=@LOCAL-FILE or PATH=TEXT/],
    [['--file-mode', '0600'], /before any --file/],
    [['--file', '/a=x', '--file-mode', '0600', '--file-mode', '0644'], /given twice/],
    [['--file-mode', '/b=0600', '--file', '/a=x'], /no --file \/b/],
  ])('refuses %j', (argv, message) => {
    expect(() => filesFromArgs(tokensOf(argv), local)).toThrow(message);
  });
  it('names the local file it cannot read', () => {
    expect(() => filesFromArgs(tokensOf(['--file', '/a=@/nonexistent/x']))).toThrow(/--file \/a: cannot read \/nonexistent\/x/);
  });
  it('puts files in the edits only when there are some', () => {
    expect(editsFromArgs({ append: ['a=1'] }, tokensOf(['--append', 'a=1']))).not.toHaveProperty('files');
  });
});

describe('preview and materialize with --file', () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  let iso: string;
  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-cli-files-');
    iso = join(scratch.dir, 'demo.iso');
    await writeFile(iso, writeIso(demoIsoSpec()));
    await writeFile(join(scratch.dir, 'key.pub'), 'ssh-ed25519 AAAA key\n');
  });
  afterAll(async () => {
    await scratch?.cleanup();
  });

  it('preview lists each added file with its mode, size and sha256, and the initrd it goes to', async () => {
    const out: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((line: string) => {
      out.push(line);
    });
    try {
      expect(await preview([iso, '--file', `/root/.ssh/authorized_keys=@${join(scratch.dir, 'key.pub')}`, '--file-mode', '0600'])).toBe(0);
    } finally {
      spy.mockRestore();
    }
    const digest = createHash('sha256').update('ssh-ed25519 AAAA key\n').digest('hex');
    expect(out).toContain(`file added: /root/.ssh/authorized_keys mode 0600, 21 bytes, sha256 ${digest}`);
    expect(out.some((l) => /^initrd extended to LBA \d+: \/initrd \(\d+ -> \d+ bytes/.test(l))).toBe(true);
  });

  it('materialize writes the same image for the same files on any run', async () => {
    const args = (out: string) => [iso, join(scratch.dir, out), '--file', '/etc/motd=hello\n', '--file', `/etc/key=@${join(scratch.dir, 'key.pub')}`];
    const spy = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      expect(await materialize(args('a.iso'))).toBe(0);
      expect(await materialize(args('b.iso'))).toBe(0);
    } finally {
      spy.mockRestore();
    }
    const a = await readFile(join(scratch.dir, 'a.iso'));
    expect(Buffer.compare(a, await readFile(join(scratch.dir, 'b.iso')))).toBe(0);
    expect(a.includes(Buffer.from('ssh-ed25519 AAAA key\n'))).toBe(true);
  });
});
