// A plan's baselines (src/plan/baselines.ts): the final-size model from scratch and the first stage
// trained on, each with the staged run's training FLOPs, in run.json beside the staged series.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { baselineSpecs } from '../../src/plan/baselines.js';
import { loadPlan } from '../../src/plan/plan.js';
import { trainingFlopsPerToken } from '../../src/train/flops.js';
import { expectOneLineError, growlm } from '../cli/run.js';

let tmp: string, planFile: string;
const plan = {
  name: 'mini-baselines', data: { input: 'corpus', tokenizer: 'byte', val_fraction: 0.25 },
  defaults: { batch: 2, seq: 32, eval_batches: 1, checkpoint_every: 2 },
  stages: [
    { name: 'small', model: 's1.json', seed: 3, train: { steps: 6, lr: 1e-2, warmup: 2, schedule: 'constant' } },
    { name: 'big', model: 's2.json', grow: { method: 'msg', placement: 'interleave', ramp_steps: 2 }, train: { steps: 4, lr: 5e-3, warmup: 0, schedule: 'cosine' } },
  ],
  baselines: { scratch: true, continue_first: true },
};

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'growlm-baselines-'));
  const corpus = join(tmp, 'corpus');
  mkdirSync(corpus);
  const text = 'The quick brown fox jumps over the lazy dog. A stitch in time saves nine. All that glitters is not gold. ';
  for (let i = 0; i < 4; i++) writeFileSync(join(corpus, `doc${i}.txt`), text.repeat(30));
  const cfg = (d: number, L: number, f: number) => ({ vocab_size: 256, hidden_size: d, intermediate_size: f, num_hidden_layers: L, num_attention_heads: d / 8, head_dim: 8, max_position_embeddings: 32 });
  writeFileSync(join(tmp, 's1.json'), JSON.stringify(cfg(16, 1, 32)));
  writeFileSync(join(tmp, 's2.json'), JSON.stringify(cfg(32, 2, 64)));
  planFile = join(tmp, 'mini.plan.json');
  writeFileSync(planFile, JSON.stringify(plan));
});

const readMetrics = (dir: string) => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

describe('plan baselines', () => {
  it('sizes each baseline to the staged FLOPs with the schedule of the right stage', () => {
    const p = loadPlan(planFile);
    const [scratch, cont] = baselineSpecs(p, '/run', [1e9, 4e9]);
    const fpt2 = trainingFlopsPerToken(scratch!.config, 32), fpt1 = trainingFlopsPerToken(cont!.config, 32);
    expect(scratch!.kind).toBe('scratch');
    expect(scratch!.config.hiddenSize).toBe(32);
    expect(scratch!.steps).toBe(Math.round(5e9 / (2 * 32 * fpt2))); // all of the staged FLOPs
    expect(scratch).toMatchObject({ lr: 1e-2, warmup: 2, schedule: 'cosine', initSeed: 3, dataSeed: 0 });
    expect(scratch!.from).toBeUndefined();
    expect(cont!.config.hiddenSize).toBe(16);
    expect(cont!.steps).toBe(Math.round(4e9 / (2 * 32 * fpt1))); // what the later stages spent
    expect(cont).toMatchObject({ lr: 5e-3, warmup: 0, schedule: 'cosine', from: join('/run', 'small'), dataSeed: 1 });
  });

  it('plan run trains both baselines with the staged FLOPs, puts them in run.json, and skips them on a rerun', () => {
    const out = join(tmp, 'run');
    const r = growlm('plan', 'run', planFile, '--out', out, '--threads', '1', '--json');
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    const staged = ['small', 'big'].map((s) => readMetrics(join(out, s)).at(-1).flops).reduce((a, b) => a + b, 0);
    const scratch = readMetrics(join(out, 'baseline-scratch'));
    const cont = readMetrics(join(out, 'baseline-continue-first'));
    const stepFlops = (m: { flops: number }[]) => m[0]!.flops;
    // equal training FLOPs within half a step of each baseline
    expect(Math.abs(scratch.at(-1).flops - staged)).toBeLessThanOrEqual(stepFlops(scratch) / 2);
    const contTotal = readMetrics(join(out, 'small')).at(-1).flops + cont.at(-1).flops;
    expect(Math.abs(contTotal - staged)).toBeLessThanOrEqual(stepFlops(cont) / 2);
    expect(summary.baselines.map((b: { kind: string }) => b.kind)).toEqual(['scratch', 'continue_first']);
    expect(summary.baselines[1].flops).toBeCloseTo(contTotal, 0);
    // the continuation starts from the trained first stage (its loss is far below a fresh model's ln 256 ≈ 5.55)
    expect(scratch[0].loss).toBeGreaterThan(5.3);
    const small = readMetrics(join(out, 'small'));
    expect(cont[0].loss).toBeLessThan((small[0].loss + small.at(-1).loss) / 2);
    expect(cont[0].lr).toBeGreaterThan(0.95 * 5e-3); // the last stage's schedule: no warm-up, cosine from its peak
    expect(cont[0].lr).toBeLessThanOrEqual(5e-3);
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    expect(run.series.map((s: { label: string }) => s.label)).toEqual(['staged growth', 'final-size model from scratch', 'first stage trained on (no growth)']);
    expect(run.series[2].stages.map((s: { dir: string }) => s.dir)).toEqual(['small', 'baseline-continue-first']);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toContain('Baselines with the staged run');
    const again = growlm('plan', 'run', planFile, '--out', out, '--threads', '1');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('from scratch: done (skipped)');
    expect(again.stderr).toContain('trained on: done (skipped)');
  });

  it('--no-baselines trains only the stages', () => {
    const out = join(tmp, 'run-no-baselines');
    const r = growlm('plan', 'run', planFile, '--out', out, '--threads', '1', '--no-baselines', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).baselines).toBeUndefined();
    expect(existsSync(join(out, 'baseline-scratch'))).toBe(false);
    expect(existsSync(join(out, 'baseline-continue-first'))).toBe(false);
    expect(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).series).toHaveLength(1);
  });

  it('rejects a malformed baselines section in one line', () => {
    const bad = join(tmp, 'bad.plan.json');
    writeFileSync(bad, JSON.stringify({ ...plan, baselines: { scratch: 'yes' } }));
    expectOneLineError(growlm('plan', 'run', bad, '--out', join(tmp, 'bad')), /plan\.baselines\.scratch: expected true or false, got "yes"/);
  });
});
