// The growth lab: grid expansion and validation, the statistics (mean ± std, ties), the bump and
// recovery measurement on synthetic metric lines, and a two-run smoke of `experiment growth-practices`.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SETTING, FULL_GRID, GridError, LR_SWEEP, QUICK_GRID, baseDirName, baseKind, expandGrid, parseGrid, perturbCopies, postLr } from '../../src/plan/growth-practices.js';
import { type MetricPoint, formatMeanStd, meanStd, measureBump, verdict } from '../../src/plan/seeds-stats.js';
import { growModel } from '../../src/growth/grow-model.js';
import { parseConfig } from '../../src/model/config.js';
import { initWeights } from '../../src/model/weights.js';
import { expectOneLineError, growlm } from '../cli/run.js';

describe('grid', () => {
  it('varies one dimension at a time around the default', () => {
    const runs = expandGrid(parseGrid({ placement: ['append', 'interleave'], ramp: [0, 200, 800], default: { method: 'mask-free' } }, 'g.json'));
    expect(runs.map((r) => r.name)).toEqual(['default', 'placement=append', 'ramp=0', 'ramp=800']);
    expect(runs[0]!.setting).toEqual({ ...DEFAULT_SETTING, method: 'mask-free' });
    expect(runs[1]!.setting).toEqual({ ...DEFAULT_SETTING, method: 'mask-free', placement: 'append' });
    expect(runs[3]!.setting).toEqual({ ...DEFAULT_SETTING, method: 'mask-free', ramp: 800 });
    expect(runs[3]!.dim).toBe('ramp');
    // the quick grid stays small: the reference + 2 ramps + 2 LRs + 2 methods (the default's own value of each is the reference)
    expect(expandGrid(QUICK_GRID)).toHaveLength(7);
    // the full grid, one at a time: 1 + 2 + 3 + 1 + 3 + 3 + 2 settings; --lr-sweep adds ×1/3 and ×3 of the post-growth LR
    expect(expandGrid(FULL_GRID)).toHaveLength(15);
    // warmup–stable–decay across growth is in both grids
    for (const g of [QUICK_GRID, FULL_GRID]) expect(expandGrid(g).some((r) => r.setting.lr === 'peak')).toBe(true);
    const sweep = expandGrid({ ...QUICK_GRID, values: { ...QUICK_GRID.values, ...LR_SWEEP } }).filter((r) => r.dim === 'lr_mult');
    expect(sweep.map((r) => [r.name, r.setting.lr_mult])).toEqual([['lr_mult=0.333', 1 / 3], ['lr_mult=3', 3]]);
  });

  it('a typo in a field or a value is an error naming it', () => {
    expect(() => parseGrid({ placement: ['interleaf'] }, 'g.json')).toThrow(GridError);
    expect(() => parseGrid({ placement: ['interleaf'] }, 'g.json')).toThrow(/g\.json: placement: "interleaf" is not one of "append", "interleave", "distance"/);
    expect(() => parseGrid({ plaecment: ['append'] }, 'g.json')).toThrow(/unknown field "plaecment"/);
    expect(() => parseGrid({ default: { ramp: 51 } }, 'g.json')).toThrow(/default: ramp: 51 is not one of/);
    expect(() => parseGrid({ lr_mult: [-1] }, 'g.json')).toThrow(/lr_mult: -1 is not a positive number/);
    expect(() => parseGrid({ ramp: [] }, 'g.json')).toThrow(/ramp: must be a non-empty list/);
    expect(() => parseGrid([1], 'g.json')).toThrow(/must be a JSON object/);
  });
});

