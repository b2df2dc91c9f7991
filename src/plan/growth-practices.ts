/**
 * The growth lab: from ONE trained base model, grow and keep training under a grid of choices
 * (placement, MSG ramp, staggered masks, LR after growth, method, width/depth order, post-growth LR
 * multiplier), each at the same training-FLOPs budget and over several seeds (seed = data order and
 * new-weight init). The grid varies one dimension at a time around a default setting.
 *
 * RUN_DIR layout: base/ (trained once on a cosine schedule, reused), base-constant/ (the same steps
 * and warm-up at a constant LR, for lr=peak; trained once when a setting needs it), runs/<setting>/seed-<s>/stage-<k>/ (model dirs),
 * results.jsonl (one line per finished run; a rerun skips what is there), summary.json, run.json +
 * report.html.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { openDataset } from '../data/dataset.js';
import { type ModelConfig, configToJson, parameterCount } from '../model/config.js';
import { CONFIG_FILE, loadModelDir, saveModelDir } from '../model/model-dir.js';
import { OPTIMIZER_FILE, loadOptimizerState, saveOptimizerState } from '../model/training-state.js';
import { initWeights } from '../model/weights.js';
import { growModel } from '../growth/grow-model.js';
import type { GrowableModel } from '../growth/types.js';
import { compareModels } from '../growth/check.js';
import { layerDistances } from '../growth/calibrate.js';
import { METRICS_FILE, readMetrics } from '../train/metrics.js';
import { windows } from '../data/batch.js';
import { trainingFlopsPerToken } from '../train/flops.js';
import { DEFAULT_TRAIN, trainModelDir } from '../train/train-model-dir.js';
import { writeFileAtomic } from '../util/atomic.js';
import { prepareDataset } from '../data/prepare.js';
import { META_FILE } from '../data/meta.js';
import { writeReport } from '../report/report.js';
import { RUN_FILE } from '../report/run-record.js';
import { GrowlmError } from '../util/errors.js';
import { Rng, fillNormalFast } from '../util/rng.js';
import { type Bump, type MeanStd, type MetricPoint, type Verdict, formatMeanStd, meanStd, measureBump, verdict } from './seeds-stats.js';

export class GridError extends GrowlmError {}

/** The dimensions of the grid and the values each may take. */
export const DIMENSIONS = {
  /** Where new layers go (msg/mask-free/clone all copy a neighbour's weights into them). */
  placement: ['append', 'interleave', 'distance'],
  /** MSG ramp length in optimizer steps (0: the copies are unmasked at once — depth up-scaling). */
  ramp: [0, 50, 100, 200, 800],
  /** MSG masks: staggered (FFN, hidden, heads in turn) or simultaneous. */
  stagger: [false, true],
  /**
   * LR after growth: rewind to the base's peak, a lower peak (1/3) with re-warmup, or keep the base's
   * last LR (constant) — all three grow the cosine-trained base. peak: warmup–stable–decay across
   * growth — grow a base trained at a constant peak LR (base-constant/), keep that peak with no
   * warm-up, constant through every growth but the last, cosine-decay only in the last part.
   */
  lr: ['rewind', 'lower', 'keep', 'peak'],
  /**
   * msg: masks. mask-free: zero outputs of new units/layers (LLaMA Pro's zero-output layers).
   * clone: HyperCloning. clone-perturbed: clone plus small noise on the copies (symmetry breaking).
   */
  method: ['msg', 'mask-free', 'clone', 'clone-perturbed'],
  /** Width and depth in one growth, or width first then depth (or the reverse), each half of the budget. */
  order: ['both', 'width-depth', 'depth-width'],
  /** Post-growth LR multiplier (μP transfer check, --lr-sweep). */
  lr_mult: [1 / 3, 1, 3],
} as const;

export type Dimension = keyof typeof DIMENSIONS;
export type Setting = { -readonly [K in Dimension]: (typeof DIMENSIONS)[K][number] };

