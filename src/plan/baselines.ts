/**
 * The two baselines a staged plan must beat, trained inside `growlm plan run` when the plan asks
 * (`"baselines": { "scratch": true, "continue_first": true }`), each with the staged run's total
 * training FLOPs:
 *
 * - scratch: the final stage's model, initialized (first stage's seed) and trained from scratch:
 *   first stage's peak LR and warm-up, last stage's schedule kind and floor.
 * - continue_first: the first stage's trained model (weights and AdamW moments) trained on, instead
 *   of growing, with the FLOPs the later stages spend, on the last stage's schedule (its peak LR,
 *   warm-up, kind and floor) — the staged run minus the growth, so the comparison asks "does
 *   growing beat not growing?". Its series starts with the first stage's own curve.
 *
 * Each lands in RUN_DIR/<dir> (see BASELINE_DIRS) and is resumable like a stage: a finished one is
 * skipped, an interrupted one resumes from its last checkpoint.
 */
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { type ModelConfig, configToJson, parameterCount } from '../model/config.js';
import { CONFIG_FILE, WEIGHTS_FILE, loadModelDir, saveModelDir } from '../model/model-dir.js';
import { OPTIMIZER_FILE } from '../model/training-state.js';
import { initWeights } from '../model/weights.js';
import { METRICS_FILE, readMetrics } from '../train/metrics.js';
import { listCheckpoints } from '../train/checkpoint.js';
import { trainingFlopsPerToken } from '../train/flops.js';
import type { ScheduleKind } from '../train/schedule.js';
import { DEFAULT_TRAIN, trainModelDir } from '../train/train-model-dir.js';
import type { Logger } from '../train/trainer.js';
import { type Plan, PlanError, PlanInterruptedError, resolveStageConfig, stageTrain } from './plan.js';

export type BaselineKind = 'scratch' | 'continue_first';

export const BASELINE_DIRS: Record<BaselineKind, string> = { scratch: 'baseline-scratch', continue_first: 'baseline-continue-first' };
export const BASELINE_LABELS: Record<BaselineKind, string> = { scratch: 'final-size model from scratch', continue_first: 'first stage trained on (no growth)' };

/** What one baseline trains: a pure function of the plan and the staged run's FLOPs. */
export interface BaselineSpec {
  kind: BaselineKind;
  dir: string;
  config: ModelConfig;
  /** Model directory whose weights (and optimizer state) the baseline starts from; absent: a fresh init with `initSeed`. */
  from?: string;
  initSeed: number;
  steps: number;
  batch: number;
  seq: number;
  lr: number;
  schedule: ScheduleKind;
  warmup: number;
  minLrRatio: number;
  /** Batch-sampler seed (the staged run's stage i uses seed i). */
  dataSeed: number;
  /** Training FLOPs of the baseline's series the steps aim at (the staged run's total). */
  targetFlops: number;
}

/** Training FLOPs a stage directory spent (its metrics.jsonl's last line). */
export function stageFlops(dir: string): number {
  const path = join(dir, METRICS_FILE);
  if (!existsSync(path)) throw new PlanError(`${dir}: no ${METRICS_FILE} (the stage has not trained)`);
  return readMetrics(path).entries.at(-1)?.flops ?? 0;
}

export function baselineKinds(plan: Plan): BaselineKind[] {
  const b = plan.baselines;
  if (!b) return [];
  return (['scratch', 'continue_first'] as const).filter((k) => b[k]);
}

/**
 * One baseline of a plan in `dir`, aimed at `total` training FLOPs (the staged run's, or a multiple)
 * given `first` (what the first stage spent: the continued model, taken from `stagedDir`'s first
 * stage, has spent them already). Steps are rounded to the nearest whole step, so a baseline's FLOPs
 * match its aim within half a step. `seed` shifts the data order (experiments over seeds; the init
 * seed is the plan's first stage's).
 */
export function baselineSpec(plan: Plan, kind: BaselineKind, dir: string, at: { total: number; first: number; stagedDir: string; seed?: number }): BaselineSpec {
  const { total: totalFlops, first: firstFlops, seed = 0 } = at;
  const first = plan.stages[0]!, last = plan.stages.at(-1)!;
  const t1 = stageTrain(plan, first), tn = stageTrain(plan, last);
  const c1 = resolveStageConfig(plan, first), cn = resolveStageConfig(plan, last);
  const stepsFor = (flops: number, c: ModelConfig, batch: number, seq: number) => Math.max(1, Math.round(flops / (batch * seq * trainingFlopsPerToken(c, seq))));
  if (kind === 'scratch') {
    const batch = tn.batch ?? 8, seq = Math.min(tn.seq ?? cn.maxSeqLen, cn.maxSeqLen);
    const steps = stepsFor(totalFlops, cn, batch, seq);
    return {
      kind, dir, config: cn, initSeed: first.seed ?? 0, steps, batch, seq,
      lr: t1.lr ?? 1e-3, schedule: tn.schedule ?? 'cosine', warmup: t1.warmup ?? Math.round(steps * 0.02), minLrRatio: tn.min_lr_ratio ?? 0.1,
      dataSeed: 100 * seed, targetFlops: totalFlops,
    };
  }
  const batch = t1.batch ?? 8, seq = Math.min(t1.seq ?? c1.maxSeqLen, c1.maxSeqLen);
  const steps = stepsFor(totalFlops - firstFlops, c1, batch, seq);
  return {
    kind, dir, config: c1, from: join(at.stagedDir, first.name), initSeed: first.seed ?? 0, steps, batch, seq,
    lr: tn.lr ?? 1e-3, schedule: tn.schedule ?? 'cosine', warmup: tn.warmup ?? Math.round(steps * 0.02), minLrRatio: tn.min_lr_ratio ?? 0.1,
    dataSeed: 1 + 100 * seed, targetFlops: totalFlops,
  };
}

