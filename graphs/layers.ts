/**
 * The decoder's building blocks as functions that append ONNX nodes to a GraphBuilder. Hidden states
 * are kept flat as [tokens, width] so every projection is one Gemm with transB=1 against a weight
 * stored [out, in] (the HF layout), which ORT runs without transpose copies.
 */
import { type GraphBuilder, float } from '../src/onnx/builder.js';
import { MS_DOMAIN } from '../src/onnx/ir.js';
import type { ModelConfig, RopeScaling } from '../src/model/config.js';
import { MASK_INPUTS } from '../src/model/masks.js';

/** y = x · Wᵀ (· alpha), W stored [out, in]. */
export function linear(b: GraphBuilder, x: string, w: string, alpha = 1): string {
  return b.op('Gemm', [x, w], alpha === 1 ? { transB: 1 } : { transB: 1, alpha: float(alpha) });
}

/**
 * Several projections of the same input as one Gemm against the concatenated weights (a copy of the
 * weights, small next to activations): one [N, Σout] GEMM runs faster than several thin ones, and
 * its backward is one GEMM per operand too. The caller splits the output.
 */
export function fusedLinear(b: GraphBuilder, x: string, ws: string[]): string {
  return linear(b, x, b.op('Concat', ws, { axis: 0 }));
}

/**
 * RMSNorm over the last axis: g ⊙ x / sqrt(mean(x²) + eps). Fused: onnxruntime's
 * SimplifiedLayerNormalization, whose second output 1/sqrt(mean(x²) + eps) its gradient reuses.
 */
export function rmsNorm(b: GraphBuilder, x: string, gain: string, eps: number, width: number, fused: boolean): string {
  if (fused) return b.node('SimplifiedLayerNormalization', [x, gain], { axis: -1, epsilon: float(eps), stash_type: 1 }, { outputs: 2 })[0]!;
  // ReduceSumSquare rather than Mul(x, x) + ReduceMean: one [tokens, width] product fewer forward,
  // and its gradient is one broadcast product instead of two products and a sum
  const ms = b.op('Mul', [b.op('ReduceSumSquare', [x], { axes: [-1], keepdims: 1 }), b.float32(1 / width)]);
  const inv = b.op('Reciprocal', [b.op('Sqrt', [b.op('Add', [ms, b.float32(eps)])])]);
  return b.op('Mul', [b.op('Mul', [x, inv]), gain]);
}

/**
 * MSG masked RMSNorm (docs/growth.md#msg-masked-structural-growth): statistics over the live dims only, output masked.
 * y = m ⊙ g ⊙ x / sqrt(Σ m·x² / Σ m + eps); identical to rmsNorm when m = 1.
 */
export function maskedRmsNorm(b: GraphBuilder, x: string, gain: string, eps: number, mask: string, maskSum: string): string {
  const weighted = b.op('ReduceSum', [b.op('Mul', [b.op('Mul', [x, x]), mask]), b.int64([-1])], { keepdims: 1 });
  const inv = b.op('Reciprocal', [b.op('Sqrt', [b.op('Add', [b.op('Div', [weighted, maskSum]), b.float32(eps)])])]);
  return b.op('Mul', [b.op('Mul', [b.op('Mul', [x, inv]), gain]), mask]);
}

/** silu(gate) ⊙ up. Fused: SiLU as onnxruntime's QuickGelu x·σ(αx) with α = 1. */
export function swiglu(b: GraphBuilder, gate: string, up: string, fused: boolean): string {
  if (fused) return b.op('Mul', [b.op('QuickGelu', [gate], { alpha: float(1) }, { domain: MS_DOMAIN }), up]);
  return b.op('Mul', [b.op('Mul', [gate, b.op('Sigmoid', [gate])]), up]);
}

/**
 * RoPE inverse frequencies ω_i = θ^(−2i/hd), i < hd/2, with Llama 3's scaling when the config has one
 * (transformers' `_compute_llama3_parameters`, in float64): wavelengths 2π/ω shorter than
 * original_max_position_embeddings / high_freq_factor are kept, longer than … / low_freq_factor are
 * divided by factor, and the band between is interpolated with s = (original / wavelength − low) / (high − low):
 * ω ← (1 − s)·ω/factor + s·ω.
 */
export function ropeInverseFrequencies(headDim: number, theta: number, scaling?: RopeScaling): Float64Array {
  const inv = new Float64Array(headDim / 2);
  for (let i = 0; i < inv.length; i++) inv[i] = 1 / theta ** ((2 * i) / headDim);
  if (!scaling) return inv;
  const { factor, lowFreqFactor: low, highFreqFactor: high, originalMaxPositionEmbeddings: original } = scaling;
  const lowWavelength = original / low, highWavelength = original / high;
  for (let i = 0; i < inv.length; i++) {
    const wavelength = (2 * Math.PI) / inv[i]!;
    if (wavelength < highWavelength) continue;
    if (wavelength > lowWavelength) { inv[i] = inv[i]! / factor; continue; }
    const smooth = (original / wavelength - low) / (high - low);
    inv[i] = ((1 - smooth) * inv[i]!) / factor + smooth * inv[i]!;
  }
  return inv;
}

