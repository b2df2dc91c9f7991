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
import { CONFIG_FILE, WEIGHTS_FILE, readConfigFile, saveModelDir } from '../model/model-dir.js';
import { META_FILE } from '../data/meta.js';
import { METRICS_FILE } from '../train/metrics.js';
import { initWeights } from '../model/weights.js';
import { growModelDir } from '../growth/model-dir.js';
import type { StagedGrowth } from '../growth/record.js';
import { listCheckpoints } from '../train/checkpoint.js';
import { DEFAULT_TRAIN, trainModelDir } from '../train/train-model-dir.js';
import type { Logger } from '../train/trainer.js';
import { writeFileAtomic } from '../util/atomic.js';
import { type Plan, PlanError, PlanInterruptedError, resolveStageConfig, stageTrain } from './plan.js';

interface StageState {
  status: 'created' | 'done';
  growth?: StagedGrowth;
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
  /**
   * Stop early (Ctrl-C): the training under way finishes its step and writes a checkpoint and its
   * weights, then the run stops with PlanInterruptedError; the same command resumes it.
   */
  signal?: AbortSignal;
}

/** The progress of a plan run in its RUN_DIR (which stages are done), for resuming it. */
export const PLAN_STATE_FILE = 'plan-state.json';

function readState(runDir: string, plan: Plan): PlanState {
  const path = join(runDir, PLAN_STATE_FILE);
  if (!existsSync(path)) return { plan: plan.name, stages: {} };
  return JSON.parse(readFileSync(path, 'utf8')) as PlanState;
}

function writeState(runDir: string, s: PlanState): void {
  writeFileAtomic(join(runDir, PLAN_STATE_FILE), [JSON.stringify(s, null, 2) + '\n']);
}

async function ensureData(plan: Plan, runDir: string, hooks: PlanHooks): Promise<string> {
  const dir = join(runDir, 'data');
  if (existsSync(join(dir, META_FILE))) return dir;
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
        const record = await growModelDir({
          model: prevDir, out: dir, to: target, toName: stage.model, method: g.method, placement: g.placement, seed: g.seed ?? i,
          rampSteps: g.ramp_steps, stagger: g.stagger, check: true, data: dataDir, checkSeq: stageTrain(plan, stage).seq, force: true,
        });
        const growth: StagedGrowth = { series: 'staged growth', from_stage: plan.stages[i - 1]!.name, to_stage: stage.name, ...record };
        state.stages[stage.name] = { status: 'created', growth };
        hooks.note(`stage ${i + 1}/${plan.stages.length} ${stage.name}: grew ${plan.stages[i - 1]!.name} → ${stage.model} (${parameterCount(readConfigFile(join(prevDir, CONFIG_FILE))).toLocaleString('en-US')} → ${parameterCount(target).toLocaleString('en-US')} parameters, ${record.method}, ${record.placement})`);
        hooks.note(`  function preserved: max |Δlogit| ${record.max_abs_logit_diff.toExponential(2)} of max |logit| ${record.max_abs_logit.toFixed(2)}; held-out loss ${record.loss_before.toFixed(5)} → ${record.loss_after.toFixed(5)}`);
      }
      writeState(runDir, state);
    }
    const t = stageTrain(plan, stage);
    const steps = t.steps ?? 100;
    if (t.lr_policy === 'keep' && prevDir) {
      const prev = readFileSync(join(prevDir, METRICS_FILE), 'utf8').trim().split('\n').at(-1);
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
      checkpointEvery: t.checkpoint_every ?? 100, resume, session: { threads: hooks.threads }, signal: hooks.signal,
      // stage i draws its batches with sampler seed i (a grown stage does not replay its predecessor's windows);
      // data_seed shifts every stage's seed (experiments over seeds)
      seed: (t.data_seed ?? 0) * 100 + i,
    }, (e) => logger(e), (s) => { for (const w of s.warnings) hooks.note(`  warning: ${w}`); resumedFrom = s.resumedFrom; logger = hooks.stepLogger(stage.name, steps, resumedFrom); });
    if (result.interrupted) throw new PlanInterruptedError(`stage ${stage.name}`, result.finalStep);
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
