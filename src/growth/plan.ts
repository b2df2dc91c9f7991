/**
 * The growth plan: the named operators (hidden.ts, heads.ts, ffn.ts, depth.ts, vocab.ts; clone.ts
 * for HyperCloning) composed into one growth of a model — its config (from which the graph is
 * built), its weights and its optimizer state. Every old weight is copied into the top-left block
 * of its enlarged tensor; each new entry is filled by the operator that owns its axis.
 *
 * method 'msg' (Masked Structural Growth): new entries get N(0, initializer_range²) or copies of
 *   neighbouring layers, and the grown config carries masks (hidden dims, FFN units, heads, new
 *   layers, new tokens) that start at 0, so the grown graph computes exactly the old function
 *   whatever the new weights are; the trainer ramps them to 1 and `removeMasks` then leaves the
 *   plain decoder.
 * method 'mask-free': the grown checkpoint is exact for an engine that knows no masks (zero outputs
 *   of new units/heads/layers, zero new residual dims, rescaled RMSNorm gains: see each operator).
 *
 * Optimizer moments grow the same way with zeros in new entries; the step count is kept.
 * μP: if output_mult/mup_scale_factor (or input_mult) changes, lm_head (embed_tokens) is rescaled
 * so the logits (embeddings) are unchanged; LR multipliers follow the new config.
 *
 * Tied embeddings (docs/growth.md#tied-embeddings): the one matrix E grows as the embedding does (its
 * rows with the vocabulary, its columns with the hidden size); a change of multipliers is allowed
 * only when the embedding and the head change by the same factor, and HyperCloning's factor n on
 * the hidden size, which multiplies every logit of a tied model by n (E's columns are duplicated,
 * not divided), is taken back by output_mult / n in the grown config.
 */
import type { MaskState, ModelConfig } from '../model/config.js';
import { masksComplete } from '../model/masks.js';
import { type LayerNames, layerParamNames, EMBED, FINAL_NORM, LM_HEAD } from '../model/params.js';
import { Rng, fillNormalFast } from '../util/rng.js';
import { cloneTensor } from './clone.js';
import { type LayerSource, depthMask, newLayerFill, planLayers, withLayers } from './depth.js';
import { ffnFill, ffnMask, withFfn } from './ffn.js';
import { checkHeads, headsFill, headsMask, withHeads } from './heads.js';
import { checkHidden, hiddenFill, hiddenMask, maskFreeNorms, withHidden } from './hidden.js';
import { expand } from './tensors.js';
import { type Axis, type Fill, type GrowOptions, type GrowthMethod, type Role, type Shapes, GrowthError, axesOf, isNorm, shapeOf, shapesOf } from './types.js';
import { checkVocab, vocabFill, vocabMask, withVocab } from './vocab.js';

