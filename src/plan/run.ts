/**
 * Runs a staged plan: prepare data, then per stage init (first) or grow (later, with a
 * function-preservation check on held-out data), then train. Everything lands in RUN_DIR:
 * `data/`, one model directory per stage, `plan-state.json` (what is done, so an interrupted run
 * continues where it stopped: finished stages are skipped, a stage in training resumes from its
 * last checkpoint) and `run.json` (the record `growlm report` reads).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { prepareDataset } from '../data/prepare.js';
import { configToJson, parameterCount } from '../model/config.js';
import { CONFIG_FILE, WEIGHTS_FILE, loadModelDir, saveModelDir } from '../model/model-dir.js';
import { OPTIMIZER_FILE, loadOptimizerState, saveOptimizerState } from '../model/training-state.js';
import { initWeights } from '../model/weights.js';
import { growModel } from '../passes/grow.js';
import { windows } from '../runtime/forward.js';
import { openDataset } from '../data/dataset.js';
import { compareModels, layerDistances } from '../train/calibration.js';
import { listCheckpoints } from '../train/checkpoint.js';
import { DEFAULT_TRAIN, trainModelDir } from '../train/train-model-dir.js';
import type { Logger } from '../train/trainer.js';
import { writeFileAtomic } from '../util/atomic.js';
import { type Plan, PlanError, resolveStageConfig, stageTrain } from './plan.js';

export interface GrowthRecord {
  series: string;
  from_stage: string;
  to_stage: string;
  method: string;
  max_abs_logit_diff: number;
  max_abs_logit: number;
  loss_before: number;
  loss_after: number;
  seconds: number;
}

interface StageState {
  status: 'created' | 'done';
  growth?: GrowthRecord;
  tokens_per_s?: number;
  val_loss?: number;
  val_bpb?: number;
  seconds?: number;
}

export interface PlanState {
  plan: string;
  stages: Record<string, StageState>;
}

export interface PlanHooks {
  /** A line of progress for humans. */
  note(msg: string): void;
  /** Per-step training log of a stage. */
  stepLogger(stage: string, steps: number, resumedFrom: number): Logger;
  threads?: number;
}

function readState(runDir: string, plan: Plan): PlanState {
  const path = join(runDir, 'plan-state.json');
  if (!existsSync(path)) return { plan: plan.name, stages: {} };
  return JSON.parse(readFileSync(path, 'utf8')) as PlanState;
}

function writeState(runDir: string, s: PlanState): void {
  writeFileAtomic(join(runDir, 'plan-state.json'), [JSON.stringify(s, null, 2) + '\n']);
}

async function ensureData(plan: Plan, runDir: string, hooks: PlanHooks): Promise<string> {
  const dir = join(runDir, 'data');
  if (existsSync(join(dir, 'meta.json'))) return dir;
  const d = plan.data ?? { builtin: 'gutenberg' };
  hooks.note(`preparing data (${d.builtin ? `builtin ${d.builtin}` : d.input}, ${d.tokenizer ?? 'byte'} tokenizer)…`);
  const r = await prepareDataset({
    ...(d.builtin ? { builtin: d.builtin } : { inputs: [join(plan.baseDir, d.input!)] }),
    tokenizer: d.tokenizer ?? 'byte', outDir: dir, force: true, ...(d.val_fraction ? { valFraction: d.val_fraction } : {}),
  });
  hooks.note(`  ${r.meta.train.tokens.toLocaleString('en-US')} training tokens, ${r.meta.val.tokens.toLocaleString('en-US')} validation tokens (${r.meta.throughput.seconds.toFixed(1)} s)`);
  return dir;
}

