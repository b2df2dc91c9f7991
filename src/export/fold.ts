/**
 * A growlm model as a plain Llama (docs/export.md#folding): the same function with no μP multipliers
 * and no MSG masks, so that any Llama implementation (transformers, llama.cpp, a distributed trainer)
 * computes it.
 *
 * Every change is a per-element scale of a weight, W'[r, c] = rows[r] · cols[c] · W[r, c]:
 *
 * - μP: `embed_tokens × input_mult`, `lm_head × output_mult / mup_scale_factor`.
 * - FFN and head masks scale the columns of `down_proj` and `o_proj` (they multiply those
 *   projections' inputs); a new layer's mask scales the rows of both (its residual branches).
 * - A ramping hidden mask m (M = Σ m over the d dims) cannot stay a mask: the masked RMSNorm
 *   divides by the mean over live dims. Scaling residual dim i by √m_i makes the plain mean of
 *   squares (Σ m·h²)/d = (M/d) × the masked one, so with eps' = eps·M/d and gains × √m_i·√(M/d) the
 *   plain RMSNorm outputs exactly the masked one: writes into the residual stream (the embedding,
 *   o_proj and down_proj rows) get m_i·√m_i, norm gains √m_i·√(M/d), and rms_norm_eps becomes eps·M/d.
 * - A vocabulary mask below 1 adds log m to the new tokens' logits, which a Llama without an
 *   output bias cannot express: such a model is refused until the mask has reached 1.
 *
 * A tied model stays tied only when its embedding and head get the same scale; otherwise the head is
 * written as its own tensor.
 */
import type { ModelConfig } from '../model/config.js';
import { EMBED, FINAL_NORM, LM_HEAD, layerParamNames, paramSpecs } from '../model/params.js';
import type { Weights } from '../model/weights.js';
import type { Tensor } from '../onnx/ir.js';
import { GrowlmError } from '../util/errors.js';

/** A model that has no plain-Llama equivalent. */
export class FoldError extends GrowlmError {}

/** W' = rows[r] · cols[c] · W (a missing side is 1; a number is the same for every row or column). */
export interface Scale {
  rows?: Float64Array | number;
  cols?: Float64Array | number;
}

/** The scale of each tensor of the plain model (by its name there), its source tensor, and the plain config. */
export interface FoldPlan {
  config: ModelConfig;
  /** plain tensor name → [source tensor name, scale] (lm_head of an untied fold reads the embedding). */
  tensors: Map<string, { source: string; scale: Scale }>;
}

function at(s: Float64Array | number | undefined, i: number): number {
  return s === undefined ? 1 : typeof s === 'number' ? s : s[i]!;
}

function vectorOf(n: number, from: number, value: number): Float64Array {
  const v = new Float64Array(n).fill(1);
  v.fill(value, from);
  return v;
}

function times(a: Float64Array | number | undefined, b: Float64Array | number | undefined): Float64Array | number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  if (typeof a === 'number' && typeof b === 'number') return a * b;
  const n = typeof a === 'number' ? (b as Float64Array).length : a.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = at(a, i) * at(b, i);
  return out;
}