describe('LR after growth', () => {
  const o = { lr: 3e-3, warmup: 20 };
  const base = [{ lr: 3e-4 }] as Parameters<typeof postLr>[2];
  it('peak: the base peak with no warm-up, constant until the last part, which decays; it grows the constant-LR base', () => {
    const peak = { ...DEFAULT_SETTING, lr: 'peak' as const };
    expect(postLr(peak, o, base)).toEqual({ lr: 3e-3, schedule: 'cosine', warmup: 0 });
    expect(postLr(peak, o, base, 0, 2)).toEqual({ lr: 3e-3, schedule: 'constant', warmup: 0 });
    expect(postLr(peak, o, base, 1, 2)).toEqual({ lr: 3e-3, schedule: 'cosine', warmup: 0 });
    expect(postLr({ ...peak, lr_mult: 3 }, o, base).lr).toBeCloseTo(9e-3, 12);
    expect(baseDirName(baseKind(peak))).toBe('base-constant');
    // the others grow the cosine base: rewind re-warms to the peak, keep stays at the base's last LR
    expect(baseDirName(baseKind({ ...DEFAULT_SETTING, lr: 'rewind' }))).toBe('base');
    expect(DEFAULT_SETTING.lr).toBe('peak'); // the lab's default since the full grid (docs/growth-practices.md)
    expect(postLr({ ...DEFAULT_SETTING, lr: 'rewind' }, o, base, 1, 2)).toEqual({ lr: 3e-3, schedule: 'cosine', warmup: 20 });
    expect(postLr({ ...DEFAULT_SETTING, lr: 'keep' }, o, base)).toEqual({ lr: 3e-4, schedule: 'constant', warmup: 0 });
  });
});

describe('statistics', () => {
  it('mean ± sample std, ties within the spread', () => {
    const a = meanStd([1, 2, 3, 4]);
    expect(a.mean).toBe(2.5);
    expect(a.std).toBeCloseTo(Math.sqrt(5 / 3), 12);
    expect(meanStd([7])).toEqual({ mean: 7, std: 0, n: 1 });
    expect(meanStd([NaN, 1, 3]).mean).toBe(2);
    expect(formatMeanStd(meanStd([1, 2]), 2)).toBe('1.50 ± 0.71');
    const ref = { mean: 2.0, std: 0.03, n: 3 };
    expect(verdict({ mean: 2.04, std: 0.03, n: 3 }, ref)).toBe('tie'); // 0.04 ≤ √(0.03² + 0.03²) = 0.042
    expect(verdict({ mean: 2.05, std: 0.03, n: 3 }, ref)).toBe('worse');
    expect(verdict({ mean: 1.9, std: 0.03, n: 3 }, ref)).toBe('better');
  });

  it('measures the bump, its z-score and the steps to recover on synthetic lines', () => {
    // before: loss 2.0 ± 0.01 alternating (step-to-step differences ±0.02), last validation loss 2.1
    const before: MetricPoint[] = Array.from({ length: 60 }, (_, i) => ({ step: i + 1, loss: 2 + (i % 2 ? 0.01 : -0.01) }));
    before[59]!.val_loss = 2.1;
    // after: train loss jumps to 2.3 for 10 steps then falls back; validation peaks at step 10, back at step 40
    const after: MetricPoint[] = Array.from({ length: 60 }, (_, i) => ({ step: i + 1, loss: i < 10 ? 2.3 : 1.95 }));
    const vals: Record<number, number> = { 10: 2.25, 20: 2.15, 30: 2.11, 40: 2.09, 50: 2.05, 60: 2.0 };
    for (const e of after) if (vals[e.step] !== undefined) e.val_loss = vals[e.step];
    const b = measureBump(before, after, { noiseWindow: 50, smooth: 5 });
    expect(b.pre_val_loss).toBe(2.1);
    expect(b.val_bump).toBeCloseTo(0.15, 12);
    expect(b.val_peak_step).toBe(10);
    expect(b.steps_to_recover).toBe(40);
    expect(b.pre_train_loss).toBeCloseTo(2, 12);
    const noise = meanStd(Array.from({ length: 49 }, (_, i) => (i % 2 ? -0.02 : 0.02))).std / Math.SQRT2;
    expect(b.train_noise).toBeCloseTo(noise, 12);
    expect(b.train_bump).toBeCloseTo(0.3, 12);
    expect(b.z).toBeCloseTo(0.3 / (noise / Math.sqrt(5)), 9);
    // no rise: recovered at once; a rise that never comes back: null
    expect(measureBump(before, after.map((e) => ({ ...e, loss: 1.9, ...(e.val_loss ? { val_loss: 2.0 } : {}) }))))
      .toMatchObject({ val_bump: 0, train_bump: 0, z: 0, steps_to_recover: 0 });
    expect(measureBump(before, after.map((e) => ({ ...e, ...(e.val_loss ? { val_loss: 2.2 } : {}) }))).steps_to_recover).toBeNull();
    expect(() => measureBump([{ step: 1, loss: 2 }], after)).toThrow(/no validation loss/);
  });
});

