/**
 * The growlm decoder as an inference graph with a key/value cache, in the layout Hugging Face
 * Optimum and transformers.js use for decoder-only Llama models. One graph serves prefill (past
 * length 0) and decoding (seq 1):
 *
 *   inputs   input_ids [batch, seq] int64, attention_mask [batch, past+seq] int64 (1 = a real token,
 *            0 = padding: those keys are masked), position_ids [batch, seq] int64,
 *            past_key_values.{i}.key|value [batch, kv_heads, past, head_dim]
 *   outputs  logits [batch, seq, vocab], present.{i}.key|value [batch, kv_heads, past+seq, head_dim]
 *
 * Query j of the new tokens sits at cache position past + j and sees the keys at positions ≤ past + j
 * whose attention_mask is 1 (left-padded batches). It computes what the full-window decoder
 * (decoder.ts) computes, to float32 rounding: the same weights as graph inputs, μP multipliers
 * applied in the same places (the embedding scale and the head's Gemm alpha), MSG masks as the same
 * inputs while a growth ramps (`growlm export` bakes weights and masks in as initializers). The fused
 * variant runs the attention and the residual adds in onnxruntime's own kernels (docs/onnxruntime.md#the-kv-cache).
 */
import { GraphBuilder, float } from '../src/onnx/builder.js';
import { MS_DOMAIN } from '../src/onnx/ir.js';
import type { Model } from '../src/onnx/ir.js';
import type { ModelConfig } from '../src/model/config.js';
import { EMBED, FINAL_NORM, headWeightName, layerParamNames, paramSpecs } from '../src/model/params.js';
import { type Rope, applyRope, fusedLinear, groupedAttend, groupedPositions, linear, msgMasks, ropeTables, swiglu } from './layers.js';
import { decoderModel } from './decoder.js';

export interface InferenceOptions {
  /**
   * onnxruntime's fused kernels (default: RotaryEmbedding with position_ids, SimplifiedLayerNormalization
   * and SkipSimplifiedLayerNormalization (the residual add with the norm after it, unless a hidden mask
   * ramps), QuickGelu, and MultiHeadAttention with its key padding mask and causal flag, which joins
   * the cache itself — or FusedMatMul products for grouped kv heads, which it does not take); false:
   * standard opset-17 ops only, for other runtimes.
   */
  fusedKernels?: boolean;
  /**
   * Also output each layer's keys and values of the new tokens alone, `new.{i}.key|value`
   * [batch, seq, kv_heads · head_dim] (token-major: for one new token, the same memory as the
   * cache's [batch, kv_heads, 1, head_dim]), so that a caller that keeps its own cache can fetch
   * them at a decode step instead of the whole `present.*` (src/runtime/batch-cache.ts). Default false.
   */
  newCacheOutputs?: boolean;
  /**
   * `all` (default): logits [batch, seq, vocab] at every position, as Optimum exports them; `last`:
   * only each row's last position, [batch, 1, vocab] (rows are left-padded, so that is position
   * seq − 1): a prefill then skips the head's GEMM and the logits' copy at all other positions.
   */
  logits?: 'all' | 'last';
}

/** The cache's graph input and output names of layer i (Optimum / transformers.js names). */
export function cacheNames(i: number): { pastKey: string; pastValue: string; presentKey: string; presentValue: string } {
  return { pastKey: `past_key_values.${i}.key`, pastValue: `past_key_values.${i}.value`, presentKey: `present.${i}.key`, presentValue: `present.${i}.value` };
}

/** Masked scores: float32's lowest rather than -inf, so that a row with no visible key (a padding query) stays finite. */
const MASKED = -3.4028234663852886e38;

