/**
 * growModelDir: THE growth of a model directory, used by `growlm grow` and by `plan run`. It reads
 * the model (single file or HF shards; streamed tensor by tensor when sharded or asked), its
 * optimizer state and tokenizer files, runs the function-preservation check and the layer-distance
 * calibration on a held-out batch, writes the grown model into a temporary directory beside `out`
 * and moves it into place (config last), and returns the GrowthRecord. All of growth's file I/O is
 * here; the operators and the plan only transform tensors.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { openDataset } from '../data/dataset.js';
import { GENERATION_CONFIG_FILE } from '../data/meta.js';
import { ConfigError, type ModelConfig } from '../model/config.js';
import { CheckpointReader, INDEX_FILE, type TensorSpec, writeCheckpointStream, writeSafetensorsStream } from '../model/checkpoint-files.js';
import { CONFIG_FILE, WEIGHTS_FILE, loadModelDir, readConfigFile, saveWeights, writeConfig } from '../model/model-dir.js';
import { SafetensorsFile } from '../model/safetensors.js';
import { OPTIMIZER_FILE, loadOptimizerState, saveOptimizerState } from '../model/training-state.js';
import { type Batch, windows } from '../data/batch.js';
import { OutputExistsError } from '../util/errors.js';
import { type SessionOptions, checkProvider } from '../runtime/session.js';
import { pausePoint } from '../util/pause-point.js';
import { pidAlive } from '../util/dir-lock.js';
import { layerDistances } from './calibrate.js';
import { type FunctionCheck, compareModels, randomBatch } from './check.js';
import { growModel } from './grow-model.js';
import { GrowthPlan, type SizeOverrides, checkGrowth, sameSizes, targetConfig } from './plan.js';
import { type CheckBatch, type GrowthRecord, modelSizes } from './record.js';
import { DEFAULT_RAMP_STEPS, type GrowOptions, type GrowthMethod, type Placement, GrowthError } from './types.js';

export interface GrowModelDirOptions {
  /** Source model directory. */
  model: string;
  /** Where the grown model goes (created; an existing model there needs `force`). */
  out: string;
  /** Target config; else the source's, with `sizes` applied. */
  to?: ModelConfig;
  /** How to name the target in messages (the preset or file it came from). */
  toName?: string;
  sizes?: SizeOverrides;
  method?: GrowthMethod;
  placement?: Placement;
  seed?: number;
  /** msg: ramp length in optimizer steps (default DEFAULT_RAMP_STEPS). */
  rampSteps?: number;
  stagger?: boolean;
  /** Compare the old and the grown model on a held-out batch. */
  check?: boolean;
  /** Dataset whose validation split gives the check / calibration batch (else seeded random tokens). */
  data?: string;
  /** Tokens per row of that batch (capped by the model's context; default 64). */
  checkSeq?: number;
  /** Grow tensor by tensor from disk (automatic for a sharded checkpoint). */
  stream?: boolean;
  /** Write the grown weights as HF shards of at most this many bytes. */
  shardBytes?: number;
  force?: boolean;
  /** Sessions of the check and the calibration run (provider, threads). */
  session?: SessionOptions;
}

/** A function check was asked for a streamed growth (the check needs both models in memory). */
export class StreamingCheckError extends GrowthError {
  override name = 'StreamingCheckError';
  constructor() {
    super('the function check loads both models into memory; it cannot be combined with streaming growth');
  }
}

/** A check / calibration batch: the first windows of a dataset's validation split, else seeded random tokens. */
export function heldOutBatch(dataDir: string | undefined, vocab: number, seq: number, batch = 4): { batch: Batch; kind: CheckBatch } {
  if (dataDir) {
    const data = openDataset(dataDir);
    data.close();
    const b = windows(data.val, batch, Math.min(seq, data.val.length - 1)).next().value;
    if (b) return { batch: b, kind: 'held-out' };
  }
  return { batch: randomBatch(vocab, seq, batch), kind: 'random tokens' };
}

const NOT_CHECKED: FunctionCheck = { max_abs_logit_diff: NaN, max_abs_logit: NaN, loss_before: NaN, loss_after: NaN };