/**
 * lr 'peak' (warmup–stable–decay across growth) since the full grid measured it against 'rewind':
 * no bump beyond the step-to-step noise (z 1.99 ± 0.22 vs 4.93) and a lower final loss (docs/growth-practices.md).
 */
/**
 * The lab's default setting, from its measurements (docs/growth-practices.md): the LR kept at its peak
 * through growth (warmup–stable–decay) and masks ramped over 200 of the 300 post-growth steps — the
 * one setting whose loss bump stayed within z ≤ 2 in every seed, with the lowest final loss of the ramps.
 */
export const DEFAULT_SETTING: Setting = { placement: 'interleave', ramp: 200, stagger: false, lr: 'peak', method: 'msg', order: 'both', lr_mult: 1 };

export interface Grid {
  default: Setting;
  values: { [K in Dimension]?: Setting[K][] };
}

/** Every choice of every dimension except the LR multiplier (that is --lr-sweep). */
export const FULL_GRID: Grid = {
  default: DEFAULT_SETTING,
  values: {
    placement: ['append', 'interleave', 'distance'], ramp: [0, 50, 200, 800], stagger: [false, true], lr: ['rewind', 'lower', 'keep', 'peak'],
    method: ['msg', 'mask-free', 'clone', 'clone-perturbed'], order: ['both', 'width-depth', 'depth-width'],
  },
};

/**
 * The choices most likely to matter, for a ≤ 10-minute run. Its runs train 150 steps after growth, so
 * its default ramp is 100 (the same ⅔ of the run as the full grid's 200 of 300): masks that never
 * reach 1 would leave a masked model at the end.
 */
export const QUICK_GRID: Grid = {
  default: { ...DEFAULT_SETTING, ramp: 100 },
  values: { ramp: [0, 50, 100], lr: ['rewind', 'keep', 'peak'], method: ['msg', 'mask-free', 'clone-perturbed'] },
};

export const LR_SWEEP: Grid['values'] = { lr_mult: [1 / 3, 1, 3] };

const DIMS = Object.keys(DIMENSIONS) as Dimension[];

function checkValue(dim: Dimension, v: unknown, where: string): void {
  const allowed = DIMENSIONS[dim] as readonly unknown[];
  const ok = dim === 'lr_mult' ? typeof v === 'number' && v > 0 && Number.isFinite(v) : allowed.includes(v);
  if (!ok) {
    const list = dim === 'lr_mult' ? 'a positive number' : `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`;
    throw new GridError(`${where}: ${dim}: ${JSON.stringify(v)} is not ${list}`);
  }
}

/**
 * A grid file: `{ "default": { "ramp": 200 }, "placement": ["append", "interleave"], "ramp": [0, 800] }`
 * — values per dimension to try, and optionally a changed default setting. Unknown fields and values
 * are errors that name them.
 */
export function parseGrid(raw: unknown, where: string): Grid {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new GridError(`${where}: must be a JSON object of dimension → list of values`);
  const grid: Grid = { default: { ...DEFAULT_SETTING }, values: {} };
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (k === 'default') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new GridError(`${where}: default: must be an object of dimension → value`);
      for (const [dk, dv] of Object.entries(v as Record<string, unknown>)) {
        if (!DIMS.includes(dk as Dimension)) throw new GridError(`${where}: default: unknown field "${dk}" (known: ${DIMS.join(', ')})`);
        checkValue(dk as Dimension, dv, `${where}: default`);
        (grid.default as Record<string, unknown>)[dk] = dv;
      }
      continue;
    }
    if (!DIMS.includes(k as Dimension)) throw new GridError(`${where}: unknown field "${k}" (known: default, ${DIMS.join(', ')})`);
    if (!Array.isArray(v) || v.length === 0) throw new GridError(`${where}: ${k}: must be a non-empty list of values`);
    for (const x of v) checkValue(k as Dimension, x, where);
    (grid.values as Record<string, unknown[]>)[k] = v;
  }
  return grid;
}

