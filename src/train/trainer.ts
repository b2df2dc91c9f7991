/**
 * The training loop: batches from a sampler, TrainStep updates on a learning-rate schedule, periodic
 * validation (loss, bits per byte), metrics as JSONL, atomic checkpoints, and exact resumption
 * (weights, AdamW moments, step, data position and RNG state all come back).
 */
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { ModelConfig } from '../model/config.js';
import { configToJson } from '../model/config.js';
import { saveWeights } from '../model/model-dir.js';
import type { Weights } from '../model/weights.js';
import type { Batch } from '../data/batch.js';
import { DecoderRunner, evaluateLoss } from '../runtime/forward.js';
import type { SessionOptions } from '../runtime/session.js';
import { GrowlmError } from '../util/errors.js';
import { pausePoint } from '../util/pause-point.js';
import { type AdamWOptions, DEFAULT_ADAMW } from './adamw.js';
import { type Checkpoint, CheckpointError, listCheckpoints, loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { SafetensorsError } from '../model/safetensors.js';
import { trainingFlopsPerToken } from './flops.js';
import { METRICS_FILE, type MetricsEntry, SPIKE_WINDOW, lossSpikeZ, metricsLine, readMetrics, truncateMetrics } from './metrics.js';
import { type Schedule, lrAt, maskValuesAt } from './schedule.js';
import { TrainStep, type TrainStepOptions } from './step.js';
import type { LossScaleState } from './loss-scale.js';
import { masksComplete } from '../model/masks.js';
import { OPTIMIZER_FILE, loadOptimizerState, saveOptimizerState } from '../model/training-state.js';
import { removeMasks } from '../growth/grow-model.js';

export interface BatchSource {
  next(): Batch;
  state(): unknown;
  restore(state: unknown): void;
}

export interface TrainingData {
  sampler: BatchSource;
  /** Held-out tokens. */
  val: ArrayLike<number>;
  /** UTF-8 bytes of text per validation token (for bits per byte). */
  valBytesPerToken: number;
  /**
   * Validation other than the loss over `val` windows (e.g. fine-tuning's answer loss on held-out
   * samples): the loss of the current weights (views of the trained arrays); no bits per byte.
   */
  validate?: (config: ModelConfig, weights: Weights) => Promise<number>;
}

export interface TrainerOptions {
  steps: number;
  /** Micro-batches accumulated per optimizer step. */
  accumulate: number;
  schedule: Schedule;
  optimizer: Partial<AdamWOptions>;
  evalEvery: number;
  evalBatches: number;
  evalBatchSize: number;
  /** Validation window length (the training sequence length). */
  evalSeq: number;
  checkpointEvery: number;
  keepCheckpoints: number;
  session: SessionOptions;
  /** Where AdamW runs, loss scaling and the graph variant (TrainStepOptions); default: JS AdamW, float32. */
  stepOptions?: Pick<TrainStepOptions, 'update' | 'lossScaling' | 'graph'>;
  maxNonFinite: number;
  /** Stop after this step (checkpointing it) although the schedule runs to `steps`. */
  stopAt?: number;
  /**
   * Stop early: when it aborts, the step under way finishes, then a checkpoint and the weights are
   * written and the result says `interrupted`.
   */
  signal?: AbortSignal;
  /** The sampler gives packed rows (Batch.packing). */
  packed?: boolean;
}

export type Logger = (entry: MetricsEntry) => void;

export interface TrainResult {
  /** The config with the masks' values at the end (MSG growth ramping), or without masks once they reached 1. */
  config: ModelConfig;
  finalStep: number;
  lastLoss: number;
  valLoss?: number;
  valBpb?: number;
  tokensPerS: number;
  skippedSteps: number;
  /** Steps of this process whose loss spiked (metrics.jsonl marks them with `spike`). */
  lossSpikes: number;
  /** True when `signal` stopped the run after `finalStep` (checkpointed: resume continues it). */
  interrupted: boolean;
}

export class TrainerError extends GrowlmError {}

/** Every step of a run had a non-finite loss or gradient: no update was made. */
export class NonFiniteRunError extends TrainerError {}

/** Does a checkpoint's config have exactly the shapes of `config`? */
function sameShapes(a: Record<string, unknown>, config: ModelConfig): boolean {
  const b = configToJson(config);
  return ['vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'head_dim'].every((k) => a[k] === b[k]);
}

/** The checkpoint a resume continues from, and a warning for each newer one that could not be used. */
export interface ResumePoint {
  checkpoint?: Checkpoint;
  warnings: string[];
}

/**
 * The newest checkpoint of `modelDir` that loads and verifies. A corrupt or incomplete one (e.g. a
 * crash or a full disk damaged it after it was written) is passed over with a warning and the one
 * before it is used; when none is usable this throws.
 */
export function latestCheckpoint(modelDir: string, config: ModelConfig): ResumePoint {
  const all = listCheckpoints(modelDir);
  const problems: string[] = [];
  for (let i = all.length - 1; i >= 0; i--) {
    let ckpt: Checkpoint;
    try {
      ckpt = loadCheckpoint(all[i]!);
    } catch (e) {
      if (!(e instanceof CheckpointError || e instanceof SafetensorsError)) throw e;
      problems.push(e.message);
      continue;
    }
    if (!sameShapes(ckpt.config, config)) {
      throw new TrainerError(`checkpoint ${ckpt.dir} was written for another model config (shapes differ); refusing to resume`);
    }
    const warnings = problems.map((p) => `skipped a damaged checkpoint (${p}); resuming from ${basename(ckpt.dir)}`);
    return { checkpoint: ckpt, warnings };
  }
  if (problems.length > 0) throw new CheckpointError(`no usable checkpoint to resume from: ${problems.join('; ')}`);
  return { warnings: [] };
}

export async function train(modelDir: string, config: ModelConfig, weights: Weights, data: TrainingData, o: TrainerOptions, log: Logger, resume?: Checkpoint): Promise<TrainResult> {
  const metricsPath = join(modelDir, METRICS_FILE);
  let start = 0;
  if (resume) {
    for (const [name, t] of resume.weights) {
      const w = weights.get(name);
      if (!w || w.data.length !== t.data.length) throw new TrainerError(`checkpoint tensor ${name} does not match the model`);
      (w.data as Float32Array).set(t.data as Float32Array);
    }
    data.sampler.restore(resume.state.data);
    start = resume.state.step;
    truncateMetrics(metricsPath, start);
  } else {
    writeFileSync(metricsPath, '');
  }
  const step = await TrainStep.create(config, weights, { ...o.stepOptions, optimizer: o.optimizer, session: o.session, maxNonFinite: o.maxNonFinite, packed: o.packed });
  if (resume) step.loadOptimizerState(resume.optimizer);
  else if (existsSync(join(modelDir, OPTIMIZER_FILE))) step.loadOptimizerState(loadOptimizerState(join(modelDir, OPTIMIZER_FILE))); // e.g. grown moments
  const savedScale = resume?.state.trainer.loss_scale as LossScaleState | undefined;
  if (savedScale && step.scaler) step.scaler.restore(savedScale);
  const evalRunner = data.validate ? undefined : await DecoderRunner.create(config, step.weights(), ['loss'], o.session); // views the trained arrays
  const t0 = performance.now();
  let tokensSeen = (resume?.state.trainer.tokens as number | undefined) ?? 0;
  let flops = (resume?.state.trainer.flops as number | undefined) ?? 0;
  let last: MetricsEntry | undefined;
  let tokensThisRun = 0;
  let valLoss: number | undefined, valBpb: number | undefined;
  const evaluate = async () => {
    await step.syncHost(); // the eval runner views the host arrays
    if (data.validate) {
      valLoss = await data.validate(current, step.weights());
      return;
    }
    const seq = Math.min(o.evalSeq, data.val.length - 1);
    const r = await evaluateLoss(evalRunner!, data.val, o.evalBatchSize, seq, o.evalBatches);
    valLoss = r.loss;
    valBpb = (r.loss / Math.LN2) / data.valBytesPerToken;
  };
  // the spike detector's window: the finite losses before this step (rebuilt from metrics.jsonl on a resume)
  const recent = resume ? readMetrics(metricsPath).entries.map((e) => e.loss).filter(Number.isFinite).slice(-SPIKE_WINDOW) : [];
  let spikes = 0;
  let end = Math.min(o.steps, o.stopAt ?? o.steps);
  let current = config;
  let interrupted = false;
  for (let s = start + 1; s <= end; s++) {
    if (config.growth.masks) {
      // MSG: masks ramp with the optimizer step; the mask inputs are fed, the graph stays the same
      current = { ...config, growth: { ...config.growth, masks: maskValuesAt(config.growth.masks, s) } };
      step.setMasks(current);
      evalRunner?.setMasks(current);
    }
    const micro = Array.from({ length: o.accumulate }, () => data.sampler.next());
    const lr = lrAt(o.schedule, s);
    const r = await step.step(micro, lr);
    const stepTokens = micro.reduce((a, b) => a + b.batch * b.seq, 0);
    tokensSeen += stepTokens;
    tokensThisRun += stepTokens;
    flops += stepTokens * trainingFlopsPerToken(config, micro[0]!.seq);
    const elapsed = (performance.now() - t0) / 1000;
    const entry: MetricsEntry = {
      step: s, loss: r.loss, lr, grad_norm: r.gradNorm, tokens: tokensSeen, tokens_per_s: tokensThisRun / elapsed, flops, elapsed_s: elapsed,
      ...(r.skipped ? { skipped: true } : {}),
      ...(step.scaler ? { loss_scale: step.scaler.scale } : {}),
    };
    const z = lossSpikeZ(recent, r.loss);
    if (z !== undefined) {
      entry.spike = { z, first_batch: (s - 1) * o.accumulate };
      spikes++;
    }
    if (Number.isFinite(r.loss)) {
      recent.push(r.loss);
      if (recent.length > SPIKE_WINDOW) recent.shift();
    }
    if (o.evalEvery > 0 && (s % o.evalEvery === 0 || s === end)) {
      await evaluate();
      entry.val_loss = valLoss;
      entry.val_bpb = valBpb;
    }
    appendFileSync(metricsPath, metricsLine(entry));
    log(entry);
    last = entry;
    if (o.signal?.aborted && s < end) {
      interrupted = true;
      end = s; // checkpoint this step below, then leave the loop
    }
    if ((o.checkpointEvery > 0 && s % o.checkpointEvery === 0) || s === end) {
      await step.syncHost();
      saveCheckpoint(modelDir, config, step.weights(), step.optimizerState(),
        {
          step: s, data: data.sampler.state(),
          // the schedule and AdamW settings too, so that another trainer can continue (export's optimizer handoff)
          trainer: { tokens: tokensSeen, flops, schedule: o.schedule, adamw: { ...DEFAULT_ADAMW, ...o.optimizer }, accumulate: o.accumulate,
            ...(step.scaler ? { loss_scale: step.scaler.state() } : {}),
          },
        }, o.keepCheckpoints);
    }
  }
  const stepsRun = end - start;
  if (stepsRun <= 0) {
    // resumed from the checkpoint of the last step (a crash came before the final weights were
    // written): the masks and the validation figures of that step, as the finished run had them
    if (config.growth.masks) {
      current = { ...config, growth: { ...config.growth, masks: maskValuesAt(config.growth.masks, end) } };
      evalRunner?.setMasks(current);
    }
    if (o.evalEvery > 0) await evaluate();
    last = readMetrics(metricsPath).entries.at(-1);
  }
  if (stepsRun > 0 && step.skippedSteps === stepsRun) {
    await evalRunner?.release();
    await step.release();
    throw new NonFiniteRunError(`every step of the run (${stepsRun}) had a non-finite loss or gradient; weights unchanged (lower the learning rate, or check the model's weights)`);
  }
  await step.syncHost();
  saveWeights(modelDir, step.weights());
  pausePoint('final-weights');
  saveOptimizerState(join(modelDir, OPTIMIZER_FILE), step.weights(), step.optimizerState());
  // masks at 1 equal the plain graph: drop them so the checkpoint is a plain decoder again
  const finalConfig = masksComplete(current.growth.masks) ? removeMasks({ config: current, weights }).config : current;
  await evalRunner?.release();
  await step.release();
  return {
    config: finalConfig,
    finalStep: end, lastLoss: last?.loss ?? NaN, valLoss, valBpb,
    tokensPerS: last?.tokens_per_s ?? 0, skippedSteps: step.skippedSteps, lossSpikes: spikes, interrupted,
  };
}
