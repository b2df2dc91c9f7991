/**
 * The AdamW state of a model for a distributed trainer (docs/export.md#handing-a-model-to-a-distributed-trainer):
 * `optimizer.safetensors` with `exp_avg.NAME` and `exp_avg_sq.NAME` per parameter of the plain
 * (folded) model — PyTorch's `torch.optim.AdamW` state names — and `optimizer.json` with the step,
 * the AdamW settings, the parameter groups, the learning-rate schedule and the data position.
 *
 * Folding scales a weight, W' = a·W. Then the plain model's gradient is g' = g/a, and with
 * m' = m/a, v' = v/a², eps' = eps/a, lr' = a·lr and weight decay λ' = λ/a, AdamW's update of W' is
 * exactly a times the update of W (m'/(√v'+eps') = m/(√v+eps); the decay factor 1 − lr'·λ' = 1 − lr·λ),
 * so training the plain model follows the growlm model step for step. The global gradient norm for
 * clipping is growlm's, ‖(a_p·g'_p)_p‖: each group carries its `grad_scale` a.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelConfig } from '../model/config.js';
import { masksComplete, masksCompleteAt } from '../model/masks.js';
import { paramSpecs } from '../model/params.js';
import { OPTIMIZER_FILE, loadOptimizerState } from '../model/training-state.js';
import type { Tensor } from '../onnx/ir.js';
import { DEFAULT_ADAMW, paramGroup } from '../train/adamw.js';
import { CHECKPOINT_STATE_FILE, listCheckpoints } from '../train/checkpoint.js';
import { type Schedule, lrAt } from '../train/schedule.js';
import { fileSha256 } from '../util/checksum.js';
import { GrowlmError } from '../util/errors.js';
import type { FoldPlan, Scale } from './fold.js';

/** The optimizer state cannot be handed over (masks ramping, no checkpoint, …); the message says why. */
export class HandoffError extends GrowlmError {}

export const HANDOFF_TENSORS_FILE = 'optimizer.safetensors';
export const HANDOFF_JSON_FILE = 'optimizer.json';
export const HANDOFF_FORMAT = 'growlm-adamw-handoff';

export interface HandoffGroup {
  /** Plain-model parameter names, in the order of model.safetensors. */
  params: string[];
  /** The group's learning rate is lr(step) × lr_mult (growlm's μP multiplier × the fold scale a). */
  lr_mult: number;
  weight_decay: number;
  eps: number;
  /** a: growlm's gradient of this group is grad_scale × the plain model's (for the clipping norm). */
  grad_scale: number;
}

export interface HandoffJson {
  format: typeof HANDOFF_FORMAT;
  version: 1;
  /** AdamW updates applied so far (the bias corrections use it; PyTorch's state `step`). */
  step: number;
  /** Optimizer steps of the run's schedule done so far (equals `step` unless steps were skipped). */
  schedule_step: number;
  betas: [number, number];
  /** Global gradient-norm clipping threshold (0: none), on growlm's gradient norm (see grad_scale). */
  clip_norm: number;
  param_groups: HandoffGroup[];
  /** lr(step) by `schedule` (docs/export.md#the-learning-rate-schedule); the next step's value for checking. */
  lr: { schedule: HandoffSchedule; next_step: number; next_lr: number };
  data: {
    /** growlm's batch sampler at this step: xoshiro128** state, batches drawn, batch × seq. */
    sampler: { rng: number[]; step: number; batch: number; seq: number };
    /** Micro-batches per optimizer step. */
    accumulate: number;
    tokens_seen: number;
    /** The tokenizer of the training data (the dataset must match it). */
    tokenizer: Record<string, unknown> | null;
  };
}

/** growlm's Schedule with snake_case keys. */
export interface HandoffSchedule {
  kind: Schedule['kind'];
  peak_lr: number;
  warmup: number;
  total: number;
  min_ratio: number;
  decay_fraction: number;
}

export interface HandoffFiles {
  tensorsFile: string;
  tensors: Map<string, Tensor>;
  jsonFile: string;
  json: HandoffJson;
}

/** The scale of a fold as one number, or undefined when it differs between elements. */
function uniformScale(s: Scale): number | undefined {
  const one = (v: Float64Array | number | undefined) => (v === undefined ? 1 : typeof v === 'number' ? v : undefined);
  const r = one(s.rows), c = one(s.cols);
  return r === undefined || c === undefined ? undefined : r * c;
}

interface CheckpointRecord {
  step: number;
  optimizer_step?: number;
  data?: { rng: number[]; step: number; batch: number; seq: number };
  trainer?: { tokens?: number; schedule?: Schedule; adamw?: typeof DEFAULT_ADAMW; accumulate?: number };
  sha256?: Record<string, string>;
}

