/** AdamW state that travels with a model through checkpoints and growth. */
import type { Tensor } from '../onnx/ir.js';
import { loadSafetensors, saveSafetensors } from './safetensors.js';
import type { Weights } from './weights.js';
import { type AtomicWriter, writeFileAtomic } from '../util/atomic.js';

export interface OptimizerState {
  /** Optimizer updates applied so far (AdamW bias correction uses it). */
  step: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

export const OPTIMIZER_FILE = 'optimizer.safetensors';

export function saveOptimizerState(path: string, weights: Weights, opt: OptimizerState, write: AtomicWriter = writeFileAtomic): void {
  const moments = new Map<string, Tensor>();
  for (const [name, w] of weights) {
    if (!opt.m.has(name)) continue;
    moments.set(`m.${name}`, { dtype: 'float32', dims: w.dims, data: opt.m.get(name)! });
    moments.set(`v.${name}`, { dtype: 'float32', dims: w.dims, data: opt.v.get(name)! });
  }
  saveSafetensors(path, moments, { format: 'growlm-adamw', step: String(opt.step) }, write);
}

export function loadOptimizerState(path: string): OptimizerState {
  const { tensors, metadata } = loadSafetensors(path);
  const m = new Map<string, Float32Array>(), v = new Map<string, Float32Array>();
  for (const [name, t] of tensors) {
    if (name.startsWith('m.')) m.set(name.slice(2), t.data as Float32Array);
    else if (name.startsWith('v.')) v.set(name.slice(2), t.data as Float32Array);
  }
  return { step: Number(metadata.step ?? 0), m, v };
}
