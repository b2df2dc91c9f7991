/**
 * growHeads: more attention heads at the same head dim (attention width H₁·hd → H₂·hd). New heads'
 * q/k/v rows are random; their outputs (o_proj's new columns) are hidden behind a heads mask (msg)
 * or zero (mask-free), so the new heads add nothing until trained. growHidden grows the heads along
 * with the width when attention width equals hidden size.
 *
 * Grouped-query attention (docs/growth.md#grouped-query-attention): the ratio g = H/kv stays; new query
 * heads come in whole groups with new kv heads (appended after the old ones, so query head h still
 * reads kv head ⌊h/g⌋ and new kv heads are read by new query heads only). An MQA model grows into GQA
 * with groups of its old head count.
 */
import type { MaskState, ModelConfig } from '../model/config.js';
import { growModel } from './grow-model.js';
import { type Fill, type GrowOptions, type GrowableModel, type GrowthMethod, type Role, GrowthError } from './types.js';

/** `c` with `heads` query heads and the kv heads that keep its ratio H/kv. */
export function withHeads(c: ModelConfig, heads: number): ModelConfig {
  const groups = c.numHeads / c.numKvHeads;
  if (heads % groups !== 0) throw new GrowthError(`num_attention_heads ${heads} is not a multiple of ${groups}, the model's query heads per kv head (growth keeps the ratio)`);
  return { ...c, numHeads: heads, numKvHeads: heads / groups };
}

/** Grow the number of attention heads alone. */
export function growHeads(model: GrowableModel, heads: number, opts: GrowOptions): GrowableModel {
  return growModel(model, withHeads(model.config, heads), opts);
}

export function checkHeads(src: ModelConfig, dst: ModelConfig): void {
  if (dst.headDim !== src.headDim) throw new GrowthError(`head_dim must stay ${src.headDim} across growth (target has ${dst.headDim}): width grows by adding heads`);
  const g1 = src.numHeads / src.numKvHeads, g2 = dst.numHeads / dst.numKvHeads;
  if (g1 !== g2) {
    throw new GrowthError(`growth keeps ${g1} query heads per kv head: num_attention_heads ${dst.numHeads} needs num_key_value_heads ${dst.numHeads / g1}, the target has ${dst.numKvHeads}`);
  }
}

/** New entries along the attention-width axis of a tensor of `role`. */
export function headsFill(role: Role, method: GrowthMethod): Fill {
  return method !== 'msg' && role === 'o' ? 'zero' : 'random';
}

export function headsMask(heads1: number, heads2: number): Partial<MaskState> {
  return heads2 > heads1 ? { heads: { from: heads1, value: 0 } } : {};
}
