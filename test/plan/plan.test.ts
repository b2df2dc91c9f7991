// Staged plans end to end on a tiny corpus: plan show figures, plan run with growth (function
// preserved), resumption after an interruption, and the growth-vs-scratch bookkeeping.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { flopsToReach } from '../../src/plan/experiment.js';
import { MAIN, expectOneLineError, growlm } from '../cli/run.js';

let tmp: string, planFile: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'growlm-plan-'));
  const corpus = join(tmp, 'corpus');
  mkdirSync(corpus);
  const text = 'The quick brown fox jumps over the lazy dog. A stitch in time saves nine. All that glitters is not gold. ';
  for (let i = 0; i < 4; i++) writeFileSync(join(corpus, `doc${i}.txt`), text.repeat(30));
  const cfg = (d: number, L: number, f: number) => ({ vocab_size: 256, hidden_size: d, intermediate_size: f, num_hidden_layers: L, num_attention_heads: d / 8, head_dim: 8, max_position_embeddings: 32 });
  writeFileSync(join(tmp, 's1.json'), JSON.stringify(cfg(16, 1, 32)));
  writeFileSync(join(tmp, 's2.json'), JSON.stringify(cfg(24, 2, 48)));
  planFile = join(tmp, 'mini.plan.json');
  writeFileSync(planFile, JSON.stringify({
    name: 'mini', data: { input: 'corpus', tokenizer: 'byte', val_fraction: 0.25 },
    defaults: { batch: 2, seq: 32, eval_batches: 1, checkpoint_every: 2 },
    stages: [
      { name: 'small', model: 's1.json', train: { steps: 4, lr: 1e-2 } },
      { name: 'big', model: 's2.json', grow: { method: 'msg', placement: 'interleave', ramp_steps: 3 }, train: { steps: 4, lr: 5e-3 } },
    ],
    samples: { prompts: ['The quick '], max_tokens: 8 },
  }));
});

describe('growlm plan', () => {
  it('plan show reports parameters, FLOPs per token and memory per stage', () => {
    const r = growlm('plan', 'show', 'tele-flm', '--json');
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout).stages;
    expect(s.map((x: { stage: string }) => x.stage)).toEqual(['52b', '102b', '1t']);
    expect(s[0].parameters).toBe(52_824_121_344);
    expect(s[2].parameters).toBe(1_083_813_908_480);
    expect(s[0].state_bytes).toBe(16 * 52_824_121_344);
    expect(s[0].train_flops_per_token).toBeGreaterThan(6 * 52e9);
    expect(growlm('plan', 'show', 'tiny').code).toBe(0);
    expectOneLineError(growlm('plan', 'show', 'no-such-plan'), /no plan "no-such-plan"/);
  });

  it('plan run: init, train, grow (function preserved), train, samples, report; a rerun skips done stages', () => {
    const out = join(tmp, 'run');
    const r = growlm('plan', 'run', planFile, '--out', out, '--threads', '1', '--json');
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.stages.map((s: { status: string }) => s.status)).toEqual(['done', 'done']);
    const growth = summary.stages[1].growth;
    expect(growth.max_abs_logit_diff).toBeLessThanOrEqual(1e-5 * growth.max_abs_logit);
    expect(Math.abs(growth.loss_after - growth.loss_before)).toBeLessThanOrEqual(1e-5);
    expect(summary.samples[0].text.length).toBeGreaterThan(0);
    const config = JSON.parse(readFileSync(join(out, 'big', 'config.json'), 'utf8'));
    expect(config.num_hidden_layers).toBe(2);
    expect(config.growlm.masks).toBeUndefined(); // ramped to 1 within the stage and removed
    expect(existsSync(join(out, 'report.html'))).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).growth).toHaveLength(1);
    const again = growlm('plan', 'run', planFile, '--out', out, '--threads', '1');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('small: done (skipped)');
  });

  it('an interrupted stage resumes from its checkpoint', () => {
    const out = join(tmp, 'run2');
    expect(growlm('plan', 'run', planFile, '--out', out, '--threads', '1').code).toBe(0);
    // simulate an interruption during stage 'big': forget it finished, keep its step-2 checkpoint
    const state = JSON.parse(readFileSync(join(out, 'plan-state.json'), 'utf8'));
    state.stages.big.status = 'created';
    writeFileSync(join(out, 'plan-state.json'), JSON.stringify(state));
    rmSync(join(out, 'big', 'checkpoints', 'step-00000004'), { recursive: true });
    const r = growlm('plan', 'run', planFile, '--out', out, '--threads', '1');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/resuming training from big\/checkpoints\/step-00000002/);
  });

  it("lr_policy keep continues at the previous stage's last learning rate", () => {
    const plan = JSON.parse(readFileSync(planFile, 'utf8'));
    plan.name = 'mini-keep';
    plan.stages[1].train = { steps: 3, lr_policy: 'keep' };
    delete plan.samples;
    const file = join(tmp, 'keep.plan.json');
    writeFileSync(file, JSON.stringify(plan));
    const out = join(tmp, 'run-keep');
    expect(growlm('plan', 'run', file, '--out', out, '--threads', '1').code).toBe(0);
    const read = (s: string) => readFileSync(join(out, s, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const last = read('small').at(-1).lr;
    expect(read('big').map((e: { lr: number }) => e.lr)).toEqual([last, last, last]);
  });
});