describe('clone with symmetry breaking', () => {
  it('perturbs only the copies (entries outside the old block)', () => {
    const cfg = (d: number, f: number) => parseConfig({ vocab_size: 16, hidden_size: d, intermediate_size: f, num_hidden_layers: 1, num_attention_heads: d / 8, head_dim: 8, max_position_embeddings: 8 });
    const src = { config: cfg(8, 16), weights: initWeights(cfg(8, 16), 1) };
    const grown = growModel(src, cfg(16, 32), { method: 'clone', placement: 'interleave', seed: 0, rampSteps: 0, stagger: false });
    const clean = new Map([...grown.weights].map(([k, t]) => [k, (t.data as Float32Array).slice()]));
    perturbCopies(grown, src, 0.1, 3);
    const up = 'model.layers.0.mlp.up_proj.weight';
    const after = grown.weights.get(up)!.data as Float32Array, before = clean.get(up)!;
    // old block [16, 8] at the top-left of [32, 16]: unchanged; every other entry moved
    let moved = 0;
    for (let r = 0; r < 32; r++) for (let c = 0; c < 16; c++) {
      const i = r * 16 + c;
      if (r < 16 && c < 8) expect(after[i]).toBe(before[i]);
      else if (after[i] !== before[i]) moved++;
    }
    expect(moved).toBe(32 * 16 - 16 * 8);
  });
});

