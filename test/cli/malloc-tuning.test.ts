import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
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

  it.runIf(process.platform === 'linux')('a signal to the growlm process stops the relaunched child too (no orphan)', async () => {
    const marker = '987654321';
    const p = spawn(process.execPath, [join(import.meta.dirname, '../../dist/src/cli/main.js'), 'bench', 'train', '--preset', 'tiny', '--warmup', '0', '--steps', marker],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    await new Promise<void>((resolve) => p.stderr!.on('data', (d: Buffer) => { if (d.toString().includes('step ')) resolve(); }));
    const running = () => readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
      try { return readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(marker); } catch { return false; }
    });
    expect(running().length).toBe(2); // the growlm process and its relaunched child
    p.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => p.on('exit', (c) => resolve(c)));
    expect(code).toBe(130);
    await new Promise((r) => setTimeout(r, 200));
    expect(running()).toEqual([]);
  });
});
