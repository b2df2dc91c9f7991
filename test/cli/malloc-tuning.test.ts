import { describe, expect, it } from 'vitest';
import { MALLOC_TUNABLES, needsMallocTuning, tunedEnv } from '../../src/runtime/malloc-tuning.js';
import { growlm } from './run.js';

describe('malloc tuning relaunch', () => {
  it('relaunches on Linux unless the user set malloc tunables or it already ran', () => {
    expect(needsMallocTuning({}, 'linux')).toBe(true);
    expect(needsMallocTuning({ GLIBC_TUNABLES: 'glibc.rtld.optional_static_tls=512' }, 'linux')).toBe(true);
    expect(needsMallocTuning({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }, 'linux')).toBe(false);
    expect(needsMallocTuning(tunedEnv({}), 'linux')).toBe(false);
    expect(needsMallocTuning({}, 'darwin')).toBe(false);
  });

  it('appends its settings to tunables the user already has', () => {
    expect(tunedEnv({ GLIBC_TUNABLES: 'glibc.rtld.optional_static_tls=512', HOME: '/h' })).toMatchObject({
      GLIBC_TUNABLES: `glibc.rtld.optional_static_tls=512:${MALLOC_TUNABLES}`,
      HOME: '/h',
    });
  });

  it('passes exit codes, stdout and one-line errors through the relaunch', () => {
    const ok = growlm('--version');
    expect(ok.code).toBe(0);
    expect(ok.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const bad = growlm('no-such-command');
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });
});
