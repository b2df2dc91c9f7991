/**
 * Supervised fine-tuning of a model directory: the base model is copied to the output directory
 * with its tokenizer and the chat template (tokenizer_config.json), then trained on the training
 * engine (src/train/trainer.ts: checkpoints, resume, metrics, Ctrl-C) with the loss on answer
 * tokens only. Everything that can fail on the input (data lines, template, tokenization, lengths)
 * is checked before anything is written.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type ChatTemplate, resolveTemplate, templateConfig } from '../data/chat-template.js';
import { TOKENIZER_CONFIG_FILE } from '../data/meta.js';
import { type PackingMode, SftSampler, type SftSamplerState, epochBatches } from '../data/sft-pack.js';
import type { SftRow } from '../data/sft-tokenize.js';
import type { Tokenizer } from '../data/tokenizer.js';
import type { ModelConfig } from '../model/config.js';
import { checkModelOutDir, loadModelDir, saveWeights, writeConfig } from '../model/model-dir.js';
import type { Weights } from '../model/weights.js';
import { OPTIMIZER_FILE } from '../model/training-state.js';
import { DecoderRunner } from '../runtime/forward.js';
import { type SessionOptions, checkProvider } from '../runtime/session.js';
import type { AdamWOptions } from '../train/adamw.js';
import { archiveRun, checkpointsDir, listCheckpoints } from '../train/checkpoint.js';
import { DEFAULT_SCHEDULE, type ScheduleKind } from '../train/schedule.js';
import { CheckpointsExistError, NoCheckpointError, ResumePastEndError } from '../train/train-model-dir.js';
import { type Logger, type TrainResult, latestCheckpoint, train } from '../train/trainer.js';
import { modelTokenizer } from '../generate/generate.js';
import { writeFileAtomic } from '../util/atomic.js';
import { acquireDirLock } from '../util/dir-lock.js';
import { isModelDir } from '../util/dir-kinds.js';
import { GrowlmError, InvalidSettingError } from '../util/errors.js';
import { DEFAULT_SFT_DATA, type SftDataOptions, type SftDataSummary, prepareSftData } from './prepare.js';

export const SFT_SUMMARY_FILE = 'sft.json';

/** The output directory already holds a fine-tuned model, and neither resume nor restart was set. */
export class SftOutputExistsError extends GrowlmError {
  override name = 'SftOutputExistsError';
  constructor(readonly dir: string) {
    super(`${dir} already holds a model: resume its run or restart from the base (settings resume / restart)`);
  }
}

export interface SftSettings extends SftDataOptions {
  /** The base model directory (not modified). */
  model: string;
  /** The fine-tuned model directory. */
  out: string;
  /** Chat template: a builtin name or a file (default: the base model's, else ChatML). */
  template?: string;
  /** Tokenizer spec for a base model that records none. */
  tokenizer?: string;
  /** Passes over the training samples (default 3), or an exact number of optimizer steps. */
  epochs: number;
  steps?: number;
  batch: number;
  /** Context of a training row (default: the model's max_position_embeddings). */
  seq?: number;
  /**
   * pad (default): one sample per row, padded to the longest of its batch; pack: several samples per
   * row without attention across them. Measured on short question/answer samples, padding trained
   * 1.7× faster (docs/sft.md#packing-or-padding).
   */
  packing: PackingMode;
  lr: number;
  schedule: ScheduleKind;
  /** Default: 3% of the steps. */
  warmup?: number;
  minLrRatio: number;
  optimizer: Partial<AdamWOptions>;
  /** Default: 10 validations per run (none without held-out samples). */
  evalEvery?: number;
  checkpointEvery: number;
  keep: number;
  session: SessionOptions;
  maxNonFinite: number;
  stopAt?: number;
  resume: boolean;
  restart: boolean;
  signal?: AbortSignal;
}

