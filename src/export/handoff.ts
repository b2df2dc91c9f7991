/**
 * The AdamW state of a model for a distributed trainer (docs/hf-export.md#handing-a-model-to-a-distributed-trainer):
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
import { type TensorSpec, writeSafetensorsStream } from '../model/checkpoint-files.js';
import type { ModelConfig } from '../model/config.js';
import { masksComplete, masksCompleteAt } from '../model/masks.js';
import { paramSpecs } from '../model/params.js';
import { SafetensorsFile } from '../model/safetensors.js';
import { OPTIMIZER_FILE } from '../model/training-state.js';
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
  /** lr(step) by `schedule` (docs/hf-export.md#the-learning-rate-schedule); the next step's value for checking. */
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

/** The hand-off, checked and described; `writeTensors` streams the transformed moments (one tensor in memory at a time). */
export interface HandoffFiles {
  tensorsFile: string;
  jsonFile: string;
  json: HandoffJson;
  writeTensors(path: string): void;
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

/**
 * optimizer.safetensors + optimizer.json of a trained model directory, for the plain model of `plan`.
 * Everything is checked here (masks, ties, the moments' tensors and shapes, the checkpoint record);
 * the moments are read and written only by `writeTensors`.
 */
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
  const f = SafetensorsFile.open(path);
  let step: number;
  try {
    step = Number(f.header.metadata.step);
    if (!Number.isSafeInteger(step) || step < 1) throw new HandoffError(`${path} records no optimizer step: train the model first`);
  } finally {
    f.close();
  }
  const ckpt = matchingCheckpoint(modelDir, step);
  const t = ckpt.trainer;
  if (!t?.schedule || !t.adamw || !ckpt.data) throw new HandoffError(`the checkpoint of step ${ckpt.step} in ${modelDir} does not record the learning-rate schedule and AdamW settings (written by an older growlm): train once more to write one that does`);
  const adamw = t.adamw;

  // per plain tensor: its source, fold scale a and group; the moments are checked against the file
  const moments = SafetensorsFile.open(path);
  const items: { name: string; source: string; a: number; dims: number[] }[] = [];
  const groups = new Map<string, HandoffGroup>();
  const sourceSpecs = new Map(paramSpecs(config).map((s) => [s.name, s]));
  try {
    for (const p of paramSpecs(plan.config)) {
      const entry = plan.tensors.get(p.name)!;
      const a = uniformScale(entry.scale);
      if (a === undefined || a === 0) throw new HandoffError(`${p.name} is scaled unevenly by the fold: its moments have no plain-AdamW equivalent`);
      for (const k of ['m', 'v']) {
        const e = moments.entry(`${k}.${entry.source}`);
        if (!e || e.dtype !== 'float32' || e.shape.join() !== p.shape.join()) throw new HandoffError(`${path} has no float32 moments ${k}.${entry.source} of shape [${p.shape}]`);
      }
      items.push({ name: p.name, source: entry.source, a, dims: [...p.shape] });
      const g = paramGroup(sourceSpecs.get(entry.source)!, config);
      const group: Omit<HandoffGroup, 'params'> = { lr_mult: g.lrMult * a, weight_decay: g.decay ? adamw.weightDecay / a : 0, eps: adamw.eps / a, grad_scale: a };
      const key = JSON.stringify(group);
      if (!groups.has(key)) groups.set(key, { params: [], ...group });
      groups.get(key)!.params.push(p.name);
    }
  } finally {
    moments.close();
  }
  const next = ckpt.step + 1;
  return {
    tensorsFile: HANDOFF_TENSORS_FILE, jsonFile: HANDOFF_JSON_FILE,
    json: {
      format: HANDOFF_FORMAT, version: 1, step, schedule_step: ckpt.step,
      betas: [adamw.beta1, adamw.beta2], clip_norm: adamw.clipNorm,
      param_groups: [...groups.values()],
      lr: {
        schedule: { kind: t.schedule.kind, peak_lr: t.schedule.peakLr, warmup: t.schedule.warmup, total: t.schedule.total, min_ratio: t.schedule.minRatio, decay_fraction: t.schedule.decayFraction },
        next_step: next, next_lr: lrAt(t.schedule, next),
      },
      data: { sampler: ckpt.data, accumulate: t.accumulate ?? 1, tokens_seen: t.tokens ?? 0, tokenizer: config.tokenizer ?? null },
    },
    writeTensors(out: string): void {
      // exp_avg = m / a, exp_avg_sq = v / a² (see the file comment)
      const specs: TensorSpec[] = items.flatMap((it) => ['exp_avg', 'exp_avg_sq'].map((k) => ({ name: `${k}.${it.name}`, dtype: 'float32' as const, dims: it.dims })));
      const src = SafetensorsFile.open(path);
      try {
        writeSafetensorsStream(out, specs, (i) => {
          const it = items[i >> 1]!, sq = i & 1;
          const x = src.read(`${sq ? 'v' : 'm'}.${it.source}`).data as Float32Array;
          const div = sq ? it.a * it.a : it.a;
          const data = new Float32Array(x.length);
          for (let j = 0; j < x.length; j++) data[j] = x[j]! / div;
          return { dtype: 'float32', dims: it.dims, data };
        }, { format: 'pt' });
      } finally {
        src.close();
      }
    },
  };
}
