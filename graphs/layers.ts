/**
 * The decoder's building blocks as functions that append ONNX nodes to a GraphBuilder. Hidden states
 * are kept flat as [tokens, width] so every projection is one Gemm with transB=1 against a weight
 * stored [out, in] (the HF layout), which ORT runs without transpose copies.
 */
import { type GraphBuilder, float } from '../src/onnx/builder.js';
import { MS_DOMAIN } from '../src/onnx/ir.js';

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

/** cos/sin of the rotary angles [maxSeq, headDim/2] (HF Llama frequencies, computed in float64). */
export function ropeTables(maxSeq: number, headDim: number, theta: number): { cos: Float32Array; sin: Float32Array } {
  const half = headDim / 2;
  const cos = new Float32Array(maxSeq * half);
  const sin = new Float32Array(maxSeq * half);
  for (let p = 0; p < maxSeq; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p / theta ** ((2 * i) / headDim);
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
}

/** Rotate-half RoPE on x [B, H, S, hd]: x·cos + rotate_half(x)·sin, as one fused op or standard ops. */
export function applyRope(b: GraphBuilder, x: string, rope: Rope, headDim: number): string {
  if (rope.fused) return b.op('RotaryEmbedding', [x, b.int64([0]), rope.cos, rope.sin], { interleaved: 0 }, { domain: MS_DOMAIN });
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
  /** float32 [S, S]: 0 on and below the diagonal, -inf above. */
  causalMask: string;
  rope: Rope;
  /** onnxruntime's FusedMatMul for the two attention products (transposes and scale as flags). */
  fusedMatMul: boolean;
}

/**
 * Causal multi-head attention on the fused projection qkv [B·S, 3·H·hd] → [B·S, H·hd]. q, k and v
 * are split off first and each brought to [B, H, S, hd] by a swap of two axes, whose inverse in the
 * backward is the same cheap swap. Fused: both products are FusedMatMul with the transpose of k
 * and the 1/sqrt(hd) scale as flags, and their gradients are FusedMatMuls too (no transpose copies).
 */
export function causalAttention(b: GraphBuilder, qkv: string, s: AttentionShapes, headDim: number, width: number): string {
  const [q, k, v] = b.node('Split', [qkv, b.int64([width, width, width])], { axis: 1 }, { outputs: 3 }) as [string, string, string];
  const heads = (x: string) => b.op('Transpose', [b.op('Reshape', [x, s.heads])], { perm: [0, 2, 1, 3] });
  const qh = applyRope(b, heads(q), s.rope, headDim);
  const kh = applyRope(b, heads(k), s.rope, headDim);
  const scale = 1 / Math.sqrt(headDim);
  const product = s.fusedMatMul
    ? b.op('FusedMatMul', [qh, kh], { transB: 1, alpha: float(scale) }, { domain: MS_DOMAIN })
    : b.op('MatMul', [b.op('Mul', [qh, b.float32(scale)]), b.op('Transpose', [kh], { perm: [0, 1, 3, 2] })]);
  const probs = b.op('Softmax', [b.op('Add', [product, s.causalMask])], { axis: -1 });
  const vh = heads(v);
  const out = s.fusedMatMul ? b.op('FusedMatMul', [probs, vh], {}, { domain: MS_DOMAIN }) : b.op('MatMul', [probs, vh]);
  return b.op('Reshape', [b.op('Transpose', [out], { perm: [0, 2, 1, 3] }), s.flat]);
}