export async function runPlan(plan: Plan, runDir: string, hooks: PlanHooks): Promise<PlanState> {
  mkdirSync(runDir, { recursive: true });
  const state = readState(runDir, plan);
  const dataDir = await ensureData(plan, runDir, hooks);
  const data = openDataset(dataDir);
  data.close();
  let prevDir: string | undefined;
  for (const [i, stage] of plan.stages.entries()) {
    const dir = join(runDir, stage.name);
    const st = state.stages[stage.name];
    if (st?.status === 'done') {
      hooks.note(`stage ${i + 1}/${plan.stages.length} ${stage.name}: done (skipped)`);
      prevDir = dir;
      continue;
    }
    const target = resolveStageConfig(plan, stage);
    const t0 = performance.now();
    if (!st || !existsSync(join(dir, CONFIG_FILE)) || !existsSync(join(dir, WEIGHTS_FILE))) {
      if (!stage.grow || !prevDir) {
        hooks.note(`stage ${i + 1}/${plan.stages.length} ${stage.name}: init ${stage.model} (${parameterCount(target).toLocaleString('en-US')} parameters)`);
        saveModelDir(dir, { config: target, weights: initWeights(target, stage.seed ?? 0) });
        state.stages[stage.name] = { status: 'created' };
      } else {
        const g = stage.grow;
        const source = loadModelDir(prevDir);
        const optimizer = existsSync(join(prevDir, OPTIMIZER_FILE)) ? loadOptimizerState(join(prevDir, OPTIMIZER_FILE)) : undefined;
        const seq = Math.min(source.config.maxSeqLen, stageTrain(plan, stage).seq ?? source.config.maxSeqLen);
        const heldOut = windows(data.val, 4, seq).next().value!;
        const placement = g.placement ?? 'interleave';
        const distances = placement === 'distance' ? await layerDistances(source.config, source.weights, heldOut) : undefined;
        const tg = performance.now();
        const grown = growModel({ ...source, optimizer }, target, {
          method: g.method ?? 'msg', placement, seed: g.seed ?? i, rampSteps: g.ramp_steps ?? 100, stagger: g.stagger ?? false, layerDistances: distances,
        });
        const seconds = (performance.now() - tg) / 1000;
        const check = await compareModels(source, grown, heldOut);
        saveModelDir(dir, { config: grown.config, weights: grown.weights });
        if (grown.optimizer) saveOptimizerState(join(dir, OPTIMIZER_FILE), grown.weights, grown.optimizer);
        const growth: GrowthRecord = { series: 'staged growth', from_stage: plan.stages[i - 1]!.name, to_stage: stage.name, method: g.method ?? 'msg', ...check, seconds };
        state.stages[stage.name] = { status: 'created', growth };
        hooks.note(`stage ${i + 1}/${plan.stages.length} ${stage.name}: grew ${plan.stages[i - 1]!.name} → ${stage.model} (${parameterCount(source.config).toLocaleString('en-US')} → ${parameterCount(target).toLocaleString('en-US')} parameters, ${g.method ?? 'msg'}, ${placement})`);
        hooks.note(`  function preserved: max |Δlogit| ${check.max_abs_logit_diff.toExponential(2)} of max |logit| ${check.max_abs_logit.toFixed(2)}; held-out loss ${check.loss_before.toFixed(5)} → ${check.loss_after.toFixed(5)}`);
      }
      writeState(runDir, state);
    }
    const t = stageTrain(plan, stage);
    const steps = t.steps ?? 100;
    if (t.lr_policy === 'keep' && prevDir) {
      const prev = readFileSync(join(prevDir, 'metrics.jsonl'), 'utf8').trim().split('\n').at(-1);
      const lr = prev ? (JSON.parse(prev) as { lr: number }).lr : undefined;
      if (!lr) throw new PlanError(`stage ${stage.name}: lr_policy keep needs the previous stage's metrics`);
      Object.assign(t, { lr, schedule: 'constant', warmup: 0 });
    }
    const resume = listCheckpoints(dir).length > 0;
    if (resume) hooks.note(`  resuming training from ${relative(runDir, listCheckpoints(dir).at(-1)!)}`);
    let resumedFrom = 0;
    let logger: Logger = () => {};
    const result = await trainModelDir(dir, dataDir, {
      ...DEFAULT_TRAIN,
      steps, batch: t.batch ?? 8, seq: t.seq, lr: t.lr ?? 1e-3, schedule: t.schedule ?? 'cosine', warmup: t.warmup,
      minLrRatio: t.min_lr_ratio ?? 0.1, evalEvery: t.eval_every, evalBatches: t.eval_batches ?? 8,
      checkpointEvery: t.checkpoint_every ?? 100, resume, session: { threads: hooks.threads },
      seed: i, // stage i draws its batches with sampler seed i: a grown stage does not replay its predecessor's windows
    }, (e) => logger(e), (s) => { resumedFrom = s.resumedFrom; logger = hooks.stepLogger(stage.name, steps, resumedFrom); });
    state.stages[stage.name] = {
      ...state.stages[stage.name]!, status: 'done', tokens_per_s: result.tokensPerS, val_loss: result.valLoss, val_bpb: result.valBpb,
      seconds: (performance.now() - t0) / 1000,
    };
    writeState(runDir, state);
    hooks.note(`  ${stage.name}: val loss ${result.valLoss?.toFixed(4)} (${result.valBpb?.toFixed(3)} bits/byte), ${result.tokensPerS.toFixed(0)} tokens/s`);
    prevDir = dir;
  }
  return state;
}

/** The run record `growlm report` reads (layout: src/report/run-record.ts). */
export function planRunRecord(plan: Plan, state: PlanState, samples: { stage: string; prompt: string; text: string }[]) {
  return {
    name: plan.name, kind: 'plan' as const, created: new Date().toISOString(),
    description: plan.description,
    series: [{
      label: 'staged growth',
      stages: plan.stages.map((s) => {
        const c = resolveStageConfig(plan, s);
        return {
          name: s.name, dir: s.name, parameters: parameterCount(c), config: configToJson(c),
          tokens_per_s: state.stages[s.name]?.tokens_per_s ?? null,
        };
      }),
    }],
    growth: plan.stages.flatMap((s) => (state.stages[s.name]?.growth ? [state.stages[s.name]!.growth!] : [])),
    samples,
  };
}
