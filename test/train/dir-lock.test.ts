// One process per directory: DIR/.growlm.lock (O_EXCL) refuses a second train on a model directory in
// use, naming the owner's PID; a dead owner's lock is taken over; the lock goes on every way out.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DirLockedError, LOCK_FILE, acquireDirLock } from '../../src/util/dir-lock.js';
import { MAIN, expectOneLineError, growlm } from '../cli/run.js';

let tmp: string, data: string, config: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'growlm-lock-'));
  const corpus = join(tmp, 'corpus');
  mkdirSync(corpus);
  for (let i = 0; i < 4; i++) writeFileSync(join(corpus, `${i}.txt`), `Part ${i}. ` + 'The quick brown fox jumps over the lazy dog. '.repeat(60));
  data = join(tmp, 'data');
  expect(growlm('data', 'prepare', '--input', corpus, '--tokenizer', 'byte', '--out', data, '--val-fraction', '0.25').code).toBe(0);
  config = join(tmp, 'small.json');
  writeFileSync(config, JSON.stringify({ vocab_size: 256, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 16 }));
});

const trainArgs = (model: string, steps: number, ...extra: string[]) =>
  ['train', '--model', model, '--data', data, '--steps', String(steps), '--batch', '2', '--checkpoint-every', '0', '--eval-every', '0', '--threads', '1', ...extra];

/** The PID of a process that has exited (and so is not alive). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('one process per directory', () => {
  it('a second growlm train on a model directory in use is refused with the owner PID; Ctrl-C removes the lock', async () => {
    const m = join(tmp, 'a');
    expect(growlm('init', '--config', config, '--out', m).code).toBe(0);
    const first = spawn(process.execPath, [MAIN, ...trainArgs(m, 1_000_000)], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, GROWLM_DEBUG: '' } });
    let err = '';
    first.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((res) => first.on('exit', (code) => res(code)));
    const lock = join(m, LOCK_FILE);
    for (let i = 0; i < 600 && !existsSync(join(m, 'metrics.jsonl')); i++) await new Promise((r) => setTimeout(r, 50));
    // the PID of the process that trains (growlm re-executes itself once, see src/runtime/malloc-tuning.ts)
    const owner = JSON.parse(readFileSync(lock, 'utf8'));
    expect(owner.host).toBe(hostname());
    expect(() => process.kill(owner.pid, 0)).not.toThrow();
    const second = growlm(...trainArgs(m, 5, '--restart'));
    expectOneLineError(second, new RegExp(`is in use by another growlm process \\(PID ${owner.pid} on ${hostname()}, since .*\\); wait for it to finish or stop it \\(lock file .*\\.growlm\\.lock\\)`));
    first.kill('SIGINT');
    expect(await exited, err).toBe(130);
    expect(existsSync(lock)).toBe(false);
    // the interrupted run resumes: the lock was released, not left behind
    const again = growlm(...trainArgs(m, 1_000_000, '--resume', '--stop-at', String(readFileSync(join(m, 'metrics.jsonl'), 'utf8').trim().split('\n').length + 1)));
    expect(again.code, again.stderr).toBe(0);
    expect(existsSync(lock)).toBe(false);
  });

  it('a lock left by a dead process is taken over with a note; a failing run removes its lock', () => {
    const m = join(tmp, 'b');
    expect(growlm('init', '--config', config, '--out', m).code).toBe(0);
    const pid = deadPid();
    writeFileSync(join(m, LOCK_FILE), JSON.stringify({ pid, host: hostname(), started: '2026-01-01T00:00:00.000Z' }));
    const r = growlm(...trainArgs(m, 2));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`warning: took over the lock of ${m} from PID ${pid}, which is no longer running`);
    expect(existsSync(join(m, LOCK_FILE))).toBe(false);
    // an error after the lock was taken (checkpoints exist, neither --resume nor --restart) still removes it
    expectOneLineError(growlm(...trainArgs(m, 2, '--checkpoint-every', '1')), /holds checkpoints of an earlier run/);
    expect(existsSync(join(m, LOCK_FILE))).toBe(false);
  });

  it('plan run takes its run directory: refused while a live process holds it', () => {
    const run = join(tmp, 'run');
    mkdirSync(run);
    writeFileSync(join(run, LOCK_FILE), JSON.stringify({ pid: process.pid, host: hostname(), started: 'x' }));
    const r = growlm('plan', 'run', 'growth-demo', '--out', run);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`error: .*run is in use by another growlm process \\(PID ${process.pid} on`));
    expect(existsSync(join(run, 'data'))).toBe(false); // nothing was started
  });

  it('library: a live owner (even on another host) is refused; nested acquisition in one process shares the lock', () => {
    const d = mkdtempSync(join(tmp, 'lib-'));
    writeFileSync(join(d, LOCK_FILE), JSON.stringify({ pid: process.ppid, host: hostname(), started: 'x' }));
    expect(() => acquireDirLock(d)).toThrow(DirLockedError);
    writeFileSync(join(d, LOCK_FILE), JSON.stringify({ pid: deadPid(), host: 'some-other-host', started: 'x' }));
    expect(() => acquireDirLock(d)).toThrow(/PID \d+ on some-other-host/);
    writeFileSync(join(d, LOCK_FILE), 'garbage');
    const a = acquireDirLock(d);
    expect(a.note).toMatch(/took over the unreadable lock file/);
    const b = acquireDirLock(d);
    expect(b.note).toBeUndefined();
    b.release();
    expect(JSON.parse(readFileSync(join(d, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
    a.release();
    expect(existsSync(join(d, LOCK_FILE))).toBe(false);
  });
});
