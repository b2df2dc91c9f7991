/** Weight initialization and checks against a config. */
import { GrowlmError } from '../util/errors.js';
import type { Tensor } from '../onnx/ir.js';
import { Rng } from '../util/rng.js';
import type { ModelConfig } from './config.js';
import { paramSpecs } from './params.js';

export type Weights = Map<string, Tensor>;

export class WeightsError extends GrowlmError {}

/** Norm gains 1, every matrix N(0, initializer_range²) (HF Llama's init), in `paramSpecs` order. */
export function initWeights(c: ModelConfig, seed: number): Weights {
  const rng = new Rng(seed);
  const w: Weights = new Map();
  for (const p of paramSpecs(c)) {
    const data = new Float32Array(p.shape.reduce((a, b) => a * b, 1));
    if (p.kind === 'norm') data.fill(1);
    else rng.fillNormal(data, c.initStd);
    w.set(p.name, { dtype: 'float32', dims: p.shape, data });
  }
  return w;
}

/**
 * Check that `w` holds exactly the parameters of `c` with the right shapes (float32), plus optional
 * growth masks named `growlm.*`.
 */
export function checkWeights(c: ModelConfig, w: Weights, what = 'model'): void {
  const specs = paramSpecs(c);
  for (const p of specs) {
    const t = w.get(p.name);
    if (!t) throw new WeightsError(`${what}: missing tensor ${p.name}`);
    if (t.dtype !== 'float32') throw new WeightsError(`${what}: tensor ${p.name} is ${t.dtype}, expected float32`);
    if (t.dims.length !== p.shape.length || t.dims.some((d, i) => d !== p.shape[i])) {
      throw new WeightsError(`${what}: tensor ${p.name} has shape [${t.dims}], config needs [${p.shape}]`);
    }
  }
  const known = new Set(specs.map((p) => p.name));
  for (const name of w.keys()) {
    if (!known.has(name) && !name.startsWith('growlm.')) throw new WeightsError(`${what}: unexpected tensor ${name}`);
  }
}
