/**
 * growHidden: a wider residual stream (d₁ → d₂). When the model's attention width equals its hidden
 * size (heads × head_dim = hidden_size), the width grows as more heads at the same head dim
 * (growHeads alongside). New residual dims:
 * - msg: random entries behind a hidden mask (masked RMSNorm statistics and residual writes), so the
 *   old function is kept whatever they are;
 * - mask-free (and clone's fallback): what writes into the residual stream (embedding columns,
 *   o_proj/down_proj rows) is zero in the new dims, so they stay 0, and every RMSNorm gain is scaled
 *   by √(d₁/d₂) with eps → eps·d₁/d₂, which keeps the norms exact over the zero dims.
 */
import type { MaskState, ModelConfig } from '../model/config.js';
import { growModel } from './grow-model.js';
import { withHeads } from './heads.js';
import { type Fill, type GrowOptions, type GrowableModel, type GrowthMethod, type Role, GrowthError, isNorm } from './types.js';

/** `c` with hidden_size `d` (and the heads that width needs, when attention width equals hidden). */
export function withHidden(c: ModelConfig, d: number): ModelConfig {
  if (c.numHeads * c.headDim !== c.hiddenSize) return { ...c, hiddenSize: d };
  if (d % c.headDim !== 0) throw new GrowthError(`hidden_size ${d} is not a multiple of head_dim ${c.headDim} (the width grows by whole heads)`);
  return withHeads({ ...c, hiddenSize: d }, d / c.headDim);
}

/** Grow the residual width alone (see the module comment). */
export function growHidden(model: GrowableModel, hiddenSize: number, opts: GrowOptions): GrowableModel {
  return growModel(model, withHidden(model.config, hiddenSize), opts);
}

export function checkHidden(src: ModelConfig, dst: ModelConfig, method: GrowthMethod): void {
  if (method === 'clone' && dst.hiddenSize % src.hiddenSize !== 0) {
    throw new GrowthError(`clone needs an integer width factor: hidden_size ${src.hiddenSize} → ${dst.hiddenSize} (use mask-free or msg)`);
  }
  if (src.numHeads * src.headDim === src.hiddenSize && dst.numHeads * dst.headDim !== dst.hiddenSize) {
    throw new GrowthError(`target hidden_size ${dst.hiddenSize} is not num_attention_heads ${dst.numHeads} × head_dim ${dst.headDim}, as the model's is`);
  }
}

/** New entries along the hidden axis of a tensor of `role` (method: msg or mask-free). */
export function hiddenFill(role: Role, method: GrowthMethod): Fill {
  if (isNorm(role)) return 'one';
  if (method === 'msg') return 'random';
  return role === 'embed' || role === 'o' || role === 'down' ? 'zero' : 'random'; // writers into the residual stream
}

export function hiddenMask(d1: number, d2: number): Partial<MaskState> {
  return d2 > d1 ? { hidden: { from: d1, value: 0 } } : {};
}

/** mask-free: the RMSNorm gain factor and eps factor that keep the norms exact over zero new dims. */
export function maskFreeNorms(d1: number, d2: number): { gain: number; eps: number } {
  return d2 === d1 ? { gain: 1, eps: 1 } : { gain: Math.sqrt(d1 / d2), eps: d1 / d2 };
}
