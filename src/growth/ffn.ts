/**
 * growFfn: more FFN units (intermediate_size f₁ → f₂). New units' gate/up rows are random; their
 * outputs (down_proj's new columns) are behind an FFN mask (msg) or zero (mask-free), so they add
 * nothing until trained. clone duplicates units under an integer factor (clone.ts).
 */
import type { MaskState, ModelConfig } from '../model/config.js';
import { growModel } from './grow-model.js';
import type { Fill, GrowOptions, GrowableModel, GrowthMethod, Role } from './types.js';

export function withFfn(c: ModelConfig, f: number): ModelConfig {
  return { ...c, intermediateSize: f };
}

/** Grow the FFN width alone. */
export function growFfn(model: GrowableModel, intermediateSize: number, opts: GrowOptions): GrowableModel {
  return growModel(model, withFfn(model.config, intermediateSize), opts);
}

/** New entries along the FFN axis of a tensor of `role`. */
export function ffnFill(role: Role, method: GrowthMethod): Fill {
  return method !== 'msg' && role === 'down' ? 'zero' : 'random';
}

export function ffnMask(f1: number, f2: number): Partial<MaskState> {
  return f2 > f1 ? { ffn: { from: f1, value: 0 } } : {};
}