/** cos/sin of the rotary angles [maxSeq, headDim/2] (HF Llama frequencies, computed in float64). */
export function ropeTables(maxSeq: number, headDim: number, theta: number, scaling?: RopeScaling): { cos: Float32Array; sin: Float32Array } {
  const half = headDim / 2;
  const cos = new Float32Array(maxSeq * half);
  const sin = new Float32Array(maxSeq * half);
  const inv = scaling ? ropeInverseFrequencies(headDim, theta, scaling) : undefined;
  for (let p = 0; p < maxSeq; p++) {
    for (let i = 0; i < half; i++) {
      const angle = inv ? p * inv[i]! : p / theta ** ((2 * i) / headDim);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin };
}

/**
 * RoPE inputs: fused — tables [maxSeq, hd/2] for onnxruntime's RotaryEmbedding (positions from 0);
 * decomposed — tables [S, hd] for standard ops.
 */
export interface Rope {
  fused: boolean;
  cos: string;
  sin: string;
  /** Fused only: int64 position ids [B, S] (default: positions 0, 1, … for every row). */
  positions?: string;
}

/** Rotate-half RoPE on x [B, H, S, hd]: x·cos + rotate_half(x)·sin, as one fused op or standard ops. */
export function applyRope(b: GraphBuilder, x: string, rope: Rope, headDim: number): string {
  if (rope.fused) return b.op('RotaryEmbedding', [x, rope.positions ?? b.int64([0]), rope.cos, rope.sin], { interleaved: 0 }, { domain: MS_DOMAIN });
  const half = headDim / 2;
  const [x1, x2] = b.node('Split', [x, b.int64([half, half])], { axis: 3 }, { outputs: 2 }) as [string, string];
  const rotated = b.op('Concat', [b.op('Neg', [x2]), x1], { axis: 3 });
  return b.op('Add', [b.op('Mul', [x, rope.cos]), b.op('Mul', [rotated, rope.sin])]);
}

export interface AttentionShapes {
  /** int64 [4]: B, S, H, hd — to split a projection into heads. */
  heads: string;
  /** int64 [2]: B·S, H·hd — to merge heads back. */
  flat: string;
  /** float32 [S, S] (grouped-query attention: [g·S, S], see groupedPositions): 0 on and below the diagonal, -inf above. */
  causalMask: string;
  rope: Rope;
  /** onnxruntime's FusedMatMul for the two attention products (transposes and scale as flags). */
  fusedMatMul: boolean;
  /** Grouped-query attention (kv < H): int64 [4] B, S, kv, hd to split k and v into their heads, and the counts. */
  kv?: { heads: string; numHeads: number; numKvHeads: number };
}

/**
 * Causal multi-head attention on the fused projection qkv [B·S, (H + 2·kv)·hd] → [B·S, H·hd]. q, k and v
 * are split off first and each brought to [B, heads, S, hd] by a swap of two axes, whose inverse in the
 * backward is the same cheap swap. Fused: both products are FusedMatMul with the transpose of k
 * and the 1/sqrt(hd) scale as flags, and their gradients are FusedMatMuls too (no transpose copies).
 */
export function causalAttention(b: GraphBuilder, qkv: string, s: AttentionShapes, headDim: number, width: number): string {
  const kvWidth = s.kv ? s.kv.numKvHeads * headDim : width;
  const [q, k, v] = b.node('Split', [qkv, b.int64([width, kvWidth, kvWidth])], { axis: 1 }, { outputs: 3 }) as [string, string, string];
  const heads = (x: string, shape = s.heads) => b.op('Transpose', [b.op('Reshape', [x, shape])], { perm: [0, 2, 1, 3] });
  const qh = applyRope(b, heads(q), s.rope, headDim);
  const kh = applyRope(b, heads(k, s.kv?.heads), s.rope, headDim);
  const out = s.kv
    ? groupedAttend(b, qh, kh, () => heads(v, s.kv!.heads), s.causalMask, headDim, s.fusedMatMul, s.kv.numHeads, s.kv.numKvHeads)
    : attend(b, qh, kh, () => heads(v), s.causalMask, headDim, s.fusedMatMul);
  return b.op('Reshape', [b.op('Transpose', [out], { perm: [0, 2, 1, 3] }), s.flat]);
}

/**
 * softmax(q·kᵀ/sqrt(hd) + mask)·v for q [B, H, S, hd], k and v [B, H, T, hd], mask broadcasting to
 * [B, H, S, T] (0 where a query may see a key, very negative where not). `v` is made only after the
 * scores (the node order the training graphs were measured with). Fused: both products are
 * FusedMatMul with the transpose of k and the scale as flags.
 */
export function attend(b: GraphBuilder, qh: string, kh: string, v: () => string, mask: string, headDim: number, fused: boolean): string {
  const scale = 1 / Math.sqrt(headDim);
  const product = fused
    ? b.op('FusedMatMul', [qh, kh], { transB: 1, alpha: float(scale) }, { domain: MS_DOMAIN })
    : b.op('MatMul', [b.op('Mul', [qh, b.float32(scale)]), b.op('Transpose', [kh], { perm: [0, 1, 3, 2] })]);
  const probs = b.op('Softmax', [b.op('Add', [product, mask])], { axis: -1 });
  const vh = v();
  return fused ? b.op('FusedMatMul', [probs, vh], {}, { domain: MS_DOMAIN }) : b.op('MatMul', [probs, vh]);
}

/**
 * Grouped-query attention (docs/decoder.md#grouped-query-attention) for q [B, H, S, hd] and k, v
 * [B, kv, T, hd]: query head h reads kv head ⌊h / g⌋, g = H / kv (Hugging Face's repeat_kv order).
 * The g query heads of a group are adjacent, so q is viewed as [B, kv, g·S, hd] (a reshape, no copy)
 * and attends to its group's keys and values as they are: no key or value is repeated, and the
 * gradients need no new rule. The mask's rows are the grouped query rows ([g·S, T]: groupedPositions).
 */
export function groupedAttend(b: GraphBuilder, qh: string, kh: string, v: () => string, mask: string, headDim: number, fused: boolean, numHeads: number, numKvHeads: number): string {
  if (numHeads === numKvHeads) return attend(b, qh, kh, v, mask, headDim, fused);
  const grouped = b.op('Reshape', [qh, b.int64([0, numKvHeads, -1, headDim])]);
  return b.op('Reshape', [attend(b, grouped, kh, v, mask, headDim, fused), b.int64([0, numHeads, -1, headDim])]);
}

/** Query positions [S] as the rows of grouped queries [g·S] (each position once per head of a group); as they are when g = 1. */
export function groupedPositions(b: GraphBuilder, positions: string, groups: number): string {
  if (groups === 1) return positions;
  return b.op('Reshape', [b.op('Expand', [b.op('Unsqueeze', [positions, b.int64([0])]), b.int64([groups, 1])]), b.int64([-1])]);
}

/**
 * The MSG masks of a growth that is still ramping (docs/growth.md#msg-masked-structural-growth), as
 * graph inputs (1 on old structure), and the ops that apply them; for a plain model every mask is
 * absent and `norm` / `apply` are the plain ops.
 */
export interface MsgMasks {
  hidden?: string;
  ffn?: string;
  heads?: string;
  vocab?: string;
  /** RMSNorm: masked statistics over the live hidden dims while the hidden mask ramps. */
  norm(x: string, gain: string): string;
  /** x ⊙ mask, or x when the mask is absent. */
  apply(x: string, mask: string | undefined): string;
  /** The scale of layer i's residual branches: its mask value when the layer is new, else none. */
  branch(i: number): string | undefined;
}

export function msgMasks(b: GraphBuilder, c: ModelConfig, fused: boolean): MsgMasks {
  const m = c.growth.masks;
  const hidden = m?.hidden ? b.input(MASK_INPUTS.hidden, 'float32', [c.hiddenSize]) : undefined;
  const hiddenCount = hidden ? b.op('ReduceSum', [hidden], { keepdims: 0 }) : undefined;
  const ffn = m?.ffn ? b.input(MASK_INPUTS.ffn, 'float32', [c.intermediateSize]) : undefined;
  const heads = m?.heads ? b.input(MASK_INPUTS.heads, 'float32', [c.numHeads * c.headDim]) : undefined;
  const layers = m?.layers ? b.input(MASK_INPUTS.layers, 'float32', [c.numLayers]) : undefined;
  const vocab = m?.vocab ? b.input(MASK_INPUTS.vocab, 'float32', [c.vocabSize]) : undefined;
  return {
    hidden, ffn, heads, vocab,
    norm: (x, gain) => (hidden ? maskedRmsNorm(b, x, gain, c.rmsEps, hidden, hiddenCount!) : rmsNorm(b, x, gain, c.rmsEps, c.hiddenSize, fused)),
    apply: (x, mask) => (mask ? b.op('Mul', [x, mask]) : x),
    branch: (i) => (m?.layers?.indices.includes(i) ? b.op('Gather', [layers!, b.int64(i)]) : undefined),
  };
}
