/**
 * Model configuration: the Hugging Face Llama `config.json` fields plus Tele-FLM's μP multipliers and
 * a `growlm` section for growth state. `parseConfig` validates and returns the camel-cased form the
 * graphs use; `configToJson` writes it back in HF layout.
 */

import { GrowlmError } from '../util/errors.js';

/**
 * An MSG growth in progress (docs/growth.md#the-mask-ramp-and-mask-removal): which structures are new and their mask values. Masks
 * ramp linearly from 0 to 1 over `ramp.steps` optimizer steps starting at `ramp.start` (the step
 * count of the run that trains the grown model); with `stagger`, FFN → hidden → heads ramp one after
 * another inside that window, new layers alongside the whole window.
 */
export interface MaskState {
  /** Old hidden width: dims ≥ from are new. */
  hidden?: { from: number; value: number };
  /** Old FFN width: units ≥ from are new. */
  ffn?: { from: number; value: number };
  /** Old head count: heads ≥ from are new. */
  heads?: { from: number; value: number };
  /** Indices (in the grown model) of the new layers. */
  layers?: { indices: number[]; value: number };
  /** Old vocabulary size: tokens ≥ from are new (padding growth; an additive log-mask on their logits). */
  vocab?: { from: number; value: number };
  ramp: { start: number; steps: number; stagger: boolean };
}

export interface GrowthState {
  /** The growth whose masks are still in the graph; absent for a plain model. */
  masks?: MaskState;
  /** Record of the growth steps applied so far. */
  history: unknown[];
}

export interface ModelConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  maxSeqLen: number;
  rmsEps: number;
  ropeTheta: number;
  /** RoPE frequency scaling (HF `rope_scaling`); absent: plain θ^(−2i/hd) frequencies. */
  ropeScaling?: RopeScaling;
  /** HF `tie_word_embeddings`: the head is the embedding matrix (one tensor, no `lm_head.weight`). */
  tieWordEmbeddings: boolean;
  inputMult: number;
  outputMult: number;
  mupScaleFactor: number;
  initStd: number;
  growth: GrowthState;
  /** The tokenizer the model was trained with (recorded by `train`, checked against datasets). */
  tokenizer?: Record<string, unknown>;
}

/**
 * Llama 3's RoPE frequency scaling (HF `rope_scaling` with `rope_type: "llama3"`, docs/decoder.md#rotary-position-embeddings):
 * low frequencies divided by `factor`, high ones kept, the band between interpolated.
 */