export const DEFAULT_SFT: Omit<SftSettings, 'model' | 'out' | 'data'> = {
  ...DEFAULT_SFT_DATA,
  epochs: 3, batch: 8, packing: 'pad', lr: 3e-4, schedule: 'cosine', minLrRatio: 0.1, optimizer: {},
  checkpointEvery: 100, keep: 3, session: {}, maxNonFinite: 10, resume: false, restart: false,
};

export interface SftStart {
  summary: SftDataSummary;
  resumedFrom: number;
  steps: number;
  /** Batches per epoch. */
  batchesPerEpoch: number;
  warnings: string[];
}

export interface SftResult extends TrainResult {
  summary: SftDataSummary;
  steps: number;
  out: string;
}

/** Answer loss (token-weighted) of rows in batches (`mode` as the runner's graph: packed or plain). */
export async function rowsLoss(runner: DecoderRunner, rows: readonly SftRow[], batch: number, seq: number, mode: PackingMode): Promise<{ loss: number; tokens: number }> {
  let total = 0, count = 0;
  for (const b of epochBatches(rows, rows.map((_, i) => i), batch, seq, mode)) {
    const r = await runner.run(b);
    total += r.loss! * r.tokenCount!;
    count += r.tokenCount!;
  }
  return { loss: count > 0 ? total / count : NaN, tokens: count };
}

/** The files a fine-tuned directory starts with: weights, tokenizer files, tokenizer_config.json with the template, config last. */
function writeBase(out: string, config: ModelConfig, weights: Weights, tokenizer: Tokenizer, template: ChatTemplate, baseDir: string): void {
  mkdirSync(out, { recursive: true });
  saveWeights(out, weights);
  let existing: Record<string, unknown> = {};
  for (const [path, name] of tokenizer.files) {
    if (resolve(path) !== resolve(join(out, name))) copyFileSync(path, join(out, name));
  }
  const cfgPath = existsSync(join(out, TOKENIZER_CONFIG_FILE)) ? join(out, TOKENIZER_CONFIG_FILE) : join(baseDir, TOKENIZER_CONFIG_FILE);
  if (existsSync(cfgPath)) existing = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
  writeFileAtomic(join(out, TOKENIZER_CONFIG_FILE), [JSON.stringify(templateConfig(template, existing), null, 2) + '\n']);
  writeConfig(out, { ...config, tokenizer: tokenizer.meta() as unknown as Record<string, unknown> });
}

/**
 * Fine-tune `model` on the samples of `data` into `out`; settings not given take DEFAULT_SFT's values.
 * `onStart` gets the data summary and the step the run starts from, `log` every step's metrics.
 */
