/**
 * Growth operators (GROWTH.md §3) as passes over a model — its config (from which the graph is
 * built), its weights and its optimizer state — returning the grown model. Every old weight is
 * copied into the top-left block of its enlarged tensor.
 *
 * method 'msg' (Masked Structural Growth): new entries get N(0, initializer_range²) or copies of
 *   neighbouring layers, and the grown config carries masks (hidden dims, FFN units, heads, new
 *   layers) that start at 0, so the grown graph computes exactly the old function whatever the new
 *   weights are; the trainer ramps them to 1 and `removeMasks` then leaves the plain decoder.
 * method 'mask-free': the grown checkpoint is exact for an engine that knows no masks: new FFN units,
 *   heads and layers get zero output projections (down_proj / o_proj columns), new residual dims are
 *   zero (embedding columns, o_proj/down_proj rows) and every RMSNorm gain is multiplied by
 *   sqrt(d1/d2) with eps → eps·d1/d2, which keeps the norms exact over the zero dims.
 *
 * Optimizer moments grow the same way with zeros in new entries; the step count is kept.
 * μP: if output_mult/mup_scale_factor (or input_mult) changes, lm_head (embed_tokens) is rescaled
 * so the logits (embeddings) are unchanged; LR multipliers follow the new config.
 */
import type { ModelConfig } from '../model/config.js';
import { type LayerNames, layerParamNames, EMBED, FINAL_NORM, LM_HEAD } from '../model/params.js';
import { masksComplete } from '../model/masks.js';
import type { Weights } from '../model/weights.js';
import type { Tensor } from '../onnx/ir.js';
import type { OptimizerState } from '../model/training-state.js';
import { GrowlmError } from '../util/errors.js';
import { Rng, fillNormalFast } from '../util/rng.js';

export class GrowthError extends GrowlmError {}

/**
 * msg: masks. mask-free: zero-initialized outputs + gain rescaling. clone: mask-free by cloning
 * (HyperCloning) for integer width factors — hidden dims, heads and FFN units are duplicated and the
 * weights that read them divided by the factor; an FFN growth by a non-integer factor falls back to
 * zero-initialized new units, and new layers to zero output projections.
 */
export type GrowthMethod = 'msg' | 'mask-free' | 'clone';
export type Placement = 'append' | 'interleave' | 'distance';

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

/** Where each layer of the grown model comes from: an old layer kept, or a new copy of an old one. */
export interface LayerSource {
  source: number;
  isNew: boolean;
}

/**
 * Layer placement. append: new layers on top (copies of the top layer). interleave: new layers
 * spread evenly, each a copy of the layer below it. distance: a copy follows each of the layers that
 * change the residual stream most (1 − cos(h_in, h_out) on a calibration batch) — those carry the
 * most computation, so they are the ones given more depth.
 */
export function planLayers(l1: number, l2: number, placement: Placement, distances?: number[]): LayerSource[] {
  const extra = l2 - l1;
  const after = new Array<number>(l1).fill(0); // new layers inserted after old layer i
  if (placement === 'append') after[l1 - 1] = extra;
  else if (placement === 'interleave') {
    for (let k = 0; k < extra; k++) after[Math.min(l1 - 1, Math.max(0, Math.ceil(((k + 1) * l1) / extra) - 1))]!++;
  } else {
    if (!distances || distances.length !== l1) throw new GrowthError(`placement distance needs ${l1} layer distances from a calibration batch`);
    const order = [...distances.keys()].sort((a, b) => distances[b]! - distances[a]! || a - b);
    for (let k = 0; k < extra; k++) after[order[k % l1]!]!++;
  }
  const out: LayerSource[] = [];
  for (let i = 0; i < l1; i++) {
    out.push({ source: i, isNew: false });
    for (let k = 0; k < after[i]!; k++) out.push({ source: i, isNew: true });
  }
  return out;
}

