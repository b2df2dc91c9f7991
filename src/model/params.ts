/** Parameter names (Hugging Face Llama layout) and shapes of a config, in a fixed order. */
import type { ModelConfig } from './config.js';

export interface ParamSpec {
  name: string;
  shape: number[];
  kind: 'embedding' | 'matrix' | 'norm' | 'head';
}

export type LayerNames = ReturnType<typeof layerParamNames>;

export function layerParamNames(i: number) {
  const p = `model.layers.${i}`;
  return {
    inputNorm: `${p}.input_layernorm.weight`,
    q: `${p}.self_attn.q_proj.weight`,
    k: `${p}.self_attn.k_proj.weight`,
    v: `${p}.self_attn.v_proj.weight`,
    o: `${p}.self_attn.o_proj.weight`,
    postNorm: `${p}.post_attention_layernorm.weight`,
    gate: `${p}.mlp.gate_proj.weight`,
    up: `${p}.mlp.up_proj.weight`,
    down: `${p}.mlp.down_proj.weight`,
  };
}

export const EMBED = 'model.embed_tokens.weight';
export const FINAL_NORM = 'model.norm.weight';
export const LM_HEAD = 'lm_head.weight';

/** The tensor the head multiplies by: lm_head.weight, or the embedding matrix when tied. */
export function headWeightName(c: ModelConfig): string {
  return c.tieWordEmbeddings ? EMBED : LM_HEAD;
}

/** The target id the loss ignores (a batch's padding; PyTorch's default ignore_index). */
export const IGNORE_INDEX = -100;

export function paramSpecs(c: ModelConfig): ParamSpec[] {
  const d = c.hiddenSize, qd = c.numHeads * c.headDim, kvd = c.numKvHeads * c.headDim, f = c.intermediateSize;
  const specs: ParamSpec[] = [{ name: EMBED, shape: [c.vocabSize, d], kind: 'embedding' }];
  for (let i = 0; i < c.numLayers; i++) {
    const n = layerParamNames(i);
    specs.push(
      { name: n.inputNorm, shape: [d], kind: 'norm' },
      { name: n.q, shape: [qd, d], kind: 'matrix' },
      { name: n.k, shape: [kvd, d], kind: 'matrix' },
      { name: n.v, shape: [kvd, d], kind: 'matrix' },
      { name: n.o, shape: [d, qd], kind: 'matrix' },
      { name: n.postNorm, shape: [d], kind: 'norm' },
      { name: n.gate, shape: [f, d], kind: 'matrix' },
      { name: n.up, shape: [f, d], kind: 'matrix' },
      { name: n.down, shape: [d, f], kind: 'matrix' },
    );
  }
  specs.push({ name: FINAL_NORM, shape: [d], kind: 'norm' });
  // tied embeddings: the head is model.embed_tokens.weight itself (no lm_head.weight)
  if (!c.tieWordEmbeddings) specs.push({ name: LM_HEAD, shape: [c.vocabSize, d], kind: 'head' });
  return specs;
}