export interface GridRun {
  /** 'default' or `dim=value`. */
  name: string;
  /** The dimension varied (null for the default setting). */
  dim: Dimension | null;
  setting: Setting;
}

export function formatValue(v: unknown): string {
  return typeof v === 'number' && !Number.isInteger(v) ? v.toPrecision(3).replace(/0+$/, '') : String(v);
}

/** The default setting, then each dimension's other values one at a time (no cartesian product). */
export function expandGrid(grid: Grid): GridRun[] {
  const out: GridRun[] = [{ name: 'default', dim: null, setting: { ...grid.default } }];
  for (const dim of DIMS) {
    for (const v of grid.values[dim] ?? []) {
      if (v === grid.default[dim]) continue;
      const name = `${dim}=${formatValue(v)}`;
      if (out.some((r) => r.name === name)) continue;
      out.push({ name, dim, setting: { ...grid.default, [dim]: v } });
    }
  }
  return out;
}

export interface PracticesOptions {
  runDir: string;
  dataDir: string;
  base: ModelConfig;
  target: ModelConfig;
  baseSteps: number;
  batch: number;
  seq: number;
  /** Peak LR of the base (the transferred/tuned value); post-growth LRs derive from it. */
  lr: number;
  warmup: number;
  /** Training FLOPs of every run after growth. */
  budget: number;
  seeds: number;
  evalBatches: number;
  /** Post-growth evaluations per run (the bump is read from them). */
  evals: number;
  /** clone-perturbed: noise std as a fraction of initializer_range on the copied entries. */
  perturb: number;
  threads?: number;
  note(msg: string): void;
}

export interface RunResult {
  setting: string;
  dim: Dimension | null;
  seed: number;
  placement: Setting['placement'];
  ramp: number;
  stagger: boolean;
  lr: Setting['lr'];
  method: Setting['method'];
  order: Setting['order'];
  lr_mult: number;
  final_val_loss: number;
  pre_val_loss: number;
  val_bump: number;
  val_peak_step: number | null;
  train_bump: number;
  z: number;
  steps_to_recover: number | null;
  steps: number;
  flops: number;
  /** max |Δlogit| right after (each) growth, on a held-out batch: the cost in function preservation. */
  max_abs_logit_diff: number;
  seconds: number;
}

export const RESULTS_FILE = 'results.jsonl';
export const SUMMARY_FILE = 'summary.json';

/** The intermediate and final configs of a setting's growth steps. */
export function growthPath(base: ModelConfig, target: ModelConfig, order: Setting['order']): ModelConfig[] {
  const wide: ModelConfig = { ...target, numLayers: base.numLayers };
  const deep: ModelConfig = { ...base, numLayers: target.numLayers };
  if (order === 'both') return [target];
  return order === 'width-depth' ? [wide, target] : [deep, target];
}

/** Optimizer steps that spend `flops` training `c` at batch × seq tokens per step (at least 1). */
export function stepsFor(c: ModelConfig, flops: number, batch: number, seq: number): number {
  return Math.max(1, Math.round(flops / (batch * seq * trainingFlopsPerToken(c, seq))));
}

/**
 * Symmetry breaking for clone: add N(0, (eps·initializer_range)²) to every weight entry outside the
 * old top-left block of a grown tensor (the copies), leaving the original entries as they were.
 */
export function perturbCopies(grown: GrowableModel, source: GrowableModel, eps: number, seed: number): GrowableModel {
  if (eps === 0) return grown;
  const rng = new Rng(seed);
  const std = eps * grown.config.initStd;
  for (const [name, t] of grown.weights) {
    const s = source.weights.get(name);
    if (!s) continue; // a new layer: zero outputs, the identity
    const d = t.data as Float32Array;
    const [r2, c2] = t.dims.length === 1 ? [1, t.dims[0]!] : [t.dims[0]!, t.dims[1]!];
    const [r1, c1] = s.dims.length === 1 ? [1, s.dims[0]!] : [s.dims[0]!, s.dims[1]!];
    if (r1 === r2 && c1 === c2) continue;
    const noise = new Float32Array(r2 * c2);
    fillNormalFast(rng, noise, std);
    for (let r = 0; r < r2; r++) for (let c = 0; c < c2; c++) if (r >= r1 || c >= c1) d[r * c2 + c]! += noise[r * c2 + c]!;
  }
  return grown;
}

