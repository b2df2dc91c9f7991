/**
 * growVocab: vocabulary padding (V₁ → V₂, same tokenizer family). New tokens' embedding and head
 * rows are random; their logits enter the softmax through an additive log-mask (log 0 = −∞ at the
 * start), so MSG only: without the mask the new logits would change every probability.
 */
import type { MaskState, ModelConfig } from '../model/config.js';
import { growModel } from './grow-model.js';
import { type Fill, type GrowOptions, type GrowableModel, type GrowthMethod, GrowthError } from './types.js';

export function withVocab(c: ModelConfig, v: number): ModelConfig {
  return { ...c, vocabSize: v };
}

/** Grow the vocabulary alone (msg). */
export function growVocab(model: GrowableModel, vocabSize: number, opts: GrowOptions): GrowableModel {
  return growModel(model, withVocab(model.config, vocabSize), opts);
}

export function checkVocab(src: ModelConfig, dst: ModelConfig, method: GrowthMethod): void {
  if (dst.vocabSize > src.vocabSize && method !== 'msg') {
    throw new GrowthError(`vocabulary padding (${src.vocabSize} → ${dst.vocabSize}) changes the softmax unless the new logits are masked: use the msg method`);
  }
}

/** New entries along the vocabulary axis (embedding and head rows). */
export function vocabFill(): Fill {
  return 'random';
}

export function vocabMask(v1: number, v2: number): Partial<MaskState> {
  return v2 > v1 ? { vocab: { from: v1, value: 0 } } : {};
}