describe('growlm experiment growth-practices', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'growlm-practices-'));
    const corpus = join(tmp, 'corpus');
    mkdirSync(corpus);
    const text = 'The quick brown fox jumps over the lazy dog. A stitch in time saves nine. All that glitters is not gold. ';
    for (let i = 0; i < 4; i++) writeFileSync(join(corpus, `doc${i}.txt`), text.repeat(30));
    const cfg = (d: number, L: number, f: number) => ({ vocab_size: 256, hidden_size: d, intermediate_size: f, num_hidden_layers: L, num_attention_heads: d / 8, head_dim: 8, max_position_embeddings: 32 });
    writeFileSync(join(tmp, 'b.json'), JSON.stringify(cfg(16, 1, 32)));
    writeFileSync(join(tmp, 't.json'), JSON.stringify(cfg(32, 2, 64)));
    writeFileSync(join(tmp, 'grid.json'), JSON.stringify({ lr: ['rewind'], method: ['clone-perturbed'] }));
    writeFileSync(join(tmp, 'typo.json'), JSON.stringify({ method: ['clone-perturbd'] }));
    expect(growlm('data', 'prepare', '--input', corpus, '--tokenizer', 'byte', '--out', join(tmp, 'data'), '--val-fraction', '0.25').code).toBe(0);
  });

  const common = () => ['--base', join(tmp, 'b.json'), '--target', join(tmp, 't.json'), '--data', join(tmp, 'data'), '--base-steps', '30', '--steps', '8',
    '--batch', '2', '--seq', '32', '--evals', '4', '--eval-batches', '1', '--threads', '1'];

  it('three runs end to end (the default from the constant-LR base, lr=rewind from the cosine one): results.jsonl, summary.json, report.html; a rerun reuses them', () => {
    const out = join(tmp, 'run');
    const r = growlm('experiment', 'growth-practices', ...common(), '--grid', join(tmp, 'grid.json'), '--seeds', '1', '--out', out, '--json');
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.results.map((x: { setting: string }) => x.setting)).toEqual(['default', 'lr=rewind', 'method=clone-perturbed']);
    for (const x of j.results) {
      expect(x.final_val_loss).toBeLessThan(x.pre_val_loss + 1);
      expect(Number.isFinite(x.z)).toBe(true);
      expect(x.steps).toBe(8);
    }
    // msg preserves the function exactly; the perturbed clone pays a measured, non-zero price
    expect(j.results[0].max_abs_logit_diff).toBeLessThan(1e-5);
    expect(j.results[2].max_abs_logit_diff).toBeGreaterThan(1e-4);
    expect(j.summary.map((s: { vs_default: string }) => s.vs_default)).toEqual(['reference', expect.stringMatching(/better|worse|tie/), expect.stringMatching(/better|worse|tie/)]);
    // the default (lr=peak) grew the constant-LR base and its bump is measured against that base's last validation loss
    const lastVal = (dir: string) => readFileSync(join(out, dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.val_loss !== undefined && e.val_loss !== null).at(-1).val_loss;
    const lrs = (dir: string) => readFileSync(join(out, dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((e) => typeof e.lr === 'number').map((e) => e.lr as number);
    expect(existsSync(join(out, 'base-constant'))).toBe(true);
    expect(lastVal('base-constant')).not.toBe(lastVal('base'));
    expect(j.results.map((x: { lr: string }) => x.lr)).toEqual(['peak', 'rewind', 'peak']);
    expect(j.results[0].pre_val_loss).toBe(lastVal('base-constant'));
    expect(j.results[1].pre_val_loss).toBe(lastVal('base'));
    expect(lrs('base-constant').at(-1)).toBeCloseTo(0.003, 9); // constant after the warm-up
    expect(lrs('base').at(-1)!).toBeLessThan(0.0005); // cosine to 0.1×
    const peak = lrs(join('runs', 'default', 'seed-0', 'stage-0'));
    expect(peak[0]).toBeGreaterThan(0.9 * 0.003); // no warm-up after growth
    expect(peak.at(-1)).toBeCloseTo(0.0003, 6); // decayed to 0.1× by the end
    expect(lrs(join('runs', 'lr=rewind', 'seed-0', 'stage-0'))[0]).toBeLessThan(0.001); // rewind re-warms
    expect(readFileSync(join(out, 'results.jsonl'), 'utf8').trim().split('\n')).toHaveLength(3);
    expect(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')).settings).toHaveLength(3);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toContain('<section id="settings">'); // the per-setting chart with error bars
    expect(html).toContain('method=clone-perturbed');
    const again = growlm('experiment', 'growth-practices', ...common(), '--grid', join(tmp, 'grid.json'), '--seeds', '1', '--out', out);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/^base: trained \(reused\)$/m);
    expect(again.stderr).toContain('base-constant: trained (reused)');
    expect(again.stderr).not.toContain('[1/3]');
    expect(again.stdout).toMatch(/method=clone-perturbed\s+1\s+\d\.\d{4}/);
    // another budget in the same RUN_DIR would mix results: refused
    expectOneLineError(growlm('experiment', 'growth-practices', ...common().map((a) => (a === '8' ? '9' : a)), '--seeds', '1', '--out', out), /holds a lab run made with another budget/);
    // the same name with another setting (the default changed) is run again, not taken from the old line
    writeFileSync(join(tmp, 'old-default.json'), JSON.stringify({ default: { lr: 'rewind' } }));
    const old = growlm('experiment', 'growth-practices', ...common(), '--grid', join(tmp, 'old-default.json'), '--seeds', '1', '--out', out, '--json');
    expect(old.code, old.stderr).toBe(0);
    expect(old.stderr).toContain('[1/1] default seed 0');
    const oj = JSON.parse(old.stdout);
    expect(oj.results.map((x: { setting: string; lr: string }) => [x.setting, x.lr])).toEqual([['default', 'rewind']]);
    expect(oj.results[0].pre_val_loss).toBe(lastVal('base'));
  });

  it('a grid file with a typo is a one-line error', () => {
    expectOneLineError(growlm('experiment', 'growth-practices', ...common(), '--grid', join(tmp, 'typo.json'), '--out', join(tmp, 'bad')), /method: "clone-perturbd" is not one of/);
  });
});