export async function growModelDir(o: GrowModelDirOptions): Promise<GrowthRecord> {
  if (!existsSync(join(o.model, CONFIG_FILE))) throw new ConfigError(`${o.model} is not a model directory (no ${CONFIG_FILE})`);
  const source = readConfigFile(join(o.model, CONFIG_FILE));
  const target = targetConfig(source, o.to, o.sizes ?? {});
  if (sameSizes(source, target)) throw new GrowthError(`nothing to grow: ${o.toName ?? 'the target'} has the same sizes as ${o.model}`);
  if (!o.force && (existsSync(join(o.out, CONFIG_FILE)) || existsSync(join(o.out, WEIGHTS_FILE)) || existsSync(join(o.out, INDEX_FILE)))) {
    throw new OutputExistsError(o.out, 'a model');
  }
  const opts: GrowOptions = {
    method: o.method ?? 'msg', placement: o.placement ?? 'interleave', seed: o.seed ?? 0,
    rampSteps: o.rampSteps ?? DEFAULT_RAMP_STEPS, stagger: o.stagger ?? false,
  };
  const streamed = o.stream === true || existsSync(join(o.model, INDEX_FILE));
  if (streamed && o.check) throw new StreamingCheckError();
  if (streamed && opts.placement === 'distance' && target.numLayers > source.numLayers) {
    throw new GrowthError('placement distance needs a calibration run of the whole model; use append or interleave when streaming');
  }
  checkGrowth(source, target, opts.method); // refuse an impossible growth before reading any weights
  if (o.check || opts.placement === 'distance') await checkProvider(o.session?.provider); // a missing provider fails before anything is written

  const tmp = join(dirname(o.out), `.${basename(o.out)}.growing-${process.pid}`);
  removeStaleGrowing(o.out);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    const r = streamed ? growStreaming(o.model, source, target, opts, tmp, o.shardBytes ?? Infinity) : await growInMemory(o, target, opts, tmp);
    pausePoint('grow-write');
    copyTokenizerFiles(r.config, o.model, tmp);
    writeConfig(tmp, r.config);
    publish(tmp, o.out);
    return {
      model: o.model, out: o.out, method: opts.method, placement: opts.placement, streamed,
      from: modelSizes(source), to: modelSizes(r.config), masks: r.config.growth.masks ?? null,
      layer_distances: r.distances ?? null, check_batch: r.checkBatch ?? null, ...(r.check ?? NOT_CHECKED),
      seconds: r.seconds, write_seconds: r.writeSeconds, bytes_written: r.bytes, grow_gb_per_s: r.bytes / 1e9 / r.seconds,
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Temporary folders of growths into `out` whose process is gone (killed while growing). */
function removeStaleGrowing(out: string): void {
  if (!existsSync(dirname(out))) return;
  const re = new RegExp(`^\\.${basename(out).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.growing-(\\d+)$`);
  for (const d of readdirSync(dirname(out))) {
    const m = re.exec(d);
    if (m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) rmSync(join(dirname(out), d), { recursive: true, force: true });
  }
}

interface Grown {
  config: ModelConfig;
  seconds: number;
  writeSeconds: number;
  bytes: number;
  distances?: number[];
  checkBatch?: CheckBatch;
  check?: FunctionCheck;
}

async function growInMemory(o: GrowModelDirOptions, target: ModelConfig, opts: GrowOptions, dir: string): Promise<Grown> {
  const source = loadModelDir(o.model);
  const optimizerPath = join(o.model, OPTIMIZER_FILE);
  const optimizer = existsSync(optimizerPath) ? loadOptimizerState(optimizerPath) : undefined;
  const calibrate = opts.placement === 'distance' && target.numLayers > source.config.numLayers;
  const held = o.check || calibrate ? heldOutBatch(o.data, source.config.vocabSize, Math.min(source.config.maxSeqLen, o.checkSeq ?? 64)) : undefined;
  const distances = calibrate ? await layerDistances(source.config, source.weights, held!.batch, o.session) : undefined;
  const t0 = performance.now();
  const grown = growModel({ ...source, optimizer }, target, { ...opts, layerDistances: distances });
  const seconds = (performance.now() - t0) / 1000;
  const check = o.check ? await compareModels(source, grown, held!.batch, o.session) : undefined;
  const t1 = performance.now();
  saveWeights(dir, grown.weights, o.shardBytes ?? Infinity);
  if (grown.optimizer) saveOptimizerState(join(dir, OPTIMIZER_FILE), grown.weights, grown.optimizer);
  const writeSeconds = (performance.now() - t1) / 1000;
  const bytes = [...grown.weights.values()].reduce((s, t) => s + t.data.byteLength, 0);
  return { config: grown.config, seconds, writeSeconds, bytes, distances, checkBatch: held?.kind, check };
}

/**
 * Growth of a checkpoint on disk, one tensor at a time: each source tensor is read, grown and
 * written before the next is touched, so peak memory is bounded by the largest tensor (source +
 * grown), not the model. Same result as `growModel` on the loaded model (GrowthPlan draws new
 * entries in the same order).
 */
function growStreaming(srcDir: string, source: ModelConfig, target: ModelConfig, opts: GrowOptions, dir: string, shardBytes: number): Grown {
  const t0 = performance.now();
  const plan = new GrowthPlan(source, target, opts);
  const reader = CheckpointReader.open(srcDir);
  let bytes = 0;
  try {
    for (const s of plan.steps) if (!reader.spec(s.source)) throw new GrowthError(`${srcDir}: checkpoint has no tensor ${s.source}`);
    const specs: TensorSpec[] = plan.steps.map((s) => ({ name: s.out, dtype: 'float32', dims: plan.dims(s) }));
    writeCheckpointStream(dir, specs, (i) => {
      const step = plan.steps[i]!;
      const data = plan.growTensor(step, reader.read(step.source).data as Float32Array, false);
      bytes += data.byteLength;
      return { dtype: 'float32', dims: specs[i]!.dims, data };
    }, shardBytes, { format: 'pt', producer: 'growlm' });
  } finally {
    reader.close();
  }
  const optPath = join(srcDir, OPTIMIZER_FILE);
  if (existsSync(optPath)) {
    const f = SafetensorsFile.open(optPath);
    try {
      const specs: TensorSpec[] = ['m', 'v'].flatMap((k) => plan.steps.map((s) => ({ name: `${k}.${s.out}`, dtype: 'float32' as const, dims: plan.dims(s) })));
      const n = plan.steps.length;
      writeSafetensorsStream(join(dir, OPTIMIZER_FILE), specs, (i) => {
        const step = plan.steps[i % n]!;
        const key = `${i < n ? 'm' : 'v'}.${step.source}`;
        return { dtype: 'float32', dims: specs[i]!.dims, data: plan.growTensor(step, f.read(key).data as Float32Array, true) };
      }, f.header.metadata);
    } finally {
      f.close();
    }
  }
  return { config: plan.config, seconds: (performance.now() - t0) / 1000, writeSeconds: NaN, bytes };
}

function copyTokenizerFiles(config: ModelConfig, from: string, to: string): void {
  const tok = config.tokenizer as { file?: string; config_file?: string } | undefined;
  for (const f of [tok?.file, tok?.config_file, GENERATION_CONFIG_FILE]) if (f && existsSync(join(from, f))) copyFileSync(join(from, f), join(to, f));
}

/** Weights and optimizer files of a model directory (replaced as a whole when a model is written over another). */
const isModelFile = (f: string) => f === WEIGHTS_FILE || f === INDEX_FILE || f === OPTIMIZER_FILE || /^model-\d+-of-\d+\.safetensors$/.test(f);

/**
 * Move the finished model in `tmp` to `out`: a rename when `out` does not exist; otherwise (--force,
 * or a plan's stage directory) the old config goes first (so `out` is no model while files move),
 * then the old weight files, then the new files, the config last.
 */
function publish(tmp: string, out: string): void {
  if (!existsSync(out)) {
    renameSync(tmp, out);
    return;
  }
  rmSync(join(out, CONFIG_FILE), { force: true });
  for (const f of readdirSync(out)) if (isModelFile(f)) rmSync(join(out, f), { force: true });
  for (const f of readdirSync(tmp)) if (f !== CONFIG_FILE) renameSync(join(tmp, f), join(out, f));
  renameSync(join(tmp, CONFIG_FILE), join(out, CONFIG_FILE));
}
