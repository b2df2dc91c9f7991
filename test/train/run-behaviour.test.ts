// Training behaviours a user should never be surprised by: --restart archives the earlier run, Ctrl-C
// checkpoints and says how to resume, a run of only non-finite steps fails, masks that will not reach 1
// are announced. All through the built CLI.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModelDir, saveModelDir } from '../../src/model/model-dir.js';
import { MAIN, expectOneLineError, growlm } from '../cli/run.js';

let tmp: string, data: string, config: string;
const metrics = (dir: string) => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; loss: number });

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'growlm-run-'));
  const corpus = join(tmp, 'corpus');
  mkdirSync(corpus);
  const text = 'It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness. ';
  for (let i = 0; i < 4; i++) writeFileSync(join(corpus, `book${i}.txt`), `Chapter ${i}. ${text.repeat(40)}`);
  data = join(tmp, 'data');
  expect(growlm('data', 'prepare', '--input', corpus, '--tokenizer', 'byte', '--out', data, '--val-fraction', '0.25').code).toBe(0);
  config = join(tmp, 'small.json');
  writeFileSync(config, JSON.stringify({ vocab_size: 256, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 2, max_position_embeddings: 32 }));
});

const trainArgs = (model: string, ...extra: string[]) =>
  ['train', '--model', model, '--data', data, '--batch', '2', '--seq', '32', '--lr', '1e-2', '--eval-batches', '1', '--threads', '1', ...extra];