type Metrics = ReturnType<typeof readMetrics>['entries'];

function done(dir: string, steps: number): boolean {
  return existsSync(join(dir, METRICS_FILE)) && (readMetrics(join(dir, METRICS_FILE)).entries.at(-1)?.step ?? 0) >= steps && existsSync(join(dir, CONFIG_FILE));
}

/** The two bases: cosine to 0.1× the peak (every LR choice but peak), or constant at the peak after the warm-up (lr=peak). */
export type BaseKind = 'cosine' | 'constant';

export function baseKind(s: Setting): BaseKind {
  return s.lr === 'peak' ? 'constant' : 'cosine';
}

/** RUN_DIR-relative directory of a base. */
export function baseDirName(kind: BaseKind): string {
  return kind === 'cosine' ? 'base' : 'base-constant';
}

/** Train a base once (cached: a finished base is reused as is). Both kinds: same init, data order, steps and warm-up. */
export async function trainBase(o: PracticesOptions, kind: BaseKind = 'cosine'): Promise<Metrics> {
  const name = baseDirName(kind);
  const dir = join(o.runDir, name);
  if (!done(dir, o.baseSteps)) {
    rmSync(dir, { recursive: true, force: true });
    o.note(`${name}: ${parameterCount(o.base).toLocaleString('en-US')} parameters, ${o.baseSteps} steps at LR ${o.lr} (${kind === 'cosine' ? 'cosine to 0.1×' : 'constant after the warm-up'})`);
    saveModelDir(dir, { config: o.base, weights: initWeights(o.base, 0) });
    await trainModelDir(dir, o.dataDir, {
      ...DEFAULT_TRAIN, steps: o.baseSteps, batch: o.batch, seq: o.seq, lr: o.lr, schedule: kind, warmup: o.warmup, minLrRatio: 0.1,
      evalEvery: Math.max(1, Math.round(o.baseSteps / 5)), evalBatches: o.evalBatches, checkpointEvery: 0, seed: 0, session: { threads: o.threads },
    }, () => {});
  } else o.note(`${name}: trained (reused)`);
  return readMetrics(join(dir, METRICS_FILE)).entries;
}

/** Measured training FLOP/s of the base (for the duration estimate). */
export function flopsPerSecond(m: Metrics): number {
  const last = m.at(-1)!;
  return last.flops / Math.max(1e-9, last.elapsed_s);
}

/** Seconds a grid should take: every run's FLOPs at the measured rate, plus a fixed cost per growth step (graph building, evaluation). */
export function estimateSeconds(runs: GridRun[], seeds: number, budget: number, flopsPerS: number, perGrowthS = 2): number {
  return runs.reduce((s, r) => s + seeds * (budget / flopsPerS + perGrowthS * (r.setting.order === 'both' ? 1 : 2)), 0);
}

/**
 * The LR of part k (of `parts`) after growth. rewind/lower: cosine from a re-warmed peak in each part.
 * keep: constant at the LR the previous part ended with (set by the caller). peak: the base's peak
 * (× lr_mult) with no warm-up, constant in every part but the last, which decays (cosine to 0.1×) —
 * the demo plan's warmup–stable–decay schedule across growth.
 */