/** Refuse a growth no operator can do exactly (shrinking, another head dim or tokenizer, masks still ramping). */
export function checkGrowth(src: ModelConfig, dst: ModelConfig, method: GrowthMethod): void {
  const dims: [string, number, number][] = [
    ['vocab_size', src.vocabSize, dst.vocabSize], ['hidden_size', src.hiddenSize, dst.hiddenSize],
    ['intermediate_size', src.intermediateSize, dst.intermediateSize], ['num_hidden_layers', src.numLayers, dst.numLayers],
    ['num_attention_heads', src.numHeads, dst.numHeads], ['num_key_value_heads', src.numKvHeads, dst.numKvHeads],
  ];
  for (const [name, a, b] of dims) if (b < a) throw new GrowthError(`cannot shrink ${name} ${a} → ${b}`);
  checkHidden(src, dst, method);
  checkHeads(src, dst);
  checkVocab(src, dst, method);
  if (dst.tieWordEmbeddings !== src.tieWordEmbeddings) throw new GrowthError(`tie_word_embeddings must stay ${src.tieWordEmbeddings} across growth (the target has ${dst.tieWordEmbeddings})`);
  if (dst.ropeTheta !== src.ropeTheta || JSON.stringify(dst.ropeScaling) !== JSON.stringify(src.ropeScaling)) {
    throw new GrowthError('rope_theta and rope_scaling must stay as they are across growth (they change every attention score)');
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

/**
 * The grown output_mult of a tied model: E is scaled once, by the embedding's factor, so the head's
 * factor must be the same; clone's hidden factor n (E's duplicated columns read a duplicated
 * residual stream: every logit × n) is divided out of output_mult.
 */
function tiedOutputMult(src: ModelConfig, dst: ModelConfig, method: GrowthMethod): number {
  const embed = src.inputMult / dst.inputMult;
  const head = (src.outputMult / src.mupScaleFactor) / (dst.outputMult / dst.mupScaleFactor);
  if (Math.abs(head - embed) > 1e-12 * Math.max(head, embed)) {
    throw new GrowthError(`tied embeddings: input_mult (${src.inputMult} → ${dst.inputMult}) and output_mult / mup_scale_factor (${src.outputMult / src.mupScaleFactor} → ${dst.outputMult / dst.mupScaleFactor}) must change by the same factor, since one matrix serves both`);
  }
  const factor = method === 'clone' ? dst.hiddenSize / src.hiddenSize : 1;
  return dst.outputMult / factor;
}

/** True when `a` and `b` have the same sizes along every axis a growth can change. */
export function sameSizes(a: ModelConfig, b: ModelConfig): boolean {
  return a.vocabSize === b.vocabSize && a.hiddenSize === b.hiddenSize && a.intermediateSize === b.intermediateSize
    && a.numLayers === b.numLayers && a.numHeads === b.numHeads && a.numKvHeads === b.numKvHeads && a.headDim === b.headDim;
}

/** The operator that owns an axis: how it fills new entries of a tensor of `role` along it. */
function axisFill(axis: Axis, role: Role, method: GrowthMethod): Fill {
  switch (axis) {
    case 'd': return hiddenFill(role, method);
    case 'q': case 'kv': return headsFill(role, method);
    case 'f': return ffnFill(role, method);
    case 'V': return vocabFill();
    case '1': return 'one'; // a norm gain's single row never grows
  }
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
 * (`growModel`) or streamed tensor by tensor from disk (`growModelDir`) with identical results
 * (new entries are drawn from one generator in the same order).
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
    checkGrowth(src, target, opts.method);
    this.rng = new Rng(opts.seed);
    const a = shapesOf(src), b = shapesOf(target);
    this.a = a;
    this.b = b;
    const layers: LayerSource[] = planLayers(src.numLayers, target.numLayers, opts.placement, opts.layerDistances);
    // μP: keep the logits and embeddings unchanged when the multipliers change
    this.headScale = (src.outputMult / src.mupScaleFactor) / (target.outputMult / target.mupScaleFactor);
    this.embedScale = src.inputMult / target.inputMult;
    const outputMult = src.tieWordEmbeddings ? tiedOutputMult(src, target, opts.method) : target.outputMult;
    if (src.tieWordEmbeddings) this.headScale = this.embedScale;
    const norms = opts.method === 'mask-free' ? maskFreeNorms(a.d, b.d) : { gain: 1, eps: 1 };
    this.gainScale = norms.gain;

    this.steps = [{ out: EMBED, source: EMBED, role: 'embed', newLayer: false }];
    layers.forEach((l, i) => {
      const from = layerParamNames(l.source), to = layerParamNames(i);
      for (const role of Object.keys(from) as (keyof LayerNames)[]) this.steps.push({ out: to[role], source: from[role], role, newLayer: l.isNew });
    });
    this.steps.push({ out: FINAL_NORM, source: FINAL_NORM, role: 'finalNorm', newLayer: false });
    if (!src.tieWordEmbeddings) this.steps.push({ out: LM_HEAD, source: LM_HEAD, role: 'head', newLayer: false });

    const config: ModelConfig = {
      ...target,
      outputMult,
      tokenizer: src.tokenizer ?? target.tokenizer,
      rmsEps: norms.eps !== 1 ? src.rmsEps * norms.eps : target.rmsEps,
      growth: {
        history: [...src.growth.history, {
          from: { hidden_size: a.d, intermediate_size: a.f, num_hidden_layers: src.numLayers, num_attention_heads: src.numHeads, vocab_size: a.V },
          to: { hidden_size: b.d, intermediate_size: b.f, num_hidden_layers: target.numLayers, num_attention_heads: target.numHeads, vocab_size: b.V },
          method: opts.method, placement: opts.placement, layers: layers.map((l) => (l.isNew ? `new(${l.source})` : l.source)),
        }],
      },
    };
    if (opts.method === 'msg') {
      const masks: Omit<MaskState, 'ramp'> = {
        ...hiddenMask(a.d, b.d), ...ffnMask(a.f, b.f), ...headsMask(src.numHeads, target.numHeads),
        ...depthMask(layers), ...vocabMask(a.V, b.V),
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
   * Grow one tensor (weights: new entries drawn or zeroed as the operators say; moments: new entries
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
      const cloned = cloneTensor(role, newLayer, data, r1, c1, r2, c2, moments, this.rng, this.config.initStd);
      if (cloned) {
        if (oldScale !== 1) for (let i = 0; i < cloned.length; i++) cloned[i]! *= oldScale; // every entry is an old one
        return cloned;
      }
    }
    const method = this.opts.method === 'clone' ? 'mask-free' : this.opts.method;
    const [rowAxis, colAxis] = axesOf(role);
    const newRows = axisFill(rowAxis, role, method), newCols = axisFill(colAxis, role, method);
    const std = this.config.initStd;
    const out = expand(data, r1, c1, r2, c2, (o) => {
      if (moments) return; // new Adam moments are zero
      // rows ≥ r1 are new rows; in old rows, columns ≥ c1 are new columns
      const fillRange = (from: number, to: number, kind: Fill) => {
        if (kind === 'zero') return;
        if (kind === 'one') o.fill(1, from, to);
        else fillNormalFast(this.rng, o.subarray(from, to), std);
      };
      for (let r = 0; r < r1; r++) fillRange(r * c2 + c1, (r + 1) * c2, newCols);
      fillRange(r1 * c2, r2 * c2, newRows);
    });
    if (moments) return out;
    if (oldScale !== 1) for (let r = 0; r < r1; r++) for (let c = 0; c < c1; c++) out[r * c2 + c]! *= oldScale;
    if (newLayer && newLayerFill(role, method) === 'zero') out.fill(0);
    if (isNorm(role) && this.gainScale !== 1) for (let i = 0; i < out.length; i++) out[i]! *= this.gainScale;
    return out;
  }
}

/** Size overrides of `growlm grow` (--hidden, --ffn, --layers, --heads, --vocab). */
export interface SizeOverrides {
  hidden?: number;
  ffn?: number;
  layers?: number;
  heads?: number;
  vocab?: number;
}

/**
 * The target: `to` (else the source's own config) with the size overrides applied through the
 * operators' resizes (--hidden also sets the heads when attention width equals hidden). An
 * override below the source's size is refused, naming its flag.
 */
export function targetConfig(source: ModelConfig, to: ModelConfig | undefined, sizes: SizeOverrides): ModelConfig {
  const current: Record<keyof SizeOverrides, [string, number]> = {
    hidden: ['hidden_size', source.hiddenSize], ffn: ['intermediate_size', source.intermediateSize], layers: ['num_hidden_layers', source.numLayers],
    heads: ['num_attention_heads', source.numHeads], vocab: ['vocab_size', source.vocabSize],
  };
  for (const [flag, n] of Object.entries(sizes) as [keyof SizeOverrides, number | undefined][]) {
    const [field, now] = current[flag];
    if (n !== undefined && n < now) throw new GrowthError(`--${flag} ${n} is smaller than the model's ${field} ${now} (growth cannot shrink)`);
  }
  let c = to ?? source;
  if (sizes.hidden !== undefined) c = withHidden(c, sizes.hidden);
  if (sizes.heads !== undefined) c = withHeads(c, sizes.heads);
  if (sizes.ffn !== undefined) c = withFfn(c, sizes.ffn);
  if (sizes.layers !== undefined) c = withLayers(c, sizes.layers);
  if (sizes.vocab !== undefined) c = withVocab(c, sizes.vocab);
  return c;
}
