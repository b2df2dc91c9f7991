/**
 * Export a model directory as a llama.cpp GGUF file (docs/gguf.md): the `llama` architecture, f32 or
 * f16 weights, the tokenizer as metadata. The model is first made a plain Llama (`plainLlama`: μP
 * multipliers folded, MSG masks baked), then q_proj and k_proj rows are permuted from Hugging Face's
 * rotate-half RoPE layout to llama.cpp's interleaved pairs.
 */
import { mkdirSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { ropeInverseFrequencies } from '../../graphs/layers.js';
import type { ModelConfig, RopeScaling } from '../model/config.js';
import { loadModelDir } from '../model/model-dir.js';
import { EMBED, FINAL_NORM, LM_HEAD, layerParamNames } from '../model/params.js';
import type { Weights } from '../model/weights.js';
import { modelTokenizer } from '../generate/generate.js';
import { writeFileAtomic } from '../util/atomic.js';
import { InvalidSettingError } from '../util/errors.js';
import { checkOutputFile } from './export-model.js';
import { plainLlama } from './fold.js';
import { GGUF_ALIGNMENT, type GgmlType, type GgufTensor, type GgufValue, gguf, ggufChunks } from './gguf-file.js';
import { byteLevelBpe, tokenizerMetadata } from './gguf-tokenizer.js';
import { modelDirTemplate } from '../data/chat-template.js';

export type GgufDtype = 'f32' | 'f16';
export const GGUF_DTYPES: readonly GgufDtype[] = ['f32', 'f16'];

export interface GgufExportOptions {
  /** Weight type of the matrices (norms and RoPE factors stay f32, as llama.cpp needs). */
  dtype: GgufDtype;
  /** Overwrite an existing file. */
  force: boolean;
  /** Tokenizer (`byte`, `gpt2` or a tokenizer.json path) for a model that records none. */
  tokenizer?: string;
}

export const DEFAULT_GGUF_EXPORT: GgufExportOptions = { dtype: 'f32', force: false };

export interface GgufExportResult {
  out: string;
  bytes: number;
  dtype: GgufDtype;
  tensors: number;
  /** llama.cpp's name of the pre-tokenizer written. */
  pre_tokenizer: string;
}

/** `general.file_type` (llama.cpp's `enum llama_ftype`): all f32, or mostly f16. */
const FILE_TYPE: Record<GgufDtype, number> = { f32: 0, f16: 1 };

/**
 * Rows of a q_proj or k_proj weight ([heads·hd, d]) reordered for llama.cpp's RoPE, which rotates
 * adjacent pairs (2j, 2j+1) where Hugging Face rotates halves (j, j + hd/2): per head, GGUF row
 * 2j + s is HF row s·hd/2 + j.
 */
export function permuteRope(data: Float32Array, heads: number, headDim: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < half; j++) {
      for (let s = 0; s < 2; s++) {
        const from = (h * headDim + s * half + j) * cols;
        out.set(data.subarray(from, from + cols), (h * headDim + 2 * j + s) * cols);
      }
    }
  }
  return out;
}

/**
 * RoPE scaling as llama.cpp takes it: a `rope_freqs` tensor of hd/2 factors that divide the plain
 * frequencies θ^(−2i/hd) — for Llama 3's scaling 1 on high frequencies, `factor` on low ones, the
 * band between interpolated — so factor_i = plain ω_i / scaled ω_i of the decoder's own frequencies.
 */
export function ropeFreqFactors(scaling: RopeScaling, theta: number, headDim: number): Float32Array {
  const plain = ropeInverseFrequencies(headDim, theta);
  const scaled = ropeInverseFrequencies(headDim, theta, scaling);
  return Float32Array.from(plain, (w, i) => w / scaled[i]!);
}

/** The `general.*` and `llama.*` metadata of a plain config. */
export function llamaMetadata(c: ModelConfig, name: string, dtype: GgufDtype): [string, GgufValue][] {
  return [
    ['general.architecture', gguf.str('llama')],
    ['general.name', gguf.str(name)],
    ['general.alignment', gguf.u32(GGUF_ALIGNMENT)],
    ['general.file_type', gguf.u32(FILE_TYPE[dtype])],
    ['llama.vocab_size', gguf.u32(c.vocabSize)],
    ['llama.context_length', gguf.u32(c.maxSeqLen)],
    ['llama.embedding_length', gguf.u32(c.hiddenSize)],
    ['llama.block_count', gguf.u32(c.numLayers)],
    ['llama.feed_forward_length', gguf.u32(c.intermediateSize)],
    ['llama.attention.head_count', gguf.u32(c.numHeads)],
    ['llama.attention.head_count_kv', gguf.u32(c.numKvHeads)],
    ['llama.attention.key_length', gguf.u32(c.headDim)],
    ['llama.attention.value_length', gguf.u32(c.headDim)],
    ['llama.rope.dimension_count', gguf.u32(c.headDim)],
    ['llama.rope.freq_base', gguf.f32(c.ropeTheta)],
    ['llama.attention.layer_norm_rms_epsilon', gguf.f32(c.rmsEps)],
  ];
}