export function postLr(s: Setting, o: Pick<PracticesOptions, 'lr' | 'warmup'>, base: Metrics, k = 0, parts = 1): { lr: number; schedule: 'cosine' | 'constant'; warmup: number } {
  if (s.lr === 'keep') return { lr: base.at(-1)!.lr * s.lr_mult, schedule: 'constant', warmup: 0 };
  if (s.lr === 'peak') return { lr: o.lr * s.lr_mult, schedule: k < parts - 1 ? 'constant' : 'cosine', warmup: 0 };
  return { lr: o.lr * (s.lr === 'lower' ? 1 / 3 : 1) * s.lr_mult, schedule: 'cosine', warmup: o.warmup };
}

/** One grown-and-continued run of a setting and seed; `baseMetrics`: the metric lines of the setting's own base (baseKind). */
export async function runSetting(run: GridRun, seed: number, o: PracticesOptions, baseMetrics: Metrics): Promise<RunResult> {
  const t0 = performance.now();
  const s = run.setting;
  const dir = join(o.runDir, 'runs', run.name, `seed-${seed}`);
  rmSync(dir, { recursive: true, force: true });
  const data = openDataset(o.dataDir);
  const heldOut = windows(data.val, 4, o.seq).next().value!;
  data.close();
  const baseDir = join(o.runDir, baseDirName(baseKind(s)));
  const b = loadModelDir(baseDir);
  let prev: GrowableModel = { ...b, optimizer: loadOptimizerState(join(baseDir, OPTIMIZER_FILE)) };
  const path = growthPath(o.base, o.target, s.order);
  const after: MetricPoint[] = [];
  let offset = 0, flops = 0, diff = 0, prevMetrics = baseMetrics;
  for (const [k, target] of path.entries()) {
    const steps = stepsFor(target, o.budget / path.length, o.batch, o.seq);
    const method = s.method === 'clone-perturbed' ? 'clone' : s.method;
    const distances = s.placement === 'distance' && target.numLayers > prev.config.numLayers ? await layerDistances(prev.config, prev.weights, heldOut) : undefined;
    // a first growth of two must finish its ramp before the second one
    // (ramp 0 = masks at 1 from the first step on: a ramp of 1 step, the config's minimum)
    const ramp = Math.max(1, k < path.length - 1 ? Math.min(s.ramp, steps) : s.ramp);
    let grown = growModel(prev, target, { method, placement: s.placement, seed: 1000 * seed + k, rampSteps: ramp, stagger: s.stagger, layerDistances: distances });
    if (s.method === 'clone-perturbed') grown = perturbCopies(grown, prev, o.perturb, 7919 * seed + k);
    const check = await compareModels(prev, grown, heldOut);
    diff = Math.max(diff, check.max_abs_logit_diff);
    const stageDir = join(dir, `stage-${k}`);
    saveModelDir(stageDir, { config: grown.config, weights: grown.weights });
    if (grown.optimizer) saveOptimizerState(join(stageDir, OPTIMIZER_FILE), grown.weights, grown.optimizer);
    // 'keep' continues at the LR the previous part ended with
    const lr = postLr(s, o, baseMetrics, k, path.length);
    const kLr = s.lr === 'keep' ? { ...lr, lr: prevMetrics.at(-1)!.lr * (k === 0 ? s.lr_mult : 1) } : lr;
    await trainModelDir(stageDir, o.dataDir, {
      ...DEFAULT_TRAIN, steps, batch: o.batch, seq: o.seq, lr: kLr.lr, schedule: kLr.schedule, warmup: kLr.warmup, minLrRatio: 0.1,
      evalEvery: Math.max(1, Math.round((steps * path.length) / o.evals)), evalBatches: o.evalBatches, checkpointEvery: 0,
      seed: 1 + seed, session: { threads: o.threads },
    }, () => {});
    const m = readMetrics(join(stageDir, METRICS_FILE)).entries;
    for (const e of m) after.push({ step: e.step + offset, loss: e.loss, val_loss: e.val_loss ?? null });
    offset += m.at(-1)!.step;
    flops += m.at(-1)!.flops;
    prevMetrics = m;
    const trained = loadModelDir(stageDir);
    prev = { ...trained, optimizer: loadOptimizerState(join(stageDir, OPTIMIZER_FILE)) };
  }
  const bump: Bump = measureBump(baseMetrics, after);
  const finalVal = [...after].reverse().find((e) => e.val_loss !== null && e.val_loss !== undefined)!.val_loss!;
  return {
    setting: run.name, dim: run.dim, seed, ...s, final_val_loss: finalVal, pre_val_loss: bump.pre_val_loss, val_bump: bump.val_bump,
    val_peak_step: bump.val_peak_step, train_bump: bump.train_bump, z: bump.z, steps_to_recover: bump.steps_to_recover, steps: offset, flops,
    max_abs_logit_diff: diff, seconds: (performance.now() - t0) / 1000,
  };
}

