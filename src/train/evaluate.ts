/** Validation loss, perplexity and bits per byte of a model directory on a dataset or a token file. */
import { openDataset } from '../data/dataset.js';
import { readTokenFile } from '../data/token-file.js';
import { loadModelDir } from '../model/model-dir.js';
import { windows } from '../data/batch.js';
import { DecoderRunner, evaluateLoss } from '../runtime/forward.js';
import type { SessionOptions } from '../runtime/session.js';
import { GrowlmError, InvalidSettingError } from '../util/errors.js';
import { checkDataFitsModel } from './data-link.js';

export interface EvaluateOptions {
  /** A prepared dataset: its validation split is evaluated (give this or `tokens`). */
  data?: string;
  /** A token file (.tok). */
  tokens?: string;
  /** Windows per batch. */
  batch: number;
  /** Sequence length (default: the model's max_position_embeddings, at most the tokens available). */
  seq?: number;
  /** Evaluate at most this many batches (default: all). */
  maxBatches?: number;
  session: SessionOptions;
  /** Also report statistics of the first batch's logits. */
  logits: boolean;
}

export const DEFAULT_EVALUATE: Omit<EvaluateOptions, 'data' | 'tokens'> = { batch: 8, session: {}, logits: false };

export interface EvaluateResult {
  /** Token-weighted mean cross-entropy (nats). */
  loss: number;
  perplexity: number;
  /** Bits per byte of text (datasets only: they record the bytes behind their tokens). */
  bpb: number | null;
  tokens: number;
  tokens_per_s: number;
  logits?: { shape: number[]; abs_max: number; mean: number; first: number[] };
}

export async function evaluateModelDir(modelDir: string, options: Partial<EvaluateOptions> & ({ data: string } | { tokens: string })): Promise<EvaluateResult> {
  const o = { ...DEFAULT_EVALUATE, ...options };
  if ((o.data === undefined) === (o.tokens === undefined)) throw new InvalidSettingError('data', 'give exactly one of a dataset (data) or a token file (tokens)');
  const { config, weights } = loadModelDir(modelDir);
  let tokens: Uint16Array | Uint32Array;
  let bytesPerToken: number | undefined;
  if (o.data !== undefined) {
    const data = openDataset(o.data);
    data.close();
    checkDataFitsModel(config, data.meta);
    tokens = data.val;
    bytesPerToken = data.meta.val.bytes / data.meta.val.tokens;
  } else {
    tokens = readTokenFile(o.tokens!).tokens;
  }
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i]! >= config.vocabSize) throw new GrowlmError(`token id ${tokens[i]} at position ${i} is outside the model's vocabulary (size ${config.vocabSize})`);
  }
  const seq = o.seq ?? Math.min(config.maxSeqLen, tokens.length - 1);
  if (seq > config.maxSeqLen) throw new GrowlmError(`sequence length ${seq} exceeds the model's max_position_embeddings ${config.maxSeqLen}`);
  if (tokens.length < seq + 1) throw new GrowlmError(`token file has ${tokens.length} tokens, fewer than one window of ${seq + 1}`);
  const runner = await DecoderRunner.create(config, weights, ['loss'], o.session);
  const t0 = performance.now();
  const r = await evaluateLoss(runner, tokens, o.batch, seq, o.maxBatches ?? Infinity);
  const seconds = (performance.now() - t0) / 1000;
  await runner.release();
  const result: EvaluateResult = {
    loss: r.loss, perplexity: Math.exp(r.loss), bpb: bytesPerToken ? r.loss / Math.LN2 / bytesPerToken : null,
    tokens: r.tokens, tokens_per_s: r.tokens / seconds,
  };
  if (o.logits) {
    const first = windows(tokens, o.batch, seq).next().value!;
    const lr = await DecoderRunner.create(config, weights, ['logits'], o.session);
    const logits = (await lr.run(first)).logits!;
    await lr.release();
    let absMax = 0, sum = 0;
    for (const v of logits) { absMax = Math.max(absMax, Math.abs(v)); sum += v; }
    result.logits = { shape: [first.batch, seq, config.vocabSize], abs_max: absMax, mean: sum / logits.length, first: Array.from(logits.slice(0, 8)) };
  }
  return result;
}
