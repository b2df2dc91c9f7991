/**
 * The link between a model and the dataset it trains on: the tokenizer must agree. The first
 * training run records the dataset's tokenizer in the model's config (and copies tokenizer files),
 * later runs and evaluations check against it.
 */
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelConfig } from '../model/config.js';
import type { DatasetMeta } from '../data/meta.js';
import { GrowlmError } from '../util/errors.js';

export class DataMismatchError extends GrowlmError {}

const describe = (t: Record<string, unknown>) => `${t.kind} tokenizer (vocab ${t.vocab_size}${t.sha256 ? `, sha256 ${String(t.sha256).slice(0, 12)}…` : ''})`;

/** Throw when the dataset cannot feed this model. */
export function checkDataFitsModel(config: ModelConfig, meta: DatasetMeta): void {
  const t = meta.tokenizer as unknown as Record<string, unknown>;
  if ((t.vocab_size as number) > config.vocabSize) {
    throw new DataMismatchError(`model/data mismatch: the data uses a ${describe(t)} but the model's vocab_size is ${config.vocabSize}`);
  }
  const own = config.tokenizer;
  if (own && (own.kind !== t.kind || own.vocab_size !== t.vocab_size || own.sha256 !== t.sha256)) {
    throw new DataMismatchError(`model/data tokenizer mismatch: the model was trained with a ${describe(own)}, the data uses a ${describe(t)}`);
  }
}

/** Record the dataset's tokenizer in the config and copy its files into the model directory. */
export function adoptTokenizer(config: ModelConfig, meta: DatasetMeta, dataDir: string, modelDir: string): ModelConfig {
  const t = meta.tokenizer as unknown as Record<string, unknown>;
  for (const key of ['file', 'config_file']) {
    const f = t[key];
    if (typeof f === 'string' && existsSync(join(dataDir, f))) copyFileSync(join(dataDir, f), join(modelDir, f));
  }
  return { ...config, tokenizer: t };
}