/** The baselines of a plan, given the training FLOPs of each staged stage (in order). */
export function baselineSpecs(plan: Plan, runDir: string, flopsPerStage: number[]): BaselineSpec[] {
  const total = flopsPerStage.reduce((a, b) => a + b, 0);
  return baselineKinds(plan).map((kind) => baselineSpec(plan, kind, join(runDir, BASELINE_DIRS[kind]), { total, first: flopsPerStage[0] ?? 0, stagedDir: runDir }));
}

export interface BaselineHooks {
  note(msg: string): void;
  stepLogger(name: string, steps: number, resumedFrom: number): Logger;
  threads?: number;
  /** Stop early (see PlanHooks.signal). */
  signal?: AbortSignal;
}

export interface BaselineResult {
  kind: BaselineKind;
  /** Training FLOPs of the whole series (for continue_first: the first stage's plus the continuation's). */
  flops: number;
  val_loss: number | null;
  tokens_per_s: number | null;
}

function lastEntry(dir: string) {
  const path = join(dir, METRICS_FILE);
  return existsSync(path) ? readMetrics(path).entries.at(-1) : undefined;
}

/** Train the plan's baselines (after its stages). Returns their final figures. */
export async function runBaselines(plan: Plan, runDir: string, hooks: BaselineHooks): Promise<BaselineResult[]> {
  if (baselineKinds(plan).length === 0) return [];
  const stageDirs = plan.stages.map((s) => join(runDir, s.name));
  const perStage = stageDirs.map(stageFlops);
  const out: BaselineResult[] = [];
  for (const b of baselineSpecs(plan, runDir, perStage)) {
    const what = b.kind === 'scratch' ? `${plan.stages.at(-1)!.model} from scratch` : `${plan.stages[0]!.name} trained on`;
    await trainBaseline(plan, b, join(runDir, 'data'), what, hooks);
    const e = lastEntry(b.dir);
    const flops = (e?.flops ?? 0) + (b.from ? perStage[0]! : 0);
    const valLoss = readMetrics(join(b.dir, METRICS_FILE)).entries.filter((x) => typeof x.val_loss === 'number').at(-1)?.val_loss ?? null;
    out.push({ kind: b.kind, flops, val_loss: valLoss, tokens_per_s: e?.tokens_per_s ?? null });
    hooks.note(`  ${BASELINE_LABELS[b.kind]}: val loss ${valLoss?.toFixed(4) ?? '–'} after ${flops.toExponential(2)} training FLOPs`);
  }
  return out;
}

/** The baselines' series for run.json (the continue_first series starts with the first stage's directory). */
export function baselineSeries(plan: Plan, results: BaselineResult[]) {
  const first = plan.stages[0]!, last = plan.stages.at(-1)!;
  const stage = (name: string, dir: string, c: ModelConfig, tps: number | null) => ({ name, dir, parameters: parameterCount(c), config: configToJson(c), tokens_per_s: tps });
  return results.map((r) => {
    if (r.kind === 'scratch') {
      return { label: BASELINE_LABELS.scratch, stages: [stage('scratch', BASELINE_DIRS.scratch, resolveStageConfig(plan, last), r.tokens_per_s)] };
    }
    const c1 = resolveStageConfig(plan, first);
    return { label: BASELINE_LABELS.continue_first, stages: [stage(first.name, first.name, c1, null), stage('continued', BASELINE_DIRS.continue_first, c1, r.tokens_per_s)] };
  });
}

/** Train one baseline (resumable: a finished one is skipped, a checkpointed one resumed). */
export async function trainBaseline(plan: Plan, b: BaselineSpec, dataDir: string, what: string, hooks: BaselineHooks): Promise<void> {
  if ((lastEntry(b.dir)?.step ?? 0) >= b.steps) {
    hooks.note(`baseline ${what}: done (skipped)`);
    return;
  }
  hooks.note(`baseline ${what} (${parameterCount(b.config).toLocaleString('en-US')} parameters): ${b.steps} steps ≈ ${b.targetFlops.toExponential(2)} training FLOPs`);
  if (!existsSync(join(b.dir, CONFIG_FILE)) || !existsSync(join(b.dir, WEIGHTS_FILE))) {
    if (b.from) {
      saveModelDir(b.dir, loadModelDir(b.from));
      if (existsSync(join(b.from, OPTIMIZER_FILE))) copyFileSync(join(b.from, OPTIMIZER_FILE), join(b.dir, OPTIMIZER_FILE));
    } else {
      saveModelDir(b.dir, { config: b.config, weights: initWeights(b.config, b.initSeed) });
    }
  }
  let logger: Logger = () => {};
  const t = stageTrain(plan, plan.stages.at(-1)!);
  const result = await trainModelDir(b.dir, dataDir, {
    ...DEFAULT_TRAIN, steps: b.steps, batch: b.batch, seq: b.seq, lr: b.lr, schedule: b.schedule, warmup: b.warmup, minLrRatio: b.minLrRatio,
    evalEvery: Math.max(1, Math.round(b.steps / 20)), evalBatches: t.eval_batches ?? 8, checkpointEvery: t.checkpoint_every ?? 100,
    resume: listCheckpoints(b.dir).length > 0, seed: b.dataSeed, session: { threads: hooks.threads }, signal: hooks.signal,
  }, (e) => logger(e), (s) => { logger = hooks.stepLogger(b.kind, b.steps, s.resumedFrom); });
  if (result.interrupted) throw new PlanInterruptedError(`baseline ${b.kind}`, result.finalStep);
}
