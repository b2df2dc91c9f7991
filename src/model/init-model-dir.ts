/** Write a fresh model directory: config.json + model.safetensors with initialized weights. */
import { existsSync } from 'node:fs';
import { freemem, totalmem } from 'node:os';
import { join } from 'node:path';
import { OutputExistsError } from '../util/errors.js';
import { ConfigError, type ModelConfig, parameterCount } from './config.js';
import { CONFIG_FILE, WEIGHTS_FILE, saveModelDir } from './model-dir.js';
import { initWeights } from './weights.js';

export interface InitOptions {
  /** Seed of the weight initialization. */
  seed: number;
  /** Overwrite a model already in the directory. */
  force: boolean;
  /** Write Hugging Face shards of at most this many bytes (Infinity: one file). */
  shardBytes: number;
}

export const DEFAULT_INIT: InitOptions = { seed: 0, force: false, shardBytes: Infinity };

export interface InitResult {
  out: string;
  parameters: number;
  seed: number;
}

/** True when `dir` holds a model (config or weights) that a write would overwrite. */
export function holdsModel(dir: string): boolean {
  return existsSync(join(dir, CONFIG_FILE)) || existsSync(join(dir, WEIGHTS_FILE));
}

export function initModelDir(out: string, config: ModelConfig, options: Partial<InitOptions> = {}): InitResult {
  const o = { ...DEFAULT_INIT, ...options };
  if (!o.force && holdsModel(out)) throw new OutputExistsError(out, 'a model');
  const parameters = parameterCount(config);
  const bytes = parameters * 4;
  // initialization holds the weights once in memory; refuse early rather than die half-way
  if (bytes > Math.min(totalmem() * 0.8, freemem() + 512 * 2 ** 20)) {
    throw new ConfigError(`this config has ${(parameters / 1e9).toFixed(1)}B parameters (${(bytes / 2 ** 30).toFixed(1)} GiB in float32); this machine has ${(freemem() / 2 ** 30).toFixed(1)} GiB free`);
  }
  saveModelDir(out, { config, weights: initWeights(config, o.seed) }, o.shardBytes);
  return { out, parameters, seed: o.seed };
}
