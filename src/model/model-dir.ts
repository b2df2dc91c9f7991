/**
 * The model directory: `config.json` (HF Llama fields + μP multipliers + growlm section) and
 * `model.safetensors` (HF Llama tensor names). Writes are atomic per file, config last, and nothing
 * is written until the weights have been checked against the config.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import { ConfigError, type ModelConfig, configToJson, parseConfig } from './config.js';
import { loadSafetensors, saveSafetensors } from './safetensors.js';
import { type Weights, checkWeights } from './weights.js';

export const CONFIG_FILE = 'config.json';
export const WEIGHTS_FILE = 'model.safetensors';

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
  const { tensors } = loadSafetensors(join(dir, WEIGHTS_FILE));
  checkWeights(config, tensors, join(dir, WEIGHTS_FILE));
  return { config, weights: tensors };
}

export function saveModelDir(dir: string, m: LoadedModel): void {
  checkWeights(m.config, m.weights);
  mkdirSync(dir, { recursive: true });
  saveSafetensors(join(dir, WEIGHTS_FILE), m.weights, { format: 'pt', producer: 'growlm' });
  writeFileAtomic(join(dir, CONFIG_FILE), [JSON.stringify(configToJson(m.config), null, 2) + '\n']);
}