function check(src: ModelConfig, dst: ModelConfig, method: GrowthMethod): void {
  if (method === 'clone' && dst.hiddenSize % src.hiddenSize !== 0) {
    throw new GrowthError(`clone needs an integer width factor: hidden_size ${src.hiddenSize} → ${dst.hiddenSize} (use mask-free or msg)`);
  }
  if (dst.vocabSize > src.vocabSize && method !== 'msg') {
    throw new GrowthError(`vocabulary padding (${src.vocabSize} → ${dst.vocabSize}) changes the softmax unless the new logits are masked: use the msg method`);
  }
  const dims: [string, number, number][] = [
    ['vocab_size', src.vocabSize, dst.vocabSize], ['hidden_size', src.hiddenSize, dst.hiddenSize],
    ['intermediate_size', src.intermediateSize, dst.intermediateSize], ['num_hidden_layers', src.numLayers, dst.numLayers],
    ['num_attention_heads', src.numHeads, dst.numHeads],
  ];
  for (const [name, a, b] of dims) if (b < a) throw new GrowthError(`cannot shrink ${name} ${a} → ${b}`);
  if (dst.headDim !== src.headDim) throw new GrowthError(`head_dim must stay ${src.headDim} across growth (target has ${dst.headDim}): width grows by adding heads`);
  if (src.numHeads * src.headDim === src.hiddenSize && dst.numHeads * dst.headDim !== dst.hiddenSize) {
    throw new GrowthError(`target hidden_size ${dst.hiddenSize} is not num_attention_heads ${dst.numHeads} × head_dim ${dst.headDim}, as the model's is`);
  }
  if (dst.tokenizer && src.tokenizer && JSON.stringify(dst.tokenizer) !== JSON.stringify(src.tokenizer)) {
    throw new GrowthError('target config is for another tokenizer (vocabulary family)');
  }
  if (src.growth.masks && !masksComplete(src.growth.masks)) {
    const ramping = Object.entries(src.growth.masks).filter(([k, v]) => k !== 'ramp' && (v as { value: number }).value < 1)
      .map(([k, v]) => `${k} at ${(v as { value: number }).value.toFixed(2)}`).join(', ');
    throw new GrowthError(`the previous growth's masks are still ramping (${ramping}): train until they reach 1, then grow again`);
  }
}

/** Copy `src` ([r1, c1], row-major) into the top-left of a new [r2, c2] tensor; new entries from `fill`. */
function expand(src: Float32Array, r1: number, c1: number, r2: number, c2: number, fill: (out: Float32Array) => void): Float32Array {
  const out = new Float32Array(r2 * c2);
  if (r2 * c2 > r1 * c1) fill(out); // new entries; old ones are overwritten below
  if (c1 === c2) out.set(src);
  else for (let r = 0; r < r1; r++) out.set(src.subarray(r * c1, (r + 1) * c1), r * c2);
  return out;
}

type Fill = 'random' | 'zero' | 'one';

interface Shapes { d: number; q: number; f: number; V: number }

/** The [rows, cols] of a parameter in a model of the given shapes. */
function shapeOf(role: keyof LayerNames | 'embed' | 'head' | 'finalNorm', s: Shapes): [number, number] {
  switch (role) {
    case 'embed': case 'head': return [s.V, s.d];
    case 'inputNorm': case 'postNorm': case 'finalNorm': return [1, s.d];
    case 'q': case 'k': case 'v': return [s.q, s.d];
    case 'o': return [s.d, s.q];
    case 'gate': case 'up': return [s.f, s.d];
    case 'down': return [s.d, s.f];
  }
}

/**
 * How each role's new entries are filled. For MSG everything new is random (masks make it exact);
 * mask-free zeroes what writes into new residual dims or comes out of new units/heads/layers.
 */
function fillFor(role: keyof LayerNames | 'embed' | 'head' | 'finalNorm', method: GrowthMethod, newLayer: boolean): { newRows: Fill; newCols: Fill; all?: Fill } {
  const isNorm = role === 'inputNorm' || role === 'postNorm' || role === 'finalNorm';
  if (isNorm) return { newRows: 'one', newCols: 'one' };
  if (method === 'msg') return { newRows: 'random', newCols: 'random' };
  switch (role) {
    case 'embed': return { newRows: 'random', newCols: 'zero' }; // new dims of the residual stream start at 0
    case 'o': case 'down': return newLayer ? { newRows: 'zero', newCols: 'zero', all: 'zero' } : { newRows: 'zero', newCols: 'zero' };
    default: return { newRows: 'random', newCols: 'random' };
  }
}

type Role = Parameters<typeof shapeOf>[0];

/** Tile `src` [r1, c1] over [r2, c2] (integer factors), scaling every entry by `scale`. */
function tile(src: Float32Array, r1: number, c1: number, r2: number, c2: number, scale: number): Float32Array {
  const out = new Float32Array(r2 * c2);
  const row = scale === 1 ? src : src.map((v) => v * scale);
  for (let r = 0; r < r2; r++) {
    const from = (r % r1) * c1;
    for (let c = 0; c < c2; c += c1) out.set(row.subarray(from, from + c1), r * c2 + c);
  }
  return out;
}

