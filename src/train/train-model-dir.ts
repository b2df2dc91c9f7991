/**
 * Train a model directory on a prepared dataset: the whole `growlm train` minus argument parsing, so
 * staged plans run stages exactly as the CLI would.
 */
import { BatchSampler, type BatchSamplerState, openDataset } from '../data/dataset.js';
import type { ModelConfig } from '../model/config.js';
import { masksCompleteAt } from '../model/masks.js';
import { loadModelDir, writeConfig } from '../model/model-dir.js';
import { acquireDirLock } from '../util/dir-lock.js';
import { GrowlmError } from '../util/errors.js';
import type { AdamWOptions } from './adamw.js';
import { archiveRun, checkpointsDir, listCheckpoints } from './checkpoint.js';
import { adoptTokenizer, checkDataFitsModel } from './data-link.js';
import { DEFAULT_SCHEDULE, type ScheduleKind } from './schedule.js';
import { type SessionOptions, checkProvider } from '../runtime/session.js';
import { type Logger, type TrainResult, type TrainerOptions, latestCheckpoint, train } from './trainer.js';
import type { LossScalingOptions } from './loss-scale.js';
import { float32OpsFor } from './precision.js';
import type { Precision } from './train-graph.js';

export interface TrainSettings {
  steps: number;
  batch: number;
  /** Default: the model's max_position_embeddings. */
  seq?: number;
  accumulate: number;
  lr: number;
  schedule: ScheduleKind;
  /** Default: 2% of the steps. */
  warmup?: number;
  minLrRatio: number;
  optimizer: Partial<AdamWOptions>;
  /** Default: 10 evaluations per run. */
  evalEvery?: number;
  evalBatches: number;
  checkpointEvery: number;
  keep: number;
  seed: number;
  session: SessionOptions;
  /** Where AdamW runs: 'js' (host loop, the default) or 'graph' (in onnxruntime, next to the weights). */
  update: 'js' | 'graph';
  /** Compute type of the training graph; float32 master weights and loss either way. */
  precision: Precision;
  /** Dynamic loss scaling settings; default: on for float16, off otherwise. */
  lossScaling?: Partial<LossScalingOptions> | false;
  maxNonFinite: number;
  stopAt?: number;
  resume: boolean;
  /** Start over although checkpoints exist: the earlier run is archived first (see archiveRun). */
  restart: boolean;
  /** Stop early: the step under way finishes, a checkpoint and the weights are written (TrainResult.interrupted). */
  signal?: AbortSignal;
}

/** The model directory holds checkpoints of an earlier run, and neither `resume` nor `restart` was set. */
export class CheckpointsExistError extends GrowlmError {
  override name = 'CheckpointsExistError';
  constructor(readonly dir: string) {
    super(`${dir} holds checkpoints of an earlier run: resume it or restart (settings resume / restart)`);
  }
}

/** `resume` was set but there is no checkpoint to resume from. */
export class NoCheckpointError extends GrowlmError {
  override name = 'NoCheckpointError';
  constructor(readonly dir: string) {
    super(`no checkpoint to resume from in ${dir}`);
  }
}

/** The last checkpoint is already past the requested number of steps. */
export class ResumePastEndError extends GrowlmError {
  override name = 'ResumePastEndError';
  constructor(readonly checkpointStep: number, readonly steps: number) {
    super(`cannot resume: the last checkpoint is at step ${checkpointStep}, past the requested ${steps} steps`);
  }
}

export const DEFAULT_TRAIN: Omit<TrainSettings, 'steps'> = {
  batch: 8, accumulate: 1, lr: 1e-3, schedule: 'cosine', minLrRatio: 0.1, optimizer: {}, evalBatches: 8,
  checkpointEvery: 100, keep: 3, seed: 0, session: {}, update: 'js', precision: 'float32', maxNonFinite: 10, resume: false, restart: false,
};

/** TrainStep settings of a run: where AdamW runs, the graph's precision (with the provider's float32 islands) and loss scaling. */
export function stepSettings(s: Pick<TrainSettings, 'update' | 'precision' | 'lossScaling' | 'session'>): NonNullable<TrainerOptions['stepOptions']> {
  const half = s.precision === 'float32' ? undefined : s.precision;
  const scaling = s.lossScaling === false ? undefined : s.lossScaling ?? (half === 'float16' ? {} : undefined);
  return {
    update: s.update,
    ...(half ? { graph: { precision: half, float32Ops: float32OpsFor(s.session.provider ?? 'cpu') } } : {}),
    ...(scaling ? { lossScaling: scaling } : {}),
  };
}

