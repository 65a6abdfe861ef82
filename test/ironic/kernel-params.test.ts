// isoproxy's reading of Ironic's kernel_append_params rules (src/ironic/kernel-params.ts), checked
// case by case and, where python3-ironic is installed, against Ironic's own code: the same
// strings are accepted and rejected, and get_kernel_append_params gives the same string.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  appendTokens,
  ironicKernelAppendParams,
  IRONIC_DEFAULT_KERNEL_APPEND_PARAMS,
  KernelParamsError,
  parseIronicCommandLine,
} from '../../src/ironic/kernel-params.js';
import { ironicMissing, runIronic, type PyCase } from './python-ironic.js';

const missing = ironicMissing();

describe('parseIronicCommandLine', () => {
  it.each([
    ['a b', ['a', 'b'], ''],
    ['a  b', ['a', 'b'], ''],
    [' console=ttyS0,115200n8  ip=dhcp ', ['console=ttyS0,115200n8', 'ip=dhcp'], ''],
    ['k="x y" z', ['k="x y"', 'z'], ''],
    ['k=a=b', ['k=a=b'], ''],
    ['a -- single', ['a'], 'single'],
    ['-- x', ['--', 'x'], ''],
    ['', [], ''],
  ])('accepts %j', (text, parameters, initArgs) => {
    expect(parseIronicCommandLine(text)).toEqual({ parameters, initArgs });
  });

  it.each(['a\tb', 'k=', 'a:b', 'a  -- b', 'k=""', 'k="a"b', 'k="open', 'é=1'])('rejects %j as Ironic does', (text) => {
    expect(() => parseIronicCommandLine(text)).toThrow(/did not parse/);
  });
});

describe('ironicKernelAppendParams', () => {
  const D = 'nofb nomodeset vga=normal';
  it('takes instance_info first, then driver_info, then the default', () => {
    expect(ironicKernelAppendParams({ instance_info: { kernel_append_params: 'a' }, driver_info: { kernel_append_params: 'b' } }, D)).toEqual({
      value: 'a',
      from: 'instance_info',
    });
    expect(ironicKernelAppendParams({ instance_info: {}, driver_info: { kernel_append_params: 'b' } }, D)).toEqual({
      value: 'b',
      from: 'driver_info',
    });
    expect(ironicKernelAppendParams({ instance_info: {}, driver_info: {} }, D)).toEqual({ value: D, from: 'default' });
  });

  it('lets an empty string win over the default, as `is not None` does', () => {
    expect(ironicKernelAppendParams({ instance_info: { kernel_append_params: '' } }, D)).toEqual({ value: '', from: 'instance_info' });
    expect(ironicKernelAppendParams({ instance_info: { kernel_append_params: null }, driver_info: { kernel_append_params: 'x' } }, D)).toEqual({
      value: 'x',
      from: 'driver_info',
    });
  });

  it('replaces every %default% with the default, and with nothing when there is none', () => {
    expect(ironicKernelAppendParams({ instance_info: { kernel_append_params: '%default% a %default%' } }, 'x y').value).toBe('x y a x y');
    expect(ironicKernelAppendParams({ instance_info: { kernel_append_params: '%default% a' } }, '').value).toBe(' a');
  });

  it('refuses a malformed value, naming where it came from', () => {
    expect(() => ironicKernelAppendParams({ driver_info: { kernel_append_params: 'a:b' } }, D)).toThrow(
      /driver_info\/kernel_append_params: malformed/,
    );
    expect(() => ironicKernelAppendParams({ instance_info: { kernel_append_params: 3 } }, D)).toThrow(KernelParamsError);
  });

  it("defaults to Ironic's own [redfish]kernel_append_params", () => {
    expect(IRONIC_DEFAULT_KERNEL_APPEND_PARAMS).toBe(D);
  });
});

describe('appendTokens', () => {
  it('unquotes a quoted value without spaces, as the kernel does', () => {
    expect(appendTokens({ value: 'a k="v" ip=dhcp', from: 'instance_info' })).toEqual(['a', 'k=v', 'ip=dhcp']);
  });
  it('refuses what edits cannot carry: a quoted space, init arguments', () => {
    expect(() => appendTokens({ value: 'k="a b"', from: 'instance_info' })).toThrow(/quoted value with a space/);
    expect(() => appendTokens({ value: 'a -- single', from: 'driver_info' })).toThrow(/init arguments/);
  });
});

describe.skipIf(missing !== undefined)(`against Debian's python3-ironic${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('accepts and rejects the same command lines as KernelCommandLine.parse', () => {
    const alphabet = fc.constantFrom('a', 'k', '=', ' ', ' ', '"', '-', '.', ':', '\t', ',', '%', 'é', '\\', '_');
    const texts = [
      ...fc.sample(fc.string({ unit: alphabet, maxLength: 12 }), { numRuns: 1500, seed: 12 }),
      'a -- b',
      'a  -- b',
      '-- --',
      'a -- b -- c',
      ' -- x',
      'x -- ',
      'k="a b" -- c',
      '\u00a0a',
      'a\u00a0b',
      '\u000ba\u000c',
    ];
    const answers = runIronic(texts.map((text): PyCase => ({ op: 'parse', text })));
    const mismatches = texts.flatMap((text, i) => {
      let ours = true;
      try {
        parseIronicCommandLine(text);
      } catch {
        ours = false;
      }
      return ours === answers[i]!.ok ? [] : [{ text, ironic: answers[i] }];
    });
    expect(mismatches).toEqual([]);
  });

  it('gives the same string as get_kernel_append_params, or refuses where Ironic raises', () => {
    const cases: Array<Extract<PyCase, { op: 'append' }>> = [];
    const values = [
      undefined,
      null,
      '',
      'a',
      '%default%',
      '%default% console=ttyS0',
      'x %default% %default%',
      'bad:param',
      '%default%:x',
      'a\nb',
      'k="x y"',
    ];
    for (const ii of values)
      for (const di of values)
        for (const d of ['nofb nomodeset vga=normal', '']) {
          cases.push({
            op: 'append',
            ii: ii === undefined ? {} : { kernel_append_params: ii },
            di: di === undefined ? {} : { kernel_append_params: di },
            default: d,
          });
        }
    const answers = runIronic(cases);
    cases.forEach((c, i) => {
      const a = answers[i]!;
      if (a.ok) expect(ironicKernelAppendParams({ instance_info: c.ii, driver_info: c.di }, c.default).value, JSON.stringify(c)).toBe(a.value);
      else
        expect(() => ironicKernelAppendParams({ instance_info: c.ii, driver_info: c.di }, c.default), JSON.stringify(c)).toThrow(KernelParamsError);
    });
  });
});