/** How each tensor of `config`'s model becomes a tensor of the plain Llama (see the file comment). */
export function foldPlan(config: ModelConfig): FoldPlan {
  const c = config;
  const m = c.growth.masks;
  if (m?.vocab && m.vocab.value < 1) {
    throw new FoldError(`the vocabulary mask is at ${m.vocab.value} (< 1): a plain Llama cannot add log m to the new tokens' logits; train until the masks have reached 1`);
  }
  const d = c.hiddenSize;
  // hidden mask: residual writes × m·√m, gains × √m·√(M/d), eps × M/d
  let write: Float64Array | undefined, gain: Float64Array | undefined, epsScale = 1;
  if (m?.hidden && m.hidden.value < 1) {
    const mask = vectorOf(d, m.hidden.from, m.hidden.value);
    const M = mask.reduce((a, b) => a + b, 0);
    write = mask.map((x) => x * Math.sqrt(x));
    gain = mask.map((x) => Math.sqrt(x) * Math.sqrt(M / d));
    epsScale = M / d;
  }
  const ffn = m?.ffn && m.ffn.value < 1 ? vectorOf(c.intermediateSize, m.ffn.from, m.ffn.value) : undefined;
  const heads = m?.heads && m.heads.value < 1 ? vectorOf(c.numHeads * c.headDim, m.heads.from * c.headDim, m.heads.value) : undefined;
  const newLayers = new Set(m?.layers && m.layers.value < 1 ? m.layers.indices : []);
  const layerValue = m?.layers?.value ?? 1;

  const tensors = new Map<string, { source: string; scale: Scale }>();
  const embedScale: Scale = { cols: times(write, c.inputMult === 1 ? undefined : c.inputMult) };
  const headScale: Scale = { rows: c.outputMult / c.mupScaleFactor === 1 ? undefined : c.outputMult / c.mupScaleFactor };
  tensors.set(EMBED, { source: EMBED, scale: embedScale });
  for (let i = 0; i < c.numLayers; i++) {
    const n = layerParamNames(i);
    const branch = newLayers.has(i) ? layerValue : undefined;
    const rows = times(write, branch);
    for (const name of [n.q, n.k, n.v, n.gate, n.up]) tensors.set(name, { source: name, scale: {} });
    tensors.set(n.inputNorm, { source: n.inputNorm, scale: { rows: gain } });
    tensors.set(n.postNorm, { source: n.postNorm, scale: { rows: gain } });
    tensors.set(n.o, { source: n.o, scale: { rows, cols: heads } });
    tensors.set(n.down, { source: n.down, scale: { rows, cols: ffn } });
  }
  tensors.set(FINAL_NORM, { source: FINAL_NORM, scale: { rows: gain } });
  const tiedIn = c.tieWordEmbeddings;
  const uniform = (v: Float64Array | number | undefined) => (v === undefined ? 1 : typeof v === 'number' ? v : undefined);
  const tied = tiedIn && uniform(embedScale.cols) !== undefined && uniform(embedScale.cols) === uniform(headScale.rows);
  if (!tied) tensors.set(LM_HEAD, { source: tiedIn ? EMBED : LM_HEAD, scale: headScale });

  const { masks: _, ...growth } = c.growth;
  const plain: ModelConfig = { ...c, inputMult: 1, outputMult: 1, mupScaleFactor: 1, rmsEps: c.rmsEps * epsScale, tieWordEmbeddings: tied, growth };
  return { config: plain, tensors };
}

/** W' = rows[r] · cols[c] · W for a [rows, cols] (or [rows]) tensor, computed in float64, stored float32. */
export function applyScale(data: Float32Array, dims: readonly number[], s: Scale): Float32Array {
  if (s.rows === undefined && s.cols === undefined) return data;
  const cols = dims.length === 2 ? dims[1]! : 1;
  const out = new Float32Array(data.length);
  for (let r = 0; r < data.length / cols; r++) {
    const rs = at(s.rows, r);
    for (let k = 0; k < cols; k++) out[r * cols + k] = rs * at(s.cols, k) * data[r * cols + k]!;
  }
  return out;
}

/**
 * The plain Llama of a growlm model (docs/export.md#folding): μP multipliers folded into the
 * weights (they become 1), MSG masks baked at their current values, tied embeddings kept tied only
 * when both uses get the same scale. The result computes the same logits.
 */
export function plainLlama(config: ModelConfig, weights: Weights): { config: ModelConfig; weights: Weights } {
  const plan = foldPlan(config);
  const out: Weights = new Map();
  for (const p of paramSpecs(plan.config)) {
    const entry = plan.tensors.get(p.name);
    if (!entry) continue; // a tied head
    const src = weights.get(entry.source);
    if (!src) throw new FoldError(`missing tensor ${entry.source}`);
    out.set(p.name, { dtype: 'float32', dims: [...src.dims], data: applyScale(src.data as Float32Array, src.dims, entry.scale) } satisfies Tensor);
  }
  return { config: plan.config, weights: out };
}
