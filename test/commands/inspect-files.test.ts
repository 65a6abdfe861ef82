// `inspect --files` on hand-made indexes: which tree gives which name (a tree without Rock Ridge
// has plain ISO 9660 names only), and how a multi-extent file and a hidden one are printed.

import { describe, expect, it } from 'vitest';
import { formatFiles, listFiles } from '../../src/commands/inspect/files.js';
import type { IndexedFile, IsoIndex, TreeInfo } from '../../src/iso9660/types.js';

const tree = (kind: TreeInfo['kind'], rockRidge: boolean): TreeInfo => ({
  kind,
  descriptorIndex: 0,
  rootLba: 20,
  rootLengthBytes: 2048,
  rockRidge,
  suspSkip: 0,
});

function indexOf(trees: TreeInfo[], files: Partial<IndexedFile>[]): IsoIndex {
  const full = files.map((f) => ({ paths: [], size: 0, extents: [{ lba: 40, lengthBytes: 0 }], records: [], hidden: false, path: '/x', ...f }));
  return { trees, files: full } as unknown as IsoIndex;
}

describe('inspect --files', () => {
  it('names a file by ISO 9660 identifiers, Rock Ridge and Joliet when the image has all three', () => {
    const index = indexOf(
      [tree('iso9660', true), tree('joliet', false)],
      [
        {
          path: '/boot/grub.cfg',
          isoPath: '/BOOT/GRUB.CFG',
          paths: [
            { tree: 'iso9660', path: '/boot/grub.cfg' },
            { tree: 'joliet', path: '/boot/grub.cfg' },
          ],
        },
      ],
    );
    expect(listFiles(index)[0]!.names).toEqual({ iso9660: '/BOOT/GRUB.CFG', rockRidge: '/boot/grub.cfg', joliet: '/boot/grub.cfg' });
  });

  it('gives only an ISO 9660 name when the tree has no Rock Ridge', () => {
    const index = indexOf([tree('iso9660', false)], [{ path: '/README.TXT', paths: [{ tree: 'iso9660', path: '/README.TXT' }] }]);
    expect(listFiles(index)[0]!.names).toEqual({ iso9660: '/README.TXT' });
  });

  it('prints every extent of a multi-extent file, and marks a hidden one', () => {
    const extents = [
      { lba: 100, lengthBytes: 4294965248 },
      { lba: 2097251, lengthBytes: 2048 },
    ];
    const index = indexOf(
      [tree('iso9660', false)],
      [
        { path: '/HUGE.BIN', size: 4294967296, extents, paths: [{ tree: 'iso9660', path: '/HUGE.BIN' }] },
        { path: '/SECRET', size: 3, extents: [{ lba: 50, lengthBytes: 3 }], hidden: true, paths: [{ tree: 'iso9660', path: '/SECRET' }] },
      ],
    );
    const lines = formatFiles(listFiles(index));
    expect(lines[0]).toMatch(/^Files \(2;/);
    expect(lines[1]).toBe('       100   4294967296  /HUGE.BIN  (iso9660 /HUGE.BIN)  extents 100+4294965248, 2097251+2048');
    expect(lines[2]).toBe('        50            3  /SECRET  (iso9660 /SECRET)  [hidden]');
  });
});