/** One tensor of the grown model: where it comes from and how it grows. */
export interface TensorStep {
  out: string;
  source: string;
  role: Role;
  newLayer: boolean;
}

/**
 * A growth decided but not applied: the grown config and, per output tensor, its source and role.
 * `growTensor` applies it one tensor at a time, so a checkpoint can be grown in memory
 * (`growModel`) or streamed tensor by tensor from disk (`growCheckpointStreaming`) with identical
 * results (new entries are drawn from one generator in the same order).
 */
export class GrowthPlan {
  readonly config: ModelConfig;
  readonly steps: TensorStep[];
  private readonly a: Shapes;
  private readonly b: Shapes;
  private readonly rng: Rng;
  private readonly headScale: number;
  private readonly embedScale: number;
  private readonly gainScale: number;

  constructor(src: ModelConfig, target: ModelConfig, private readonly opts: GrowOptions) {
    check(src, target, opts.method);
    this.rng = new Rng(opts.seed);
    const a: Shapes = { d: src.hiddenSize, q: src.numHeads * src.headDim, f: src.intermediateSize, V: src.vocabSize };
    const b: Shapes = { d: target.hiddenSize, q: target.numHeads * target.headDim, f: target.intermediateSize, V: target.vocabSize };
    this.a = a;
    this.b = b;
    const layers = src.numLayers === target.numLayers
      ? [...Array(src.numLayers).keys()].map((i) => ({ source: i, isNew: false }))
      : planLayers(src.numLayers, target.numLayers, opts.placement, opts.layerDistances);
    // μP: keep the logits and embeddings unchanged when the multipliers change
    this.headScale = (src.outputMult / src.mupScaleFactor) / (target.outputMult / target.mupScaleFactor);
    this.embedScale = src.inputMult / target.inputMult;
    this.gainScale = opts.method === 'mask-free' && b.d !== a.d ? Math.sqrt(a.d / b.d) : 1;

    this.steps = [{ out: EMBED, source: EMBED, role: 'embed', newLayer: false }];
    layers.forEach((l, i) => {
      const from = layerParamNames(l.source), to = layerParamNames(i);
      for (const role of Object.keys(from) as (keyof LayerNames)[]) this.steps.push({ out: to[role], source: from[role], role, newLayer: l.isNew });
    });
    this.steps.push({ out: FINAL_NORM, source: FINAL_NORM, role: 'finalNorm', newLayer: false }, { out: LM_HEAD, source: LM_HEAD, role: 'head', newLayer: false });

    const config: ModelConfig = {
      ...target,
      tokenizer: src.tokenizer ?? target.tokenizer,
      rmsEps: opts.method === 'mask-free' && b.d !== a.d ? src.rmsEps * (a.d / b.d) : target.rmsEps,
      growth: {
        history: [...src.growth.history, {
          from: { hidden_size: a.d, intermediate_size: a.f, num_hidden_layers: src.numLayers, num_attention_heads: src.numHeads, vocab_size: a.V },
          to: { hidden_size: b.d, intermediate_size: b.f, num_hidden_layers: target.numLayers, num_attention_heads: target.numHeads, vocab_size: b.V },
          method: opts.method, placement: opts.placement, layers: layers.map((l) => (l.isNew ? `new(${l.source})` : l.source)),
        }],
      },
    };
    if (opts.method === 'msg') {
      const newLayers = layers.flatMap((l, i) => (l.isNew ? [i] : []));
      const masks = {
        ...(b.d > a.d ? { hidden: { from: a.d, value: 0 } } : {}),
        ...(b.f > a.f ? { ffn: { from: a.f, value: 0 } } : {}),
        ...(b.q > a.q ? { heads: { from: src.numHeads, value: 0 } } : {}),
        ...(newLayers.length ? { layers: { indices: newLayers, value: 0 } } : {}),
        ...(b.V > a.V ? { vocab: { from: a.V, value: 0 } } : {}),
      };
      if (Object.keys(masks).length) config.growth.masks = { ...masks, ramp: { start: opts.rampStart ?? 0, steps: opts.rampSteps, stagger: opts.stagger } };
    }
    this.config = config;
  }

  /** The shape of an output tensor. */
  dims(step: TensorStep): number[] {
    const [r, c] = shapeOf(step.role, this.b);
    return r === 1 ? [c] : [r, c];
  }