/** The checkpoint whose moments are the model directory's (same optimizer.safetensors bytes). */
function matchingCheckpoint(modelDir: string, step: number): CheckpointRecord {
  const sha = fileSha256(join(modelDir, OPTIMIZER_FILE));
  for (const dir of listCheckpoints(modelDir).reverse()) {
    let rec: CheckpointRecord;
    try {
      rec = JSON.parse(readFileSync(join(dir, CHECKPOINT_STATE_FILE), 'utf8')) as CheckpointRecord;
    } catch {
      continue;
    }
    if (rec.optimizer_step === step && rec.sha256?.[OPTIMIZER_FILE] === sha) return rec;
  }
  throw new HandoffError(`${modelDir} has no training checkpoint at optimizer step ${step} (the data position and the learning-rate schedule are recorded there): train the model at least one step`);
}

/** optimizer.safetensors + optimizer.json of a trained model directory, for the plain model of `plan`. */
export function optimizerHandoff(modelDir: string, config: ModelConfig, plan: FoldPlan): HandoffFiles {
  const masks = config.growth.masks;
  if (masks && !masksComplete(masks)) {
    throw new HandoffError(`the MSG masks are still ramping (they reach 1 at step ${masksCompleteAt(config)}): a trainer without masks cannot continue the ramp; train to that step first, or export without the optimizer state`);
  }
  if (config.tieWordEmbeddings && !plan.config.tieWordEmbeddings) {
    throw new HandoffError(`the tied embedding gets different factors as embedding (input_mult ${config.inputMult}) and as head (output_mult / mup_scale_factor ${config.outputMult / config.mupScaleFactor}): untied, its one set of moments cannot continue as two`);
  }
  const path = join(modelDir, OPTIMIZER_FILE);
  if (!existsSync(path)) throw new HandoffError(`${modelDir} has no ${OPTIMIZER_FILE}: train the model first`);
  const opt = loadOptimizerState(path);
  const ckpt = matchingCheckpoint(modelDir, opt.step);
  const t = ckpt.trainer;
  if (!t?.schedule || !t.adamw || !ckpt.data) throw new HandoffError(`the checkpoint of step ${ckpt.step} in ${modelDir} does not record the learning-rate schedule and AdamW settings (written by an older growlm): train once more to write one that does`);
  const adamw = t.adamw;

  const tensors = new Map<string, Tensor>();
  const groups = new Map<string, HandoffGroup>();
  const sourceSpecs = new Map(paramSpecs(config).map((s) => [s.name, s]));
  for (const p of paramSpecs(plan.config)) {
    const entry = plan.tensors.get(p.name)!;
    const a = uniformScale(entry.scale);
    if (a === undefined || a === 0) throw new HandoffError(`${p.name} is scaled unevenly by the fold: its moments have no plain-AdamW equivalent`);
    const m = opt.m.get(entry.source), v = opt.v.get(entry.source);
    if (!m || !v) throw new HandoffError(`${path} has no moments for ${entry.source}`);
    const n = m.length;
    const em = new Float32Array(n), ev = new Float32Array(n);
    for (let i = 0; i < n; i++) { em[i] = m[i]! / a; ev[i] = v[i]! / (a * a); }
    tensors.set(`exp_avg.${p.name}`, { dtype: 'float32', dims: [...p.shape], data: em });
    tensors.set(`exp_avg_sq.${p.name}`, { dtype: 'float32', dims: [...p.shape], data: ev });
    const g = paramGroup(sourceSpecs.get(entry.source)!, config);
    const group: Omit<HandoffGroup, 'params'> = { lr_mult: g.lrMult * a, weight_decay: g.decay ? adamw.weightDecay / a : 0, eps: adamw.eps / a, grad_scale: a };
    const key = JSON.stringify(group);
    if (!groups.has(key)) groups.set(key, { params: [], ...group });
    groups.get(key)!.params.push(p.name);
  }
  const next = ckpt.step + 1;
  return {
    tensorsFile: HANDOFF_TENSORS_FILE, tensors, jsonFile: HANDOFF_JSON_FILE,
    json: {
      format: HANDOFF_FORMAT, version: 1, step: opt.step, schedule_step: ckpt.step,
      betas: [adamw.beta1, adamw.beta2], clip_norm: adamw.clipNorm,
      param_groups: [...groups.values()],
      lr: {
        schedule: { kind: t.schedule.kind, peak_lr: t.schedule.peakLr, warmup: t.schedule.warmup, total: t.schedule.total, min_ratio: t.schedule.minRatio, decay_fraction: t.schedule.decayFraction },
        next_step: next, next_lr: lrAt(t.schedule, next),
      },
      data: { sampler: ckpt.data, accumulate: t.accumulate ?? 1, tokens_seen: t.tokens ?? 0, tokenizer: config.tokenizer ?? null },
    },
  };
}