describe('train --restart', () => {
  it('archives the earlier run so that a later --resume continues the new one', () => {
    const m = join(tmp, 'restart');
    expect(growlm('init', '--config', config, '--out', m).code).toBe(0);
    expect(growlm(...trainArgs(m, '--steps', '6', '--checkpoint-every', '2', '--stop-at', '4')).code).toBe(0);
    const restart = growlm(...trainArgs(m, '--steps', '6', '--checkpoint-every', '2', '--stop-at', '2', '--seed', '7', '--restart'));
    expect(restart.code, restart.stderr).toBe(0);
    const archive = readdirSync(m).filter((f) => f.startsWith('checkpoints.old-'));
    expect(archive).toHaveLength(1);
    expect(restart.stderr).toContain(`moved the earlier run's checkpoints and metrics to ${join(m, archive[0]!)}`);
    expect(readdirSync(join(m, archive[0]!)).sort()).toEqual(['metrics.jsonl', 'step-00000002', 'step-00000004']);
    expect(readdirSync(join(m, 'checkpoints'))).toEqual(['step-00000002']);
    const newRun = metrics(m);
    expect(newRun.map((e) => e.step)).toEqual([1, 2]);
    const resumed = growlm(...trainArgs(m, '--steps', '6', '--checkpoint-every', '2', '--seed', '7', '--resume'));
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('resuming from step 2'); // not the old run's step 4
    const all = metrics(m);
    expect(all.map((e) => e.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(all.slice(0, 2)).toEqual(newRun);
    expectOneLineError(growlm(...trainArgs(m, '--steps', '6', '--resume', '--restart')), /give --resume or --restart, not both/, 2);
  });
});

describe('determinism', () => {
  it('resume is bit-exact with two threads too (onnxruntime and the AdamW pool)', () => {
    const a = join(tmp, 'det-a'), b = join(tmp, 'det-b');
    for (const m of [a, b]) expect(growlm('init', '--config', config, '--out', m, '--seed', '3').code).toBe(0);
    const args = (m: string, ...extra: string[]) =>
      ['train', '--model', m, '--data', data, '--steps', '8', '--batch', '4', '--accumulate', '2', '--seq', '32', '--lr', '1e-2', '--checkpoint-every', '4', '--eval-batches', '1', '--threads', '2', '--json', ...extra];
    expect(growlm(...args(a)).code).toBe(0);
    expect(growlm(...args(b, '--stop-at', '3')).code).toBe(0);
    expect(growlm(...args(b, '--resume')).code).toBe(0);
    expect(metrics(b).map((e) => e.loss)).toEqual(metrics(a).map((e) => e.loss));
    expect(readFileSync(join(b, 'model.safetensors'))).toEqual(readFileSync(join(a, 'model.safetensors')));
  });
});

describe('Ctrl-C during train', () => {
  it('finishes the step, checkpoints, prints how to resume, exits 130; the resume completes', async () => {
    const m = join(tmp, 'sigint');
    expect(growlm('init', '--config', config, '--out', m).code).toBe(0);
    // the executable relaunches itself (malloc tuning) and forwards the signal to the child
    const child = spawn(process.execPath, [MAIN, ...trainArgs(m, '--steps', '50000', '--checkpoint-every', '100000')], { env: { ...process.env, GROWLM_DEBUG: '' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const metricsPath = join(m, 'metrics.jsonl');
    for (let i = 0; i < 600 && !(existsSync(metricsPath) && readFileSync(metricsPath, 'utf8').split('\n').length > 3); i++) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGINT');
    const code = await exited;
    const match = /interrupted at step (\d+); resume with: growlm (train .*--resume)\n/.exec(stderr);
    expect(code, stderr).toBe(130);
    expect(match, stderr).not.toBeNull();
    const step = Number(match![1]);
    expect(step).toBeGreaterThanOrEqual(3);
    expect(step).toBeLessThan(50000);
    expect(metrics(m).at(-1)!.step).toBe(step);
    const ckpt = join(m, 'checkpoints', `step-${String(step).padStart(8, '0')}`);
    expect(readdirSync(join(m, 'checkpoints'))).toEqual([`step-${String(step).padStart(8, '0')}`]);
    // model.safetensors holds the trained weights of that step, not the initial ones
    expect(readFileSync(join(m, 'model.safetensors'))).toEqual(readFileSync(join(ckpt, 'model.safetensors')));
    const printed = match![2]!.split(' ');
    expect(printed).toEqual(trainArgs(m, '--steps', '50000', '--checkpoint-every', '100000', '--resume'));
    const resumed = growlm(...printed, '--stop-at', String(step + 3));
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain(`resuming from step ${step}`);
    expect(metrics(m).at(-1)!.step).toBe(step + 3);
  }, 60_000);
});

describe('non-finite runs and ramping masks', () => {
  it('a run whose every step is non-finite fails and leaves the weights unchanged', () => {
    const m = join(tmp, 'nan');
    expect(growlm('init', '--config', config, '--out', m).code).toBe(0);
    const model = loadModelDir(m);
    (model.weights.get('model.norm.weight')!.data as Float32Array)[0] = NaN;
    saveModelDir(m, model);
    const before = readFileSync(join(m, 'model.safetensors'));
    expectOneLineError(growlm(...trainArgs(m, '--steps', '3', '--json')), /every step of the run \(3\) had a non-finite loss or gradient; weights unchanged/);
    expect(readFileSync(join(m, 'model.safetensors'))).toEqual(before);
  });

  it('warns when the growth masks will not reach 1 within the run, and removes them when they do', () => {
    const m = join(tmp, 'to-grow'), big = join(tmp, 'big.json');
    expect(growlm('init', '--config', config, '--out', m).code).toBe(0);
    writeFileSync(big, JSON.stringify({ vocab_size: 256, hidden_size: 48, intermediate_size: 96, num_hidden_layers: 3, num_attention_heads: 3, max_position_embeddings: 32 }));
    const slow = join(tmp, 'grown-slow'), fast = join(tmp, 'grown-fast');
    expect(growlm('grow', '--model', m, '--to', big, '--out', slow, '--ramp-steps', '50').code).toBe(0);
    expect(growlm('grow', '--model', m, '--to', big, '--out', fast, '--ramp-steps', '3').code).toBe(0);
    const r = growlm(...trainArgs(slow, '--steps', '4'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^warning: the growth masks reach 1 at step 50, after the 4 steps of this run/m);
    expect(JSON.parse(readFileSync(join(slow, 'config.json'), 'utf8')).growlm.masks.hidden.value).toBeCloseTo(4 / 50, 6);
    // inspect shows the mask state and the growth history (JSON: config.json's names)
    const j = JSON.parse(growlm('inspect', slow, '--json').stdout);
    expect(j.config.hidden_size).toBe(48);
    expect(j.masks).toMatchObject({ hidden: { from: 32 }, ffn: { from: 64 }, heads: { from: 2 }, layers: { indices: [expect.any(Number)] }, ramp: { start: 0, steps: 50, stagger: false } });
    expect(j.masks.hidden.value).toBeCloseTo(4 / 50, 6);
    expect(j.masks_complete_at).toBe(50);
    expect(j.growth_history).toHaveLength(1);
    expect(j.growth_history[0]).toMatchObject({ method: 'msg', from: { hidden_size: 32 }, to: { hidden_size: 48 } });
    const text = growlm('inspect', slow).stdout;
    expect(text).toContain('masks (MSG growth ramping; ramp from step 0 over 50 steps; all reach 1 at step 50):');
    expect(text).toContain('  hidden: old size 32 of 48, new part at 0.08');
    expect(text).toMatch(/growth history:\n  1\. msg \(\w+\): hidden 32, ffn 64, layers 2, heads 2 → hidden 48, ffn 96, layers 3, heads 3/);
    const f = growlm(...trainArgs(fast, '--steps', '4'));
    expect(f.code, f.stderr).toBe(0);
    expect(f.stderr).not.toContain('warning');
    expect(JSON.parse(readFileSync(join(fast, 'config.json'), 'utf8')).growlm.masks).toBeUndefined();
    expect(growlm('inspect', fast).stdout).toContain('masks: none (a plain decoder)');
  });
});