  /**
   * HyperCloning of one tensor, when its growth is by integer factors: the output dims are
   * duplicated, the input dims too with the weights divided by their factor, so W'·[x; x] = [Wx; Wx].
   * Returns undefined where cloning does not apply (non-integer FFN factor, new layers' outputs).
   */
  private cloneTensor(step: TensorStep, data: Float32Array, r1: number, c1: number, r2: number, c2: number, moments: boolean): Float32Array | undefined {
    const { role } = step;
    if (step.newLayer && (role === 'o' || role === 'down')) return undefined; // zero outputs: the new layer is an identity
    if (moments) return expand(data, r1, c1, r2, c2, () => {}); // old moments kept, new entries zero
    const rowsTile = r2 % r1 === 0, colsTile = c2 % c1 === 0;
    const isNorm = role === 'inputNorm' || role === 'postNorm' || role === 'finalNorm';
    // an embedding's columns and norm gains are produced values: duplicated, not divided
    const scale = role === 'embed' || isNorm || !colsTile ? 1 : c1 / c2;
    if (rowsTile && colsTile) return tile(data, r1, c1, r2, c2, scale);
    if (colsTile) {
      // gate/up under a non-integer FFN factor: old units read the duplicated hidden dims; new units
      // get random inputs (their down_proj columns are zero)
      const out = new Float32Array(r2 * c2);
      out.set(tile(data, r1, c1, r1, c2, scale));
      fillNormalFast(this.rng, out.subarray(r1 * c2), this.config.initStd);
      return out;
    }
    if (rowsTile) {
      // down under a non-integer FFN factor: duplicated output rows, new units' columns zero
      const out = new Float32Array(r2 * c2);
      for (let r = 0; r < r2; r++) out.set(data.subarray((r % r1) * c1, (r % r1 + 1) * c1), r * c2);
      return out;
    }
    return undefined;
  }

  /**
   * Grow one tensor (weights: new entries drawn or zeroed as the method says; moments: new entries
   * zero, and a new layer's moments start from zero). Call in `steps` order for reproducible draws.
   */
  growTensor(step: TensorStep, source: Float32Array, moments: boolean): Float32Array {
    const { role, newLayer } = step;
    const [r1, c1] = shapeOf(role, this.a);
    const [r2, c2] = shapeOf(role, this.b);
    if (source.length !== r1 * c1) throw new GrowthError(`tensor ${step.source} has ${source.length} values, its config needs ${r1 * c1}`);
    let data = source;
    if (moments && newLayer) data = new Float32Array(source.length);
    // μP rescale of the old block (applied below on the output, without another fresh array)
    const oldScale = moments ? 1 : role === 'embed' ? this.embedScale : role === 'head' ? this.headScale : 1;
    if (this.opts.method === 'clone' && !(moments && newLayer)) {
      const cloned = this.cloneTensor(step, data, r1, c1, r2, c2, moments);
      if (cloned) {
        if (oldScale !== 1) for (let i = 0; i < cloned.length; i++) cloned[i]! *= oldScale; // every entry is an old one
        return cloned;
      }
    }
    const f = fillFor(role, this.opts.method === 'clone' ? 'mask-free' : this.opts.method, newLayer);
    const std = this.config.initStd;
    const out = expand(data, r1, c1, r2, c2, (o) => {
      if (moments) return; // new Adam moments are zero
      // rows ≥ r1 are new rows; in old rows, columns ≥ c1 are new columns
      const fillRange = (from: number, to: number, kind: Fill) => {
        if (kind === 'zero') return;
        if (kind === 'one') o.fill(1, from, to);
        else fillNormalFast(this.rng, o.subarray(from, to), std);
      };
      for (let r = 0; r < r1; r++) fillRange(r * c2 + c1, (r + 1) * c2, f.newCols);
      fillRange(r1 * c2, r2 * c2, f.newRows);
    });
    if (moments) return out;
    if (oldScale !== 1) for (let r = 0; r < r1; r++) for (let c = 0; c < c1; c++) out[r * c2 + c]! *= oldScale;
    if (f.all === 'zero') out.fill(0);
    const isNorm = role === 'inputNorm' || role === 'postNorm' || role === 'finalNorm';
    if (isNorm && this.gainScale !== 1) for (let i = 0; i < out.length; i++) out[i]! *= this.gainScale;
    return out;
  }
}

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
