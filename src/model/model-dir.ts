/**
 * The model directory: `config.json` (HF Llama fields + μP multipliers + growlm section) and
 * `model.safetensors` (HF Llama tensor names). Writes are atomic per file, config last, and nothing
 * is written until the weights have been checked against the config.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { DATASET_META_FILE, MODEL_CONFIG_FILE, isDatasetDir } from '../util/dir-kinds.js';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import { GrowlmError } from '../util/errors.js';
import { ConfigError, type ModelConfig, configToJson, parseConfig } from './config.js';
import { CheckpointReader, INDEX_FILE, WEIGHTS_FILE, writeCheckpointStream } from './checkpoint-files.js';
import { type Weights, checkWeights } from './weights.js';
import { type StoreDType, fromFloat32 } from './half-float.js';
import type { Tensor } from '../onnx/ir.js';

export const CONFIG_FILE = MODEL_CONFIG_FILE;
export { WEIGHTS_FILE };

/** An output folder that cannot hold a model. */
export class ModelDirError extends GrowlmError {}

export interface LoadedModel {
  config: ModelConfig;
  weights: Weights;
}

export function readConfigFile(path: string): ModelConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new ConfigError(`cannot read config ${path}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ConfigError(`${path}: not valid JSON`);
  }
  try {
    return parseConfig(json);
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError(`${path}: ${e.message}`);
    throw e;
  }
}

export function loadModelDir(dir: string): LoadedModel {
  if (!existsSync(join(dir, CONFIG_FILE))) throw new ConfigError(`${dir} is not a model directory (no ${CONFIG_FILE})`);
  const config = readConfigFile(join(dir, CONFIG_FILE));
  const reader = CheckpointReader.open(dir);
  const tensors: Weights = new Map();
  try {
    for (const name of reader.names()) tensors.set(name, reader.read(name));
  } finally {
    reader.close();
  }
  checkWeights(config, tensors, existsSync(join(dir, INDEX_FILE)) ? join(dir, INDEX_FILE) : join(dir, WEIGHTS_FILE));
  return { config, weights: tensors };
}

/**
 * Write the weights, as one file or as HF shards of at most `shardBytes` (replacing either layout),
 * float32 or, on request, rounded to float16/bfloat16 as each tensor is written.
 */
export function saveWeights(dir: string, weights: Weights, shardBytes = Infinity, dtype: StoreDType = 'float32'): void {
  const entries = [...weights];
  const store = (t: Tensor) => (t.dtype === 'float32' ? fromFloat32(t, dtype) : t);
  writeCheckpointStream(dir, entries.map(([name, t]) => ({ name, dtype: t.dtype === 'float32' ? dtype : t.dtype, dims: t.dims })), (i) => store(entries[i]![1]), shardBytes, { format: 'pt', producer: 'growlm' });
}

/**
 * Refuse an output folder that cannot become a model directory: a file, or a folder holding a
 * dataset (a model written there would be mistaken for one, and the other way round).
 */
export function checkModelOutDir(dir: string): void {
  if (!existsSync(dir)) return;
  if (!statSync(dir).isDirectory()) throw new ModelDirError(`output ${dir} exists and is not a folder`);
  if (isDatasetDir(dir)) throw new ModelDirError(`${dir} holds a dataset (${DATASET_META_FILE} and token files), not a model: choose another output folder`);
}

export function saveModelDir(dir: string, m: LoadedModel, shardBytes = Infinity): void {
  checkWeights(m.config, m.weights);
  checkModelOutDir(dir);
  mkdirSync(dir, { recursive: true });
  saveWeights(dir, m.weights, shardBytes);
  writeConfig(dir, m.config);
}

/** Write DIR/config.json (atomically) for `config`; `extra` adds fields (see configToJson). */
export function writeConfig(dir: string, config: ModelConfig, extra?: Record<string, unknown>): void {
  writeFileAtomic(join(dir, CONFIG_FILE), [JSON.stringify(configToJson(config, extra), null, 2) + '\n']);
}