export async function sftModelDir(settings: Partial<SftSettings> & Pick<SftSettings, 'model' | 'out' | 'data'>, log: Logger = () => {}, onStart?: (s: SftStart) => void): Promise<SftResult> {
  const s: SftSettings = { ...DEFAULT_SFT, ...settings };
  if (resolve(s.model) === resolve(s.out)) throw new InvalidSettingError('out', 'the output directory must differ from the base model directory');
  if (!(Number.isSafeInteger(s.batch) && s.batch >= 1)) throw new InvalidSettingError('batch', `batch must be an integer ≥ 1, got ${s.batch}`);
  if (s.steps === undefined && !(Number.isSafeInteger(s.epochs) && s.epochs >= 1)) throw new InvalidSettingError('epochs', `epochs must be an integer ≥ 1, got ${s.epochs}`);
  if (s.steps !== undefined && !(Number.isSafeInteger(s.steps) && s.steps >= 1)) throw new InvalidSettingError('steps', `steps must be an integer ≥ 1, got ${s.steps}`);
  checkModelOutDir(s.out);
  const resuming = s.resume && isModelDir(s.out);
  if (s.resume && !resuming) throw new NoCheckpointError(checkpointsDir(s.out));
  if (!resuming && !s.restart && isModelDir(s.out)) {
    if (listCheckpoints(s.out).length > 0) throw new CheckpointsExistError(checkpointsDir(s.out));
    throw new SftOutputExistsError(s.out);
  }
  // the base (or, resuming, the output's own weights and config)
  const base = loadModelDir(resuming ? s.out : s.model);
  const tokenizer = await modelTokenizer(resuming ? s.out : s.model, base.config, s.tokenizer);
  const template = resolveTemplate(s.template, resuming ? s.out : s.model);
  const seq = s.seq ?? base.config.maxSeqLen;
  if (!(Number.isSafeInteger(seq) && seq >= 2 && seq <= base.config.maxSeqLen)) throw new InvalidSettingError('seq', `sequence length must be in [2, ${base.config.maxSeqLen}] (the model's max_position_embeddings), got ${seq}`);
  const data = prepareSftData(s, template, tokenizer, seq);
  const sampler = new SftSampler(data.rows, { batch: s.batch, seq, seed: s.seed, mode: s.packing });
  const perEpoch = sampler.batchesPerEpoch();
  const steps = s.steps ?? perEpoch * s.epochs;
  await checkProvider(s.session.provider);

  // nothing was written before this point
  const config: ModelConfig = { ...base.config, tokenizer: tokenizer.meta() as unknown as Record<string, unknown> };
  if (!resuming) {
    if (s.restart && isModelDir(s.out)) {
      archiveRun(s.out);
      rmSync(join(s.out, OPTIMIZER_FILE), { force: true }); // the earlier run's moments
    }
    writeBase(s.out, config, base.weights, tokenizer, template, s.model);
  }
  const lock = acquireDirLock(s.out);
  try {
    const point = resuming ? latestCheckpoint(s.out, config) : { warnings: [] };
    const resume = point.checkpoint;
    if (resuming && !resume) throw new NoCheckpointError(checkpointsDir(s.out));
    if (resume && resume.state.step >= steps) throw new ResumePastEndError(resume.state.step, steps);
    writeFileAtomic(join(s.out, SFT_SUMMARY_FILE), [JSON.stringify({ base: s.model, data: data.summary, steps, seq, packing: s.packing }, null, 2) + '\n']);
    onStart?.({ summary: data.summary, resumedFrom: resume?.state.step ?? 0, steps, batchesPerEpoch: perEpoch, warnings: [...(lock.note ? [lock.note] : []), ...point.warnings] });
    let runner: DecoderRunner | undefined;
    const validate = async (c: ModelConfig, w: Weights) => {
      runner ??= await DecoderRunner.create(c, w, ['loss'], s.session, { packed: s.packing === 'pack' }); // views the trained arrays
      runner.setMasks(c);
      return (await rowsLoss(runner, data.valRows, s.batch, seq, s.packing)).loss;
    };
    const hasVal = data.valRows.length > 0;
    try {
      const result = await train(s.out, config, base.weights, {
        sampler: { next: () => sampler.next(), state: () => sampler.state(), restore: (st) => sampler.restore(st as SftSamplerState) },
        val: [], valBytesPerToken: 1, validate,
      }, {
        steps, accumulate: 1,
        schedule: { ...DEFAULT_SCHEDULE, kind: s.schedule, peakLr: s.lr, total: steps, warmup: s.warmup ?? Math.round(steps * 0.03), minRatio: s.minLrRatio },
        optimizer: s.optimizer,
        evalEvery: hasVal ? s.evalEvery ?? Math.max(1, Math.round(steps / 10)) : 0,
        evalBatches: 0, evalBatchSize: s.batch, evalSeq: seq,
        checkpointEvery: s.checkpointEvery, keepCheckpoints: s.keep,
        session: s.session, maxNonFinite: s.maxNonFinite, stopAt: s.stopAt, signal: s.signal, packed: s.packing === 'pack',
      }, log, resume);
      if (JSON.stringify(result.config.growth) !== JSON.stringify(config.growth)) writeConfig(s.out, result.config);
      return { ...result, summary: data.summary, steps, out: s.out };
    } finally {
      await runner?.release();
    }
  } finally {
    lock.release();
  }
}
