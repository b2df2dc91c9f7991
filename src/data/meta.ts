/**
 * `meta.json` of a prepared dataset directory. It is written last (atomically), so a directory
 * without one holds no valid dataset. Layout of the directory:
 *
 *   meta.json                 this record
 *   train-00000.tok, …        training tokens, shards of at most `shard_tokens` tokens (token-file.ts)
 *   val.tok                   held-out validation tokens (whole documents / book tails)
 *   tokenizer.json            copy of the tokenizer, for `tokenizer.json` datasets (+ tokenizer_config.json)
 *
 * Bits per byte of a split: bpb = mean_loss_nats × tokens / (bytes × ln 2), with `tokens` and
 * `bytes` of that split (bytes = UTF-8 bytes of the text the tokens encode, separators included
 * when they are text; end-of-text tokens carry no bytes).
 */
import type { SourceDescription } from './sources.js';
import type { TokenizerMeta } from './tokenizer.js';

export { DATASET_META_FILE as META_FILE, DATASET_VAL_FILE as VAL_FILE, isDatasetDir } from '../util/dir-kinds.js';
export const TOKENIZER_FILE = 'tokenizer.json';
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';
/** Hugging Face generation defaults (eos/bos ids, sampling), kept beside an imported model's config.json. */
export const GENERATION_CONFIG_FILE = 'generation_config.json';
export const DATASET_FORMAT = 'growlm-dataset';
export const DATASET_VERSION = 1;

export interface SplitMeta {
  tokens: number;
  bytes: number;
  documents: number;
}

export interface DatasetMeta {
  format: typeof DATASET_FORMAT;
  version: typeof DATASET_VERSION;
  created: string;
  tokenizer: TokenizerMeta;
  /** Bytes per token id in the .tok files (2 when the vocabulary fits in 16 bits). */
  token_bytes: 2 | 4;
  /** What follows each document: the end-of-text id, or (no such token) the text "\n\n". */
  document_separator: { kind: 'eot'; id: number } | { kind: 'text'; text: string };
  source: SourceDescription & { text_field?: string; empty_documents_skipped?: number };
  split: {
    /** How validation was chosen (see prepare.ts). */
    method: string;
    val_fraction: number;
    val_tokens_requested?: number;
  };
  train: SplitMeta & { shard_tokens: number; shards: { file: string; tokens: number }[] };
  val: SplitMeta & { file: string };
  throughput: { seconds: number; tokens_per_s: number; bytes_per_s: number };
}

