/** Growth of a model in memory (weights and optimizer state), and mask removal once MSG masks reach 1. */
import { masksComplete } from '../model/masks.js';
import type { OptimizerState } from '../model/training-state.js';
import type { Weights } from '../model/weights.js';
import type { Tensor } from '../onnx/ir.js';
import type { ModelConfig } from '../model/config.js';
import { GrowthPlan } from './plan.js';
import { type GrowOptions, type GrowableModel, GrowthError } from './types.js';

/** Grow `model` to the sizes of `target` with every operator the size changes call for (plan.ts). */
export function growModel(model: GrowableModel, target: ModelConfig, opts: GrowOptions): GrowableModel {
  const plan = new GrowthPlan(model.config, target, opts);
  const weights: Weights = new Map();
  for (const step of plan.steps) {
    const data = plan.growTensor(step, model.weights.get(step.source)!.data as Float32Array, false);
    weights.set(step.out, { dtype: 'float32', dims: plan.dims(step), data } satisfies Tensor);
  }
  let optimizer: OptimizerState | undefined;
  if (model.optimizer) {
    const o = model.optimizer;
    const moments = (src: Map<string, Float32Array>) => new Map(plan.steps.map((s) => [s.out, plan.growTensor(s, src.get(s.source)!, true)]));
    optimizer = { step: o.step, m: moments(o.m), v: moments(o.v) };
  }
  return { config: plan.config, weights, optimizer };
}

/** When every mask has reached 1 the masked ops equal the plain ones: drop the masks from the model. */
export function removeMasks(model: GrowableModel): GrowableModel {
  const m = model.config.growth.masks;
  if (!m) return model;
  if (!masksComplete(m)) throw new GrowthError('masks have not reached 1 yet; they cannot be removed without changing the function');
  const { masks: _, ...growth } = model.config.growth;
  return { ...model, config: { ...model.config, growth } };
}