describe('Ctrl-C during plan run', () => {
  it('finishes the step, checkpoints the stage, prints how to resume, exits 130; the same command completes the run', async () => {
    const out = join(tmp, 'sigint');
    const long = join(tmp, 'long.plan.json');
    const plan = JSON.parse(readFileSync(planFile, 'utf8'));
    plan.stages[0].train.steps = 50000; // the first stage would run for minutes
    plan.defaults.checkpoint_every = 100000;
    writeFileSync(long, JSON.stringify(plan));
    const args = ['plan', 'run', long, '--out', out, '--threads', '1'];
    // the executable relaunches itself (malloc tuning) and forwards the signal to the child
    const child = spawn(process.execPath, [MAIN, ...args], { env: { ...process.env, GROWLM_DEBUG: '' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const metricsPath = join(out, 'small', 'metrics.jsonl');
    for (let i = 0; i < 600 && !(existsSync(metricsPath) && readFileSync(metricsPath, 'utf8').split('\n').length > 3); i++) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGINT');
    const code = await exited;
    const match = /interrupted in stage small at step (\d+) \(checkpointed\); resume with: growlm (plan run .*)\n/.exec(stderr);
    expect(code, stderr).toBe(130);
    expect(match, stderr).not.toBeNull();
    const step = Number(match![1]);
    expect(step).toBeGreaterThanOrEqual(3);
    expect(step).toBeLessThan(50000);
    expect(readdirSync(join(out, 'small', 'checkpoints'))).toEqual([`step-${String(step).padStart(8, '0')}`]);
    expect(JSON.parse(readFileSync(join(out, 'plan-state.json'), 'utf8')).stages.small.status).toBe('created');
    expect(existsSync(join(out, '.growlm.lock'))).toBe(false);
    expect(match![2]!.split(' ')).toEqual(args);
    // resume it with a shorter first stage (same directory): it continues from the checkpoint and finishes
    plan.stages[0].train.steps = step + 2;
    writeFileSync(long, JSON.stringify(plan));
    const r = growlm(...args, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`resuming training from small/checkpoints/step-${String(step).padStart(8, '0')}`);
    expect(JSON.parse(r.stdout).stages.map((s: { status: string }) => s.status)).toEqual(['done', 'done']);
  }, 90_000);
});

describe('growth vs scratch bookkeeping', () => {
  it('finds the FLOPs at which a validation curve reaches a loss', () => {
    const curve = [{ flops: 10, val_loss: 3 }, { flops: 20, val_loss: 2 }, { flops: 30, val_loss: 1.5 }];
    expect(flopsToReach(curve, 2.5)).toBeCloseTo(15);
    expect(flopsToReach(curve, 3.5)).toBe(10);
    expect(flopsToReach(curve, 1)).toBeNull();
  });
});
