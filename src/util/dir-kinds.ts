/**
 * The two kinds of folder growlm writes, told apart by their marker files, so that a model directory
 * and a dataset directory cannot be confused (`init --out DATA_DIR` and `data prepare --out MODEL_DIR`
 * are refused). The file names are defined here once; src/model and src/data re-export them.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** A model directory's config (Hugging Face `config.json`). */
export const MODEL_CONFIG_FILE = 'config.json';
/** A dataset directory's description. */
export const DATASET_META_FILE = 'meta.json';
/** A dataset directory's validation split. */
export const DATASET_VAL_FILE = 'val.tok';

/** Does `dir` hold a dataset, or the pieces of one (meta.json or token files)? */
export function isDatasetDir(dir: string): boolean {
  try {
    return readdirSync(dir).some((f) => f === DATASET_META_FILE || f === DATASET_VAL_FILE || /^train-\d+\.tok$/.test(f));
  } catch {
    return false;
  }
}

/** Does `dir` hold a model (its config.json)? */
export function isModelDir(dir: string): boolean {
  return existsSync(join(dir, MODEL_CONFIG_FILE));
}
