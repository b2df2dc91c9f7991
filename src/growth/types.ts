/**
 * The vocabulary of growth: methods, layer placements, options, the model a growth transforms, and
 * the per-tensor terms (roles, axes, fills) the operators and the plan share.
 */
import type { ModelConfig } from '../model/config.js';
import type { LayerNames } from '../model/params.js';
import type { OptimizerState } from '../model/training-state.js';
import type { Weights } from '../model/weights.js';
import { GrowlmError } from '../util/errors.js';

export class GrowthError extends GrowlmError {}

/**
 * msg: masks. mask-free: zero-initialized outputs + gain rescaling. clone: mask-free by cloning
 * (HyperCloning) for integer width factors — hidden dims, heads and FFN units are duplicated and the
 * weights that read them divided by the factor; an FFN growth by a non-integer factor falls back to
 * zero-initialized new units, and new layers to zero output projections.
 */
export type GrowthMethod = 'msg' | 'mask-free' | 'clone';
export type Placement = 'append' | 'interleave' | 'distance';

export const GROWTH_METHODS: readonly GrowthMethod[] = ['msg', 'mask-free', 'clone'];
export const PLACEMENTS: readonly Placement[] = ['append', 'interleave', 'distance'];

/**
 * Optimizer steps over which MSG masks ramp from 0 to 1 when neither `growlm grow --ramp-steps` nor
 * a plan's `ramp_steps` says otherwise (both use this one value). 100, the value of the demo plan,
 * the recipe whose results the README reports: its grown stages train 600 and 250 steps, so the
 * masks reach 1 and are removed early in a stage and most of it trains the plain grown model.
 */
export const DEFAULT_RAMP_STEPS = 100;

export interface GrowOptions {
  method: GrowthMethod;
  placement: Placement;
  seed: number;
  /** Optimizer steps over which MSG masks ramp from 0 to 1. */
  rampSteps: number;
  stagger: boolean;
  /** Step count at which the ramp starts (the grown model's training restarts its count at 0). */
  rampStart?: number;
  /** placement 'distance': each old layer's change of the residual stream (1 − cos) on a calibration batch. */
  layerDistances?: number[];
}

export interface GrowableModel {
  config: ModelConfig;
  weights: Weights;
  optimizer?: OptimizerState;
}

/** A parameter's role: a per-layer projection or norm, or one of the model-level tensors. */
export type Role = keyof LayerNames | 'embed' | 'head' | 'finalNorm';

/**
 * The dimensions a tensor's rows and columns run over: d (residual width, growHidden), q (attention
 * width = heads × head_dim, growHeads), kv (key/value width = kv heads × head_dim, growHeads: it grows
 * with q at the model's fixed H/kv ratio), f (FFN units, growFfn), V (vocabulary, growVocab), 1 (a
 * norm gain's single row).
 */
export type Axis = 'd' | 'q' | 'kv' | 'f' | 'V' | '1';

export type Shapes = Record<Exclude<Axis, '1'>, number>;

/** How new entries of a tensor are filled. */
export type Fill = 'random' | 'zero' | 'one';

export const isNorm = (role: Role): boolean => role === 'inputNorm' || role === 'postNorm' || role === 'finalNorm';

/** The axes of each role's [rows, cols] (Linear weights are [out, in]). */
export function axesOf(role: Role): [Axis, Axis] {
  switch (role) {
    case 'embed': case 'head': return ['V', 'd'];
    case 'inputNorm': case 'postNorm': case 'finalNorm': return ['1', 'd'];
    case 'q': return ['q', 'd'];
    case 'k': case 'v': return ['kv', 'd'];
    case 'o': return ['d', 'q'];
    case 'gate': case 'up': return ['f', 'd'];
    case 'down': return ['d', 'f'];
  }
}

/** The [rows, cols] of a parameter in a model of the given shapes. */
export function shapeOf(role: Role, s: Shapes): [number, number] {
  const [r, c] = axesOf(role);
  return [r === '1' ? 1 : s[r], c === '1' ? 1 : s[c]];
}

export function shapesOf(c: ModelConfig): Shapes {
  return { d: c.hiddenSize, q: c.numHeads * c.headDim, kv: c.numKvHeads * c.headDim, f: c.intermediateSize, V: c.vocabSize };
}