export function buildCachedDecoder(c: ModelConfig, opts: InferenceOptions = {}): Model {
  const fused = opts.fusedKernels ?? true;
  const b = new GraphBuilder('growlm_cached_decoder');
  const ids = b.input('input_ids', 'int64', ['batch', 'seq']);
  const attentionMask = b.input('attention_mask', 'int64', ['batch', 'past+seq']);
  const positions = b.input('position_ids', 'int64', ['batch', 'seq']);
  const cacheShape = (len: string) => ['batch', c.numKvHeads, len, c.headDim];
  const newShape = ['batch', 'seq', c.numKvHeads * c.headDim];
  for (let i = 0; i < c.numLayers; i++) {
    const n = cacheNames(i);
    b.input(n.pastKey, 'float32', cacheShape('past'));
    b.input(n.pastValue, 'float32', cacheShape('past'));
  }
  for (const p of paramSpecs(c)) b.input(p.name, 'float32', p.shape);
  const mk = msgMasks(b, c, fused);

  // shapes
  const idsShape = b.op('Shape', [ids]); // [B, S]
  const seq = b.op('Gather', [idsShape, b.int64(1)]); // S
  const total = b.op('Gather', [b.op('Shape', [attentionMask]), b.int64(1)]); // past + S
  const heads = b.op('Concat', [idsShape, b.int64([c.numHeads, c.headDim])], { axis: 0 });
  const groups = c.numHeads / c.numKvHeads;
  const kvHeads = groups === 1 ? heads : b.op('Concat', [idsShape, b.int64([c.numKvHeads, c.headDim])], { axis: 0 });
  const flat = b.int64([-1, c.numHeads * c.headDim]);
  const tokens = b.op('Concat', [idsShape, b.int64([-1])], { axis: 0 }); // [B, S, -1]
  const mha = fused && groups === 1; // onnxruntime's MultiHeadAttention joins the cache (it has no grouped kv heads)

  // key k is visible to query j iff k ≤ past + j and attention_mask[k] = 1: MultiHeadAttention takes
  // that as its key padding mask (int32) and causal flag; otherwise an additive mask [B, 1, S, past+S]
  // ([B, 1, g·S, past+S] for grouped queries)
  const keyPadding = mha ? b.op('Cast', [attentionMask], { to: 6 }) : '';
  let mask = '';
  if (!mha) {
    const queryPos = groupedPositions(b, b.op('Add', [b.op('Range', [b.int64(0), seq, b.int64(1)]), b.op('Sub', [total, seq])]), groups);
    const keyPos = b.op('Range', [b.int64(0), total, b.int64(1)]);
    const causal = b.op('LessOrEqual', [b.op('Unsqueeze', [keyPos, b.int64([0])]), b.op('Unsqueeze', [queryPos, b.int64([1])])]); // [S, T]
    const real = b.op('Unsqueeze', [b.op('Cast', [attentionMask], { to: 9 }), b.int64([1, 2])]); // [B, 1, 1, T] bool
    mask = b.op('Where', [b.op('And', [causal, real]), b.float32(0), b.float32(MASKED)]);
  }

  // RoPE at the given positions
  const { cos, sin } = ropeTables(c.maxSeqLen, c.headDim, c.ropeTheta, c.ropeScaling);
  const dims = [c.maxSeqLen, c.headDim / 2];
  const cosTable = b.initializer('rope.cos', { dtype: 'float32', dims, data: cos });
  const sinTable = b.initializer('rope.sin', { dtype: 'float32', dims, data: sin });
  // decomposed: tables [B, 1, S, hd] gathered at the positions (both halves of a head share the angles)
  const atPositions = (t: string) => b.op('Unsqueeze', [b.op('Gather', [b.op('Concat', [t, t], { axis: 1 }), positions]), b.int64([1])]);
  const rope: Rope = fused
    ? { fused: true, cos: cosTable, sin: sinTable, positions }
    : { fused: false, cos: atPositions(cosTable), sin: atPositions(sinTable) };

  const width = c.numHeads * c.headDim, kvWidth = c.numKvHeads * c.headDim;
  const toHeads = (x: string, shape = heads) => b.op('Transpose', [b.op('Reshape', [x, shape])], { perm: [0, 2, 1, 3] }); // [B, H, S, hd]

  let h = b.op('Gather', [EMBED, b.op('Reshape', [ids, b.int64([-1])])]); // [B·S, d]
  if (c.inputMult !== 1) h = b.op('Mul', [h, b.float32(c.inputMult)]);
  h = mk.apply(h, mk.hidden);
  // a residual branch's output is added to the stream h together with the norm that follows it:
  // one SkipSimplifiedLayerNormalization with onnxruntime's kernels (unless a hidden mask ramps)
  let pending: string | undefined;
  const addNorm = (gain: string): string => {
    if (pending !== undefined && fused && !mk.hidden) {
      const [y, , , sum] = b.node('SkipSimplifiedLayerNormalization', [pending, h, gain], { epsilon: float(c.rmsEps) }, { outputs: 4, domain: MS_DOMAIN });
      h = sum!;
      pending = undefined;
      return y!;
    }
    if (pending !== undefined) h = b.op('Add', [h, pending]);
    pending = undefined;
    return mk.norm(h, gain);
  };
  const newCache = (i: number, keys: string, values: string) => { // [B, S, kv·hd]
    if (!opts.newCacheOutputs) return;
    b.output(keys, `new.${i}.key`, 'float32', newShape);
    b.output(values, `new.${i}.value`, 'float32', newShape);
  };
  for (let i = 0; i < c.numLayers; i++) {
    const w = layerParamNames(i);
    const n = cacheNames(i);
    const branch = mk.branch(i);
    b.scope(`layer${i}`, () => {
      const qkv = fusedLinear(b, addNorm(w.inputNorm), [w.q, w.k, w.v]); // [B·S, W + 2·kvW]
      let attn: string; // [B·S, W]
      if (mha) {
        // token-major queries, keys and values [B, S, ·] for onnxruntime's MultiHeadAttention, which joins the cache
        const [q, k, v] = b.node('Split', [b.op('Reshape', [qkv, tokens]), b.int64([width, kvWidth, kvWidth])], { axis: 2 }, { outputs: 3 }) as [string, string, string];
        const keys = applyRope(b, k, rope, c.headDim);
        const [out, presentKeys, presentValues] = b.node('MultiHeadAttention', [applyRope(b, q, rope, c.headDim), keys, v, '', keyPadding, '', n.pastKey, n.pastValue],
          { num_heads: c.numHeads, unidirectional: 1 }, { outputs: 3, domain: MS_DOMAIN }) as [string, string, string];
        newCache(i, keys, v);
        b.output(presentKeys, n.presentKey, 'float32', cacheShape('past+seq'));
        b.output(presentValues, n.presentValue, 'float32', cacheShape('past+seq'));
        attn = b.op('Reshape', [out, flat]);
      } else {
        const [q, k, v] = b.node('Split', [qkv, b.int64([width, kvWidth, kvWidth])], { axis: 1 }, { outputs: 3 }) as [string, string, string];
        const newKeys = applyRope(b, toHeads(k, kvHeads), rope, c.headDim), newValues = toHeads(v, kvHeads);
        const keys = b.op('Concat', [n.pastKey, newKeys], { axis: 2 });
        const values = b.op('Concat', [n.pastValue, newValues], { axis: 2 });
        const tokenMajor = (x: string) => b.op('Reshape', [b.op('Transpose', [x], { perm: [0, 2, 1, 3] }), tokens]);
        newCache(i, tokenMajor(newKeys), tokenMajor(newValues));
        b.output(keys, n.presentKey, 'float32', cacheShape('past+seq'));
        b.output(values, n.presentValue, 'float32', cacheShape('past+seq'));
        const out = groupedAttend(b, applyRope(b, toHeads(q), rope, c.headDim), n.presentKey, () => n.presentValue, mask, c.headDim, fused, c.numHeads, c.numKvHeads);
        attn = b.op('Reshape', [b.op('Transpose', [out], { perm: [0, 2, 1, 3] }), flat]);
      }
      pending = mk.apply(mk.apply(linear(b, mk.apply(attn, mk.heads), w.o), mk.hidden), branch);
      const x = addNorm(w.postNorm);
      const act = mk.apply(swiglu(b, linear(b, x, w.gate), linear(b, x, w.up), fused), mk.ffn);
      pending = mk.apply(mk.apply(linear(b, act, w.down), mk.hidden), branch);
    });
  }
  const last = opts.logits === 'last';
  let normed = addNorm(FINAL_NORM);
  // [B·S, d] → [B, S, d] → position S − 1 of each row, [B, d]
  if (last) normed = b.op('Gather', [b.op('Reshape', [normed, tokens]), b.op('Sub', [seq, b.int64(1)])], { axis: 1 });
  let logits = linear(b, normed, headWeightName(c), c.outputMult / c.mupScaleFactor); // [B·S or B, V]
  if (mk.vocab) logits = b.op('Add', [logits, b.op('Log', [mk.vocab])]);
  const shaped = b.op('Reshape', [logits, last ? b.int64([-1, 1, c.vocabSize]) : b.op('Concat', [idsShape, b.int64([c.vocabSize])], { axis: 0 })]);
  b.output(shaped, 'logits', 'float32', ['batch', last ? 1 : 'seq', c.vocabSize]);
  b.graph.outputs.unshift(b.graph.outputs.pop()!); // logits first, as Optimum orders them
  return decoderModel(b, fused);
}