/** Whether a finished run was made with exactly this setting (its name alone is not enough: the default may have changed). */
export function sameSetting(r: RunResult, s: Setting): boolean {
  return DIMS.every((d) => JSON.stringify(r[d]) === JSON.stringify(s[d]));
}

/**
 * The finished runs of `runs` (seeds < `seeds`): same name and same setting. A line whose setting
 * differs from what its name means now (a RUN_DIR run before the default changed) is not reused;
 * that run is made again (its model directory replaced) and the stale line ignored.
 */
export function matchResults(runs: GridRun[], have: RunResult[], seeds: number): RunResult[] {
  const out: RunResult[] = [];
  for (const run of runs) {
    for (let seed = 0; seed < seeds; seed++) {
      const r = [...have].reverse().find((x) => x.setting === run.name && x.seed === seed && sameSetting(x, run.setting));
      if (r) out.push(r);
    }
  }
  return out;
}

export function readResults(runDir: string): RunResult[] {
  const path = join(runDir, RESULTS_FILE);
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as RunResult);
}

export interface SettingSummary {
  setting: string;
  dim: Dimension | null;
  seeds: number;
  final_val_loss: MeanStd;
  val_bump: MeanStd;
  z: MeanStd;
  /** Mean over the seeds that recovered; `not_recovered` counts the others. */
  steps_to_recover: MeanStd;
  not_recovered: number;
  max_abs_logit_diff: number;
  seconds: MeanStd;
  /** Final validation loss against the default setting (ties: |Δ| within the spread). */
  vs_default: Verdict;
}

export function summarize(runs: GridRun[], results: RunResult[]): SettingSummary[] {
  const by = (name: string) => results.filter((r) => r.setting === name);
  const def = meanStd(by('default').map((r) => r.final_val_loss));
  return runs.filter((r) => by(r.name).length > 0).map((run) => {
    const rs = by(run.name);
    const fin = meanStd(rs.map((r) => r.final_val_loss));
    const rec = rs.map((r) => r.steps_to_recover).filter((x): x is number => x !== null);
    return {
      setting: run.name, dim: run.dim, seeds: rs.length, final_val_loss: fin, val_bump: meanStd(rs.map((r) => r.val_bump)), z: meanStd(rs.map((r) => r.z)),
      steps_to_recover: meanStd(rec), not_recovered: rs.length - rec.length, max_abs_logit_diff: Math.max(...rs.map((r) => r.max_abs_logit_diff)),
      seconds: meanStd(rs.map((r) => r.seconds)), vs_default: run.dim === null ? 'reference' : verdict(fin, def),
    };
  });
}

