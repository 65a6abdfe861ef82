import { describe, expect, it } from 'vitest';
import { WORKER_SEMI_SPACE_MIB, workerEnv, workerExecArgv } from '../../src/cluster/worker-process.js';
import { MMAP_THRESHOLD_ENV } from '../../src/native/sendfile.js';

describe('a worker process', () => {
  it('starts with a capped young generation after the primary flags', () => {
    expect(workerExecArgv(['--enable-source-maps'], undefined)).toEqual(['--enable-source-maps', `--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`]);
  });
  it("keeps a user's own young-generation setting, in any spelling", () => {
    expect(workerExecArgv(['--max-semi-space-size=32'], undefined)).toEqual(['--max-semi-space-size=32']);
    expect(workerExecArgv(['--max_semi_space_size', '8'], undefined)).toEqual(['--max_semi_space_size', '8']);
    expect(workerExecArgv([], '--trace-gc --semi-space-size=4')).toEqual([]);
    expect(workerExecArgv([], '--max-young-generation-size=64')).toEqual([]);
  });
  it("sets glibc's mmap threshold unless the environment does", () => {
    expect(workerEnv({})).toEqual({ [MMAP_THRESHOLD_ENV]: '131072' });
    expect(workerEnv({ [MMAP_THRESHOLD_ENV]: '65536' })).toEqual({});
  });
});