/**
 * The GGUF tensors of a plain Llama (no masks, multipliers 1), in llama.cpp's names; matrices in
 * `dtype`, 1-D tensors f32. A tied model has no `output.weight` (llama.cpp then uses token_embd).
 */
export function llamaTensors(c: ModelConfig, w: Weights, dtype: GgufDtype): GgufTensor[] {
  const get = (name: string) => w.get(name)!.data as Float32Array;
  const matrix = (name: string, shape: number[], data: Float32Array): GgufTensor => ({ name, shape, type: dtype as GgmlType, data });
  const vector = (name: string, data: Float32Array): GgufTensor => ({ name, shape: [data.length], type: 'f32', data });
  const d = c.hiddenSize, hd = c.headDim, f = c.intermediateSize;
  const out: GgufTensor[] = [matrix('token_embd.weight', [c.vocabSize, d], get(EMBED))];
  if (c.ropeScaling) out.push(vector('rope_freqs.weight', ropeFreqFactors(c.ropeScaling, c.ropeTheta, hd)));
  for (let i = 0; i < c.numLayers; i++) {
    const n = layerParamNames(i), b = `blk.${i}`;
    out.push(
      vector(`${b}.attn_norm.weight`, get(n.inputNorm)),
      matrix(`${b}.attn_q.weight`, [c.numHeads * hd, d], permuteRope(get(n.q), c.numHeads, hd, d)),
      matrix(`${b}.attn_k.weight`, [c.numKvHeads * hd, d], permuteRope(get(n.k), c.numKvHeads, hd, d)),
      matrix(`${b}.attn_v.weight`, [c.numKvHeads * hd, d], get(n.v)),
      matrix(`${b}.attn_output.weight`, [d, c.numHeads * hd], get(n.o)),
      vector(`${b}.ffn_norm.weight`, get(n.postNorm)),
      matrix(`${b}.ffn_gate.weight`, [f, d], get(n.gate)),
      matrix(`${b}.ffn_up.weight`, [f, d], get(n.up)),
      matrix(`${b}.ffn_down.weight`, [d, f], get(n.down)),
    );
  }
  out.push(vector('output_norm.weight', get(FINAL_NORM)));
  if (!c.tieWordEmbeddings) out.push(matrix('output.weight', [c.vocabSize, d], get(LM_HEAD)));
  return out;
}

/** Write `modelDir` as a GGUF file `out` (nothing is written when anything fails). */
export async function exportGguf(modelDir: string, out: string, options: Partial<GgufExportOptions> = {}): Promise<GgufExportResult> {
  const o = { ...DEFAULT_GGUF_EXPORT, ...options };
  if (!GGUF_DTYPES.includes(o.dtype)) throw new InvalidSettingError('dtype', `GGUF weights can be ${GGUF_DTYPES.join(' or ')}, not "${o.dtype}"`);
  checkOutputFile(out, o.force);
  const loaded = loadModelDir(modelDir);
  const own = await byteLevelBpe(await modelTokenizer(modelDir, loaded.config, o.tokenizer));
  // a fine-tuned byte/GPT-2 model carries its chat template in the model directory (docs/sft.md)
  const template = own.chatTemplates.length === 0 ? modelDirTemplate(modelDir) : undefined;
  const bpe = template ? { ...own, chatTemplates: [[undefined, template.source] as [undefined, string]] } : own;
  const { config, weights } = plainLlama(loaded.config, loaded.weights);
  const metadata = [...llamaMetadata(config, basename(resolve(modelDir)), o.dtype), ...tokenizerMetadata(bpe, config.vocabSize)];
  const tensors = llamaTensors(config, weights, o.dtype);
  let bytes = 0;
  const counted = function* () {
    for (const chunk of ggufChunks(metadata, tensors)) { bytes += chunk.byteLength; yield chunk; }
  };
  mkdirSync(dirname(out), { recursive: true });
  writeFileAtomic(out, counted());
  return { out, bytes, dtype: o.dtype, tensors: tensors.length, pre_tokenizer: bpe.pre };
}