export interface TrainStart {
  /** Step the run resumes from (0 for a fresh run). */
  resumedFrom: number;
  steps: number;
  /** Where a restart archived the earlier run's checkpoints and metrics. */
  archived?: string;
  /** Things the user should know before the run (e.g. MSG masks that will not reach 1). */
  warnings: string[];
}


/** Warnings about a run of `steps` steps on `config`. */
export function trainWarnings(config: ModelConfig, steps: number): string[] {
  const at = masksCompleteAt(config);
  if (at === undefined || at <= steps) return [];
  return [`the growth masks reach 1 at step ${at}, after the ${steps} steps of this run: the model keeps its masks (a plain decoder only after training to step ${at})`];
}

/**
 * Train `modelDir` on the prepared dataset `dataDir`; settings not given take DEFAULT_TRAIN's values.
 * `log` gets every step's metrics, `onStart` the step the run starts (or resumes) from.
 */
export async function trainModelDir(modelDir: string, dataDir: string, settings: Partial<TrainSettings> & Pick<TrainSettings, 'steps'>, log: Logger = () => {}, onStart?: (t: TrainStart) => void): Promise<TrainResult> {
  const s: TrainSettings = { ...DEFAULT_TRAIN, ...settings };
  let { config, weights } = loadModelDir(modelDir);
  const lock = acquireDirLock(modelDir); // one process per model directory
  let data: ReturnType<typeof openDataset> | undefined;
  try {
    data = openDataset(dataDir);
    checkDataFitsModel(config, data.meta);
    const seq = s.seq ?? config.maxSeqLen;
    if (seq > config.maxSeqLen) throw new GrowlmError(`sequence length ${seq} exceeds the model's max_position_embeddings ${config.maxSeqLen}`);
    if (data.val.length < seq + 1) throw new GrowlmError(`the validation split has ${data.val.length} tokens, fewer than one window of ${seq + 1}`);
    if (listCheckpoints(modelDir).length > 0 && !s.resume && !s.restart) throw new CheckpointsExistError(checkpointsDir(modelDir));
    const point = s.resume ? latestCheckpoint(modelDir, config) : { warnings: [] };
    const resume = point.checkpoint;
    if (s.resume && !resume) throw new NoCheckpointError(checkpointsDir(modelDir));
    // a checkpoint at the last step resumes too: it (re)writes the final weights, which a crash
    // after that checkpoint may have left unwritten or half-written
    if (resume && resume.state.step > s.steps) throw new ResumePastEndError(resume.state.step, s.steps);
    await checkProvider(s.session.provider);
    if (!config.tokenizer) {
      config = adoptTokenizer(config, data.meta, dataDir, modelDir);
      writeConfig(modelDir, config);
    }
    const archived = s.restart && !s.resume ? archiveRun(modelDir) : undefined;
    const sampler = new BatchSampler(data.train, { batch: s.batch, seq, seed: s.seed });
    onStart?.({ resumedFrom: resume?.state.step ?? 0, steps: s.steps, ...(archived ? { archived } : {}), warnings: [...(lock.note ? [lock.note] : []), ...point.warnings, ...trainWarnings(config, s.steps)] });
    const result = await train(modelDir, config, weights, {
      sampler: { next: () => sampler.next(), state: () => sampler.state(), restore: (st) => sampler.restore(st as BatchSamplerState) },
      val: data.val,
      valBytesPerToken: data.meta.val.bytes / data.meta.val.tokens,
    }, {
      steps: s.steps, accumulate: s.accumulate,
      schedule: { ...DEFAULT_SCHEDULE, kind: s.schedule, peakLr: s.lr, total: s.steps, warmup: s.warmup ?? Math.round(s.steps * 0.02), minRatio: s.minLrRatio },
      optimizer: s.optimizer,
      evalEvery: s.evalEvery ?? Math.max(1, Math.round(s.steps / 10)),
      evalBatches: s.evalBatches, evalBatchSize: s.batch, evalSeq: seq,
      checkpointEvery: s.checkpointEvery, keepCheckpoints: s.keep,
      session: s.session, stepOptions: stepSettings(s), maxNonFinite: s.maxNonFinite, stopAt: s.stopAt, signal: s.signal,
    }, log, resume);
    if (JSON.stringify(result.config.growth) !== JSON.stringify(config.growth)) {
      writeConfig(modelDir, result.config);
    }
    return result;
  } finally {
    data?.close();
    lock.release();
  }
}
