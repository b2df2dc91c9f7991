/**
 * MSG masks as graph inputs: their names, their vectors (1 on old structure, m on new), and whether
 * they are complete. The ramp that drives m from 0 to 1 during training is a schedule, beside the
 * learning-rate schedule (src/train/schedule.ts).
 */
import type { Tensor } from '../onnx/ir.js';
import type { MaskState, ModelConfig } from './config.js';

export const MASK_INPUTS = {
  hidden: 'growlm.mask.hidden', // [d]: residual-stream dims
  ffn: 'growlm.mask.ffn', // [f]: FFN units (shared by every layer)
  heads: 'growlm.mask.heads', // [H·hd]: attention heads, expanded over head dims
  layers: 'growlm.mask.layers', // [L]: 1 for old layers, m for new ones
  vocab: 'growlm.mask.vocab', // [V]: 1 for old tokens, m for new ones (enters the logits as log m)
} as const;

function vector(size: number, from: number, value: number): Float32Array {
  const v = new Float32Array(size).fill(1);
  v.fill(value, from);
  return v;
}

/** The mask tensors the graph of `c` takes as inputs (empty for a plain model). */
export function maskTensors(c: ModelConfig): Map<string, Tensor> {
  const m = c.growth.masks;
  const out = new Map<string, Tensor>();
  if (!m) return out;
  if (m.hidden) out.set(MASK_INPUTS.hidden, { dtype: 'float32', dims: [c.hiddenSize], data: vector(c.hiddenSize, m.hidden.from, m.hidden.value) });
  if (m.ffn) out.set(MASK_INPUTS.ffn, { dtype: 'float32', dims: [c.intermediateSize], data: vector(c.intermediateSize, m.ffn.from, m.ffn.value) });
  if (m.heads) {
    const size = c.numHeads * c.headDim;
    out.set(MASK_INPUTS.heads, { dtype: 'float32', dims: [size], data: vector(size, m.heads.from * c.headDim, m.heads.value) });
  }
  if (m.vocab) out.set(MASK_INPUTS.vocab, { dtype: 'float32', dims: [c.vocabSize], data: vector(c.vocabSize, m.vocab.from, m.vocab.value) });
  if (m.layers) {
    const v = new Float32Array(c.numLayers).fill(1);
    for (const i of m.layers.indices) v[i] = m.layers.value;
    out.set(MASK_INPUTS.layers, { dtype: 'float32', dims: [c.numLayers], data: v });
  }
  return out;
}

/** True when every mask has reached 1 (the masked graph then equals the plain one); the ramp is in train/schedule.ts. */
export function masksComplete(m: MaskState | undefined): boolean {
  if (!m) return true;
  return [m.hidden, m.ffn, m.heads, m.layers, m.vocab].every((e) => !e || e.value >= 1);
}

/**
 * The optimizer step at which every MSG mask of `config` reaches 1, or undefined for a plain model.
 * (Staggered or not, the last mask reaches 1 at the end of the ramp window.)
 */
export function masksCompleteAt(config: ModelConfig): number | undefined {
  const m = config.growth.masks;
  return m ? m.ramp.start + m.ramp.steps : undefined;
}
