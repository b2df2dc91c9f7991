/**
 * growHeads: more attention heads at the same head dim (attention width H₁·hd → H₂·hd). New heads'
 * q/k/v rows are random; their outputs (o_proj's new columns) are hidden behind a heads mask (msg)
 * or zero (mask-free), so the new heads add nothing until trained. growHidden grows the heads along
 * with the width when attention width equals hidden size.
 */
import type { MaskState, ModelConfig } from '../model/config.js';
import { growModel } from './grow-model.js';
import { type Fill, type GrowOptions, type GrowableModel, type GrowthMethod, type Role, GrowthError } from './types.js';

export function withHeads(c: ModelConfig, heads: number): ModelConfig {
  return { ...c, numHeads: heads, numKvHeads: heads };
}

/** Grow the number of attention heads alone. */
export function growHeads(model: GrowableModel, heads: number, opts: GrowOptions): GrowableModel {
  return growModel(model, withHeads(model.config, heads), opts);
}

export function checkHeads(src: ModelConfig, dst: ModelConfig): void {
  if (dst.headDim !== src.headDim) throw new GrowthError(`head_dim must stay ${src.headDim} across growth (target has ${dst.headDim}): width grows by adding heads`);
}

/** New entries along the attention-width axis of a tensor of `role`. */
export function headsFill(role: Role, method: GrowthMethod): Fill {
  return method !== 'msg' && role === 'o' ? 'zero' : 'random';
}

export function headsMask(heads1: number, heads2: number): Partial<MaskState> {
  return heads2 > heads1 ? { heads: { from: heads1, value: 0 } } : {};
}