export interface RopeScaling {
  type: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

/** A configuration that is not valid; the message names the problem. */
export class ConfigError extends GrowlmError {}

type Json = Record<string, unknown>;

function posInt(j: Json, key: string, fallback?: number): number {
  const v = j[key] ?? fallback;
  if (v === undefined) throw new ConfigError(`config: missing "${key}"`);
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new ConfigError(`config: "${key}" must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

function posNum(j: Json, key: string, fallback: number): number {
  const v = j[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new ConfigError(`config: "${key}" must be a positive number, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** HF `rope_scaling`: null, absent or rope_type "default" → none; "llama3" → its four fields; any other type → error. */
function parseRopeScaling(raw: unknown): RopeScaling | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError('config: "rope_scaling" must be an object or null');
  const r = raw as Json;
  const type = r.rope_type ?? r.type;
  if (type === 'default') return undefined;
  if (type !== 'llama3') throw new ConfigError(`config: rope_scaling type ${JSON.stringify(type)} is not supported (supported: "llama3")`);
  const num = (k: string): number => {
    const v = r[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ConfigError(`config: rope_scaling.${k} must be a positive number, got ${JSON.stringify(v)}`);
    return v;
  };
  const s: RopeScaling = {
    type: 'llama3', factor: num('factor'), lowFreqFactor: num('low_freq_factor'), highFreqFactor: num('high_freq_factor'),
    originalMaxPositionEmbeddings: num('original_max_position_embeddings'),
  };
  if (s.factor < 1) throw new ConfigError(`config: rope_scaling.factor must be ≥ 1, got ${s.factor}`);
  if (!(s.highFreqFactor > s.lowFreqFactor)) throw new ConfigError(`config: rope_scaling.high_freq_factor ${s.highFreqFactor} must exceed low_freq_factor ${s.lowFreqFactor}`);
  return s;
}

/** The HF `rope_scaling` object of a scaling. */
export function ropeScalingToJson(s: RopeScaling): Json {
  return {
    rope_type: s.type, factor: s.factor, low_freq_factor: s.lowFreqFactor, high_freq_factor: s.highFreqFactor,
    original_max_position_embeddings: s.originalMaxPositionEmbeddings,
  };
}

function parseMasks(raw: unknown): MaskState | undefined {
  if (raw === undefined || raw === null || (typeof raw === 'object' && Object.keys(raw).length === 0)) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError('config: growlm.masks must be an object');
  const m = raw as Json;
  const value = (k: string, v: unknown): number => {
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new ConfigError(`config: growlm.masks.${k}.value must be in [0, 1]`);
    return v;
  };
  const out: MaskState = { ramp: { start: 0, steps: 1, stagger: false } };
  for (const k of ['hidden', 'ffn', 'heads', 'vocab'] as const) {
    const e = m[k] as Json | undefined;
    if (e === undefined) continue;
    if (typeof e !== 'object' || e === null || !Number.isInteger(e.from) || (e.from as number) <= 0) throw new ConfigError(`config: growlm.masks.${k}.from must be a positive integer`);
    out[k] = { from: e.from as number, value: value(k, e.value) };
  }
  if (m.layers !== undefined) {
    const e = m.layers as Json | null;
    if (typeof e !== 'object' || e === null || !Array.isArray(e.indices) || !e.indices.every((i) => Number.isInteger(i) && i >= 0)) throw new ConfigError('config: growlm.masks.layers.indices must be layer indices');
    out.layers = { indices: e.indices as number[], value: value('layers', e.value) };
  }
  const r = m.ramp as Json | undefined;
  if (!r || !Number.isInteger(r.start) || !Number.isInteger(r.steps) || (r.steps as number) < 1) throw new ConfigError('config: growlm.masks.ramp needs integer start and steps ≥ 1');
  out.ramp = { start: r.start as number, steps: r.steps as number, stagger: r.stagger === true };
  return out;
}

/** Validate a parsed config.json (HF Llama field names) and return the growlm form. */
export function parseConfig(j: unknown): ModelConfig {
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new ConfigError('config: expected a JSON object');
  const c = j as Json;
  const hiddenSize = posInt(c, 'hidden_size');
  const numHeads = posInt(c, 'num_attention_heads');
  let headDim: number;
  if (c.head_dim === undefined || c.head_dim === null) {
    if (hiddenSize % numHeads !== 0) {
      throw new ConfigError(`config: hidden_size ${hiddenSize} is not divisible by num_attention_heads ${numHeads} (set head_dim explicitly)`);
    }
    headDim = hiddenSize / numHeads;
  } else {
    headDim = posInt(c, 'head_dim');
  }
  if (headDim % 2 !== 0) throw new ConfigError(`config: head_dim ${headDim} must be even for rotary embeddings`);
  const numKvHeads = posInt(c, 'num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw new ConfigError(`config: num_key_value_heads ${numKvHeads} does not divide num_attention_heads ${numHeads}`);
  }
  const tie = c.tie_word_embeddings ?? false;
  if (typeof tie !== 'boolean') throw new ConfigError(`config: "tie_word_embeddings" must be true or false, got ${JSON.stringify(tie)}`);
  const ropeScaling = parseRopeScaling(c.rope_scaling);
  for (const k of ['attention_bias', 'mlp_bias']) {
    if (c[k] === true) throw new ConfigError(`config: ${k} must be false (growlm models have no biases)`);
  }
  if (c.hidden_act !== undefined && c.hidden_act !== 'silu') throw new ConfigError(`config: hidden_act must be "silu", got ${JSON.stringify(c.hidden_act)}`);
  const g = (c.growlm ?? {}) as Json;
  const masks = parseMasks(g.masks);
  return {
    vocabSize: posInt(c, 'vocab_size'),
    hiddenSize,
    intermediateSize: posInt(c, 'intermediate_size'),
    numLayers: posInt(c, 'num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    maxSeqLen: posInt(c, 'max_position_embeddings'),
    rmsEps: posNum(c, 'rms_norm_eps', 1e-5),
    ropeTheta: posNum(c, 'rope_theta', 10000),
    ...(ropeScaling ? { ropeScaling } : {}),
    tieWordEmbeddings: tie,
    inputMult: posNum(c, 'input_mult', 1),
    outputMult: posNum(c, 'output_mult', 1),
    mupScaleFactor: posNum(c, 'mup_scale_factor', 1),
    initStd: posNum(c, 'initializer_range', 0.02),
    growth: { ...(masks ? { masks } : {}), history: Array.isArray(g.history) ? g.history : [] },
    ...(typeof g.tokenizer === 'object' && g.tokenizer !== null ? { tokenizer: g.tokenizer as Record<string, unknown> } : {}),
  };
}

/** The HF Llama config.json for a config (multipliers kept as Tele-FLM's extra fields). */
export function configToJson(c: ModelConfig, extra: Json = {}): Json {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    head_dim: c.headDim,
    max_position_embeddings: c.maxSeqLen,
    rms_norm_eps: c.rmsEps,
    rope_theta: c.ropeTheta,
    ...(c.ropeScaling ? { rope_scaling: ropeScalingToJson(c.ropeScaling) } : {}),
    hidden_act: 'silu',
    attention_bias: false,
    mlp_bias: false,
    tie_word_embeddings: c.tieWordEmbeddings,
    initializer_range: c.initStd,
    torch_dtype: 'float32',
    input_mult: c.inputMult,
    output_mult: c.outputMult,
    mup_scale_factor: c.mupScaleFactor,
    growlm: {
      ...(c.growth.masks ? { masks: c.growth.masks } : {}), history: c.growth.history, ...(c.tokenizer ? { tokenizer: c.tokenizer } : {}), ...((extra.growlm as Json) ?? {}),
    },
    ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== 'growlm')),
  };
}

/** Parameter count (docs/decoder.md#parameter-count): L·(2·d·H·hd + 2·d·kv·hd + 3·d·f + 2·d) + 2·V·d + d (V·d once when tied). */
export function parameterCount(c: ModelConfig): number {
  const { hiddenSize: d, numHeads: H, numKvHeads: kv, headDim: hd, intermediateSize: f, vocabSize: V, numLayers: L } = c;
  return L * (2 * d * H * hd + 2 * d * kv * hd + 3 * d * f + 2 * d) + (c.tieWordEmbeddings ? 1 : 2) * V * d + d;
}
