// growth-vs-scratch over seeds: target levels, the seeded plan, and a 2-seed run of a tiny plan with
// scratch at 1× and 2× the staged FLOPs and the first stage trained on.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { seededPlan, targetLosses } from '../../src/plan/growth-vs-scratch.js';
import { meanStd, pairedVerdict, verdict } from '../../src/plan/seeds-stats.js';
import type { Plan } from '../../src/plan/plan.js';
import { growlm } from '../cli/run.js';

describe('growth vs scratch over seeds', () => {
  it('target losses run from the first stage\'s final loss down to the scratch run\'s', () => {
    expect(targetLosses(2, 1.4, 4).map((x) => +x.toFixed(10))).toEqual([2, 1.8, 1.6, 1.4]);
    expect(targetLosses(1.3, 1.4, 4)).toEqual([1.4]); // scratch never got below the first stage: one target
  });

  it('paired by seed, a consistent small lead is not a tie even when each arm spreads widely', () => {
    // the demo's three seeds (8-batch validation): staged vs the first stage trained on
    const staged = [1.4392, 1.457, 1.4079], cont = [1.4549, 1.4659, 1.4139];
    expect(verdict(meanStd(staged), meanStd(cont))).toBe('tie');
    const d = meanStd(staged.map((x, i) => x - cont[i]!));
    expect(d.mean).toBeCloseTo(-0.01020, 5);
    expect(pairedVerdict(d)).toBe('better');
    expect(pairedVerdict(meanStd([-0.01, 0.012, -0.004]))).toBe('tie');
    expect(pairedVerdict(meanStd([0.02, 0.03]))).toBe('worse');
    expect(pairedVerdict(meanStd([-0.02]))).toBe('tie'); // one seed: no spread to compare with
  });

  it('seed s shifts the init, growth and data seeds', () => {
    const plan = { name: 'p', baseDir: '.', stages: [{ name: 'a', model: 'tiny', seed: 5, train: {} }, { name: 'b', model: 'tiny', grow: { method: 'msg' }, train: { data_seed: 2 } }] } as Plan;
    const p = seededPlan(plan, 3);
    expect(p.stages[0]!.seed).toBe(8);
    expect(p.stages[1]!.grow!.seed).toBe(301);
    expect(p.stages[1]!.train.data_seed).toBe(5);
    expect(p.defaults!.data_seed).toBe(3);
    expect(seededPlan(plan, 0).stages[0]!.seed).toBe(5);
  });

  it('2 seeds of a tiny plan: scratch ×1, ×2, the first stage trained on, ratios at several targets', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'growlm-gvs-'));
    mkdirSync(join(tmp, 'corpus'));
    const text = 'The quick brown fox jumps over the lazy dog. A stitch in time saves nine. All that glitters is not gold. ';
    for (let i = 0; i < 4; i++) writeFileSync(join(tmp, 'corpus', `doc${i}.txt`), text.repeat(30));
    const cfg = (d: number, L: number, f: number) => ({ vocab_size: 256, hidden_size: d, intermediate_size: f, num_hidden_layers: L, num_attention_heads: d / 8, head_dim: 8, max_position_embeddings: 32 });
    writeFileSync(join(tmp, 's1.json'), JSON.stringify(cfg(16, 1, 32)));
    writeFileSync(join(tmp, 's2.json'), JSON.stringify(cfg(24, 2, 48)));
    const planFile = join(tmp, 'mini.plan.json');
    writeFileSync(planFile, JSON.stringify({
      name: 'mini', data: { input: 'corpus', tokenizer: 'byte', val_fraction: 0.25 },
      defaults: { batch: 2, seq: 32, eval_batches: 1, checkpoint_every: 0, eval_every: 2 },
      stages: [
        { name: 'small', model: 's1.json', train: { steps: 6, lr: 1e-2, schedule: 'constant' } },
        { name: 'big', model: 's2.json', grow: { method: 'msg', placement: 'interleave', ramp_steps: 2 }, train: { steps: 4, lr: 5e-3 } },
      ],
    }));
    const out = join(tmp, 'run');
    const r = growlm('experiment', 'growth-vs-scratch', '--plan', planFile, '--out', out, '--seeds', '2', '--budgets', '1,2', '--threads', '1', '--json');
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    // the single-seed fields (seed 0) still there
    expect(Math.abs(j.scratch_flops - j.staged_flops) / j.staged_flops).toBeLessThan(0.15); // whole steps of the big model
    expect(j.staged_final_val_loss).toBeGreaterThan(0);
    expect(j.growth).toHaveLength(1);
    expect(j.growth[0].max_abs_logit_diff).toBeLessThan(1e-4);
    const s = j.seeds;
    expect(s.seeds).toBe(2);
    expect(s.staged.final_val_loss.n).toBe(2);
    expect(s.staged.final_val_loss.std).toBeGreaterThan(0); // seeds differ
    expect(s.scratch.map((x: { budget: number }) => x.budget)).toEqual([1, 2]);
    expect(s.scratch[1].flops / s.scratch[0].flops).toBeGreaterThan(1.8);
    // the continued first stage spends the staged run's FLOPs (within one step of the small model)
    expect(Math.abs(s.continue_first_stage.flops - s.staged.flops) / s.staged.flops).toBeLessThan(0.1);
    expect(s.targets.length).toBeGreaterThanOrEqual(1);
    expect(['better', 'worse', 'tie']).toContain(s.continue_first_stage.staged_vs);
    expect(s.continue_first_stage.staged_minus.n).toBe(2);
    expect(s.continue_first_stage.staged_minus.mean).toBeCloseTo(s.staged.final_val_loss.mean - s.continue_first_stage.final_val_loss.mean, 10);
    expect(['better', 'worse', 'tie']).toContain(s.scratch[0].staged_vs_paired);
    // both baselines end with the last stage's decay, as a plan's "baselines" section trains them
    // (the first stage here runs at a constant LR): scratch from the first stage's peak, the
    // continued model from the last stage's, each down to min_lr_ratio 0.1
    const lastLr = (d: string) => JSON.parse(readFileSync(join(out, 'seed-1', d, 'metrics.jsonl'), 'utf8').trim().split('\n').at(-1)!).lr;
    expect(lastLr('scratch-x1')).toBeCloseTo(1e-3, 6);
    expect(lastLr('continue')).toBeCloseTo(5e-4, 6);
  });
});