/** The summary as an aligned text table. */
export function summaryTable(rows: SettingSummary[]): string {
  const head = ['setting', 'seeds', 'final val loss', 'vs default', 'val bump', 'z (train bump)', 'steps to recover', 'max |Δlogit|'];
  const body = rows.map((r) => [
    r.setting, String(r.seeds), formatMeanStd(r.final_val_loss), r.vs_default, formatMeanStd(r.val_bump), formatMeanStd(r.z, 2),
    `${formatMeanStd(r.steps_to_recover, 0)}${r.not_recovered ? ` (${r.not_recovered} not)` : ''}`, r.max_abs_logit_diff.toExponential(1),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  return [head, ...body].map((row) => row.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd()).join('\n');
}

/** The run record for `growlm report`: one series per setting (seed 0: base + grown stages) and the per-setting figures. */
export function practicesRunRecord(o: PracticesOptions, runs: GridRun[], summary: SettingSummary[]) {
  const stage = (name: string, dir: string, c: ModelConfig) => ({ name, dir, parameters: parameterCount(c), config: configToJson(c), tokens_per_s: null });
  const seed0 = runs.filter((r) => existsSync(join(o.runDir, 'runs', r.name, 'seed-0', `stage-${growthPath(o.base, o.target, r.setting.order).length - 1}`, METRICS_FILE)));
  return {
    name: 'growth practices', kind: 'experiment' as const, created: new Date().toISOString(),
    description: `From one trained base (${parameterCount(o.base).toLocaleString('en-US')} parameters; lr=peak: its constant-LR twin) grown to ${parameterCount(o.target).toLocaleString('en-US')}, each setting trained on with ${o.budget.toExponential(2)} FLOPs; curves: seed 0.`,
    series: seed0.map((r) => ({
      label: r.name,
      stages: [stage('base', baseDirName(baseKind(r.setting)), o.base), ...growthPath(o.base, o.target, r.setting.order).map((c, k) => stage(`grown-${k}`, join('runs', r.name, 'seed-0', `stage-${k}`), c))],
    })),
    growth: [],
    samples: [],
    settings: summary.map((s) => ({ label: s.setting, mean: s.final_val_loss.mean, std: s.final_val_loss.std, n: s.final_val_loss.n, verdict: s.vs_default })),
  };
}

export const LAB_FILE = 'lab.json';

/** What the base and every run depend on; a RUN_DIR made with other values is refused (its cache would mix them). */
export function labSettings(o: PracticesOptions): Record<string, unknown> {
  return {
    base: configToJson(o.base), target: configToJson(o.target), base_steps: o.baseSteps, batch: o.batch, seq: o.seq, lr: o.lr, warmup: o.warmup,
    budget: o.budget, eval_batches: o.evalBatches, evals: o.evals, perturb: o.perturb, data: o.dataDir,
  };
}

function checkLabSettings(o: PracticesOptions): void {
  const path = join(o.runDir, LAB_FILE);
  const now = labSettings(o);
  if (existsSync(path)) {
    const was = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    const diff = Object.keys(now).find((k) => JSON.stringify(was[k]) !== JSON.stringify(now[k]));
    if (diff) throw new GrowlmError(`${o.runDir} holds a lab run made with another ${diff} (${JSON.stringify(was[diff])}); use another --out or remove it`);
  } else writeFileAtomic(path, [JSON.stringify(now, null, 2) + '\n']);
}

/** Run the grid (resumable: finished runs in results.jsonl are kept). */
export async function runGrowthPractices(grid: Grid, o: PracticesOptions): Promise<{ runs: GridRun[]; results: RunResult[]; summary: SettingSummary[]; estimate_s: number }> {
  mkdirSync(o.runDir, { recursive: true });
  checkLabSettings(o);
  const runs = expandGrid(grid);
  const bases: Partial<Record<BaseKind, Metrics>> = {};
  for (const kind of ['cosine', 'constant'] as const) if (runs.some((r) => baseKind(r.setting) === kind)) bases[kind] = await trainBase(o, kind);
  const baseMetrics = (bases.cosine ?? bases.constant)!;
  const estimate = estimateSeconds(runs, o.seeds, o.budget, flopsPerSecond(baseMetrics));
  const lastVal = (m: Metrics | undefined) => m?.filter((e) => e.val_loss !== undefined).at(-1)?.val_loss;
  const pre = lastVal(bases.cosine), preConstant = lastVal(bases.constant);
  o.note(`base val loss ${pre?.toFixed(4) ?? '—'}${bases.constant ? `, base-constant ${preConstant?.toFixed(4)}` : ''}; ${runs.length} settings × ${o.seeds} seeds at ${o.budget.toExponential(2)} FLOPs each (${stepsFor(o.target, o.budget, o.batch, o.seq)} steps of the target in one growth): about ${Math.ceil(estimate / 60)} min (from the base's measured FLOP/s)`);
  const have = readResults(o.runDir);
  let i = 0, spent = 0, ran = 0;
  const todo = runs.length * o.seeds - matchResults(runs, have, o.seeds).length;
  for (const run of runs) {
    for (let seed = 0; seed < o.seeds; seed++) {
      i++;
      if (have.some((r) => r.setting === run.name && r.seed === seed && sameSetting(r, run.setting))) continue;
      const r = await runSetting(run, seed, o, bases[baseKind(run.setting)]!);
      appendFileSync(join(o.runDir, RESULTS_FILE), JSON.stringify(r) + '\n');
      have.push(r);
      spent += r.seconds;
      ran++;
      o.note(`[${i}/${runs.length * o.seeds}] ${run.name} seed ${seed}: val loss ${r.final_val_loss.toFixed(4)}, bump ${r.val_bump.toFixed(4)} (z ${r.z.toFixed(1)}), ${r.seconds.toFixed(1)} s; about ${Math.ceil(((todo - ran) * spent) / ran / 60)} min left`);
    }
  }
  const results = matchResults(runs, have, o.seeds);
  const summary = summarize(runs, results);
  writeFileAtomic(join(o.runDir, SUMMARY_FILE), [JSON.stringify({ budget_flops: o.budget, seeds: o.seeds, base_val_loss: pre, base_constant_val_loss: preConstant, settings: summary }, null, 2) + '\n']);
  return { runs, results, summary, estimate_s: estimate };
}

/** The default base of the lab: the target at half width (half the heads) and half depth. */
export function halfBase(target: ModelConfig): ModelConfig {
  return { ...target, hiddenSize: target.hiddenSize / 2, numHeads: target.numHeads / 2, numKvHeads: target.numKvHeads / 2, intermediateSize: target.intermediateSize / 2, numLayers: target.numLayers / 2 };
}

export interface PracticesDirOptions extends Omit<PracticesOptions, 'dataDir' | 'budget'> {
  /** A prepared dataset (default: the builtin corpus, byte tokenizer, prepared into RUN_DIR/data once). */
  data?: string;
  /** Training FLOPs after growth per run (default: `steps` steps of the target). */
  budget?: number;
  /** Post-growth steps of the target that make the default budget. */
  steps: number;
}

/** growth-practices in `o.runDir` (resumable): data, base, grid runs, summary, run.json and report.html. */
export async function runGrowthPracticesDir(grid: Grid, o: PracticesDirOptions) {
  if (!(o.perturb >= 0)) throw new GridError(`perturbation must be ≥ 0, got ${o.perturb}`);
  const budget = o.budget ?? o.steps * o.batch * o.seq * trainingFlopsPerToken(o.target, o.seq);
  let dataDir = o.data;
  if (!dataDir) {
    dataDir = join(o.runDir, 'data');
    if (!existsSync(join(dataDir, META_FILE))) {
      o.note('preparing data (builtin gutenberg, byte tokenizer)…');
      await prepareDataset({ builtin: 'gutenberg', tokenizer: 'byte', outDir: dataDir, force: true });
    }
  }
  const opts: PracticesOptions = { ...o, dataDir, budget };
  const t0 = performance.now();
  const r = await runGrowthPractices(grid, opts);
  writeFileAtomic(join(o.runDir, RUN_FILE), [JSON.stringify(practicesRunRecord(opts, r.runs, r.summary), null, 2) + '\n']);
  const report = writeReport(o.runDir);
  return { ...r, seconds: (performance.now() - t0) / 1000, report: report.out };
}
