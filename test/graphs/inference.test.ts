// The KV-cache inference graph against the full-window decoder: prefill of a prompt then decoding
// token by token, and a left-padded batch of two prompts of different lengths, must give the same
// logits at every position to float32 rounding — with μP multipliers ≠ 1, with MSG masks still
// ramping, in the fused and the standard-op variants.
import { describe, expect, it } from 'vitest';
import type * as ort from 'onnxruntime-node';
import { buildDecoder } from '../../graphs/decoder.js';
import { buildCachedDecoder, cacheNames } from '../../graphs/inference.js';
import { type ModelConfig, parseConfig } from '../../src/model/config.js';
import { maskTensors } from '../../src/model/masks.js';
import { paramSpecs } from '../../src/model/params.js';
import { type Weights, initWeights } from '../../src/model/weights.js';
import { KvSession } from '../../src/runtime/kv-session.js';
import { createSession, ortFloat, ortInt64 } from '../../src/runtime/session.js';
import { Rng } from '../../src/util/rng.js';

const BASE = {
  vocab_size: 96, hidden_size: 48, intermediate_size: 80, num_hidden_layers: 3, num_attention_heads: 4, max_position_embeddings: 24,
  initializer_range: 0.15, input_mult: 2.5, output_mult: 3, mup_scale_factor: 1.5,
};
const MUP = parseConfig(BASE);
// a growth still ramping: new hidden dims, FFN units, heads, a new layer and padded vocabulary behind masks < 1
const MASKED = parseConfig({
  ...BASE, growlm: {
    masks: {
      hidden: { from: 32, value: 0.3 }, ffn: { from: 64, value: 0.6 }, heads: { from: 3, value: 0.4 },
      layers: { indices: [1], value: 0.5 }, vocab: { from: 90, value: 0.2 }, ramp: { start: 0, steps: 10, stagger: false },
    },
  },
});
// the architectures of real checkpoints: grouped-query attention (2 query heads per kv head) with tied
// embeddings and llama3 rope scaling; multi-query attention
const GQA = parseConfig({
  ...BASE, num_key_value_heads: 2, tie_word_embeddings: true,
  rope_scaling: { rope_type: 'llama3', factor: 4, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 },
});
const MQA = parseConfig({ ...BASE, num_key_value_heads: 1 });
// a GQA model growing: a new kv group (2 query heads + 1 kv head) behind the heads mask, new layer and hidden dims
const GQA_MASKED = parseConfig({
  ...BASE, num_key_value_heads: 2, tie_word_embeddings: true, growlm: {
    masks: { hidden: { from: 32, value: 0.3 }, heads: { from: 2, value: 0.4 }, layers: { indices: [1], value: 0.5 }, ramp: { start: 0, steps: 10, stagger: false } },
  },
});

/** Logits [seq, V] of the full-window decoder on one sequence. */
async function fullWindow(session: ort.InferenceSession, c: ModelConfig, feeds: Record<string, ort.Tensor>, ids: number[]): Promise<Float32Array> {
  const out = await session.run({ ...feeds, input_ids: ortInt64(BigInt64Array.from(ids, BigInt), [1, ids.length]) });
  return out.logits!.data as Float32Array;
}

function weightFeeds(c: ModelConfig, w: Weights): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const p of paramSpecs(c)) feeds[p.name] = ortFloat(w.get(p.name)!);
  for (const [name, t] of maskTensors(c)) feeds[name] = ortFloat(t);
  return feeds;
}

/** max |a − b|, relative to the largest |b|. */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0, m = 0;
  for (let i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i]! - b[i]!)); m = Math.max(m, Math.abs(b[i]!)); }
  expect(m).toBeGreaterThan(0.5); // logits that are not trivially small
  return d / m;
}

const row = (x: Float32Array, i: number, V: number) => x.subarray(i * V, (i + 1) * V);
// float32 rounding (measured ≤ 1.2e-6 of the largest logit); any real difference in masking or positions gives ~1
const TOL = 4e-6;

describe.each([
  ['μP multipliers', MUP, true],
  ['μP multipliers, standard ops', MUP, false],
  ['MSG masks ramping', MASKED, true],
  ['MSG masks ramping, standard ops', MASKED, false],
  ['GQA, tied embeddings, llama3 rope scaling', GQA, true],
  ['MQA, standard ops', MQA, false],
  ['GQA, tied, MSG masks ramping', GQA_MASKED, true],
] as const)('cached graph = full-window decoder: %s', (_name, c, fused) => {
  const V = c.vocabSize;
  const rng = new Rng(3);
  const tokens = (n: number) => Array.from({ length: n }, () => Math.floor(rng.uniform() * V));

  it('prefill of a prompt, then decoding token by token', async () => {
    const w = initWeights(c, 7);
    const full = await createSession(buildDecoder(c, { outputs: ['logits'], fusedKernels: fused }));
    const kv = await KvSession.create(c, w, { fusedKernels: fused, logits: 'all', spareColumns: 5 }); // the cache regrows every 5 steps
    const seq = tokens(c.maxSeqLen);
    const ref = await fullWindow(full, c, weightFeeds(c, w), seq);
    const prompt = 7;
    const pre = await kv.prefill([seq.slice(0, prompt)]);
    let worst = relDiff(pre.logits!, ref.subarray(0, prompt * V));
    expect(pre.last).toEqual(row(pre.logits!, prompt - 1, V)); // (its closeness to the reference is in `worst`)
    for (let t = prompt; t < seq.length; t++) worst = Math.max(worst, relDiff(await kv.decode([seq[t]!]), row(ref, t, V)));
    expect(kv.past).toBe(c.maxSeqLen);
    await expect(kv.decode([0])).rejects.toThrow(/position 24 is outside the model's context \(max_position_embeddings 24\)/);
    console.log(`${_name}: worst ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(TOL);
    await kv.release();
    await full.release();
  });

  it('a left-padded batch of two prompts of different lengths, prefilled and decoded together', async () => {
    const w = initWeights(c, 8);
    const full = await createSession(buildDecoder(c, { outputs: ['logits'], fusedKernels: fused }));
    const kv = await KvSession.create(c, w, { fusedKernels: fused, logits: 'all', spareColumns: 5 }); // the cache regrows every 5 steps
    const feeds = weightFeeds(c, w);
    const seqs = [tokens(14), tokens(9)];
    const prompts = [seqs[0]!.slice(0, 10), seqs[1]!.slice(0, 5)];
    const refs = await Promise.all(seqs.map((s) => fullWindow(full, c, feeds, s)));
    const pre = await kv.prefill(prompts);
    expect(pre.seq).toBe(10);
    let worst = 0;
    for (let r = 0; r < 2; r++) {
      const pad = pre.seq - prompts[r]!.length;
      for (let j = 0; j < prompts[r]!.length; j++) worst = Math.max(worst, relDiff(row(pre.logits!, r * pre.seq + pad + j, V), row(refs[r]!, j, V)));
    }
    for (let t = 0; t < 4; t++) {
      const logits = await kv.decode([seqs[0]![10 + t]!, seqs[1]![5 + t]!]);
      worst = Math.max(worst, relDiff(row(logits, 0, V), row(refs[0]!, 10 + t, V)), relDiff(row(logits, 1, V), row(refs[1]!, 5 + t, V)));
    }
    console.log(`${_name}: worst ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(TOL);
    await kv.release();
    await full.release();
  });

  it('logits of the last position only (the serving graph): the same last logits for a left-padded batch, then decoding', async () => {
    const w = initWeights(c, 9);
    const full = await createSession(buildDecoder(c, { outputs: ['logits'], fusedKernels: fused }));
    const kv = await KvSession.create(c, w, { fusedKernels: fused });
    expect(kv.logits).toBe('last');
    const feeds = weightFeeds(c, w);
    const seqs = [tokens(8), tokens(13)];
    const prompts = [seqs[0]!.slice(0, 3), seqs[1]!.slice(0, 9)];
    const refs = await Promise.all(seqs.map((s) => fullWindow(full, c, feeds, s)));
    const pre = await kv.prefill(prompts);
    expect(pre.logits).toBeUndefined();
    expect(pre.last.length).toBe(2 * V);
    let worst = Math.max(relDiff(row(pre.last, 0, V), row(refs[0]!, 2, V)), relDiff(row(pre.last, 1, V), row(refs[1]!, 8, V)));
    for (let t = 0; t < 4; t++) {
      const logits = await kv.decode([seqs[0]![3 + t]!, seqs[1]![9 + t]!]);
      worst = Math.max(worst, relDiff(row(logits, 0, V), row(refs[0]!, 3 + t, V)), relDiff(row(logits, 1, V), row(refs[1]!, 9 + t, V)));
    }
    console.log(`${_name}, last logits: worst ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(TOL);
    await kv.release();
    await full.release();
  });
});

describe('cached graph interface', () => {
  it('has the Optimum / transformers.js input and output names and layout', () => {
    const g = buildCachedDecoder(MUP).graph;
    const L = MUP.numLayers;
    expect(g.inputs.slice(0, 3 + 2 * L).map((i) => [i.name, i.shape])).toEqual([
      ['input_ids', ['batch', 'seq']], ['attention_mask', ['batch', 'past+seq']], ['position_ids', ['batch', 'seq']],
      ...Array.from({ length: L }, (_, i) => [[cacheNames(i).pastKey, ['batch', 4, 'past', 12]], [cacheNames(i).pastValue, ['batch', 4, 'past', 12]]]).flat(),
    ]);
    expect(g.outputs.map((o) => [o.name, o.shape])).toEqual([
      ['logits', ['batch', 'seq', 96]],
      ...Array.from({ length: L }, (_, i) => [[`present.${i}.key`, ['batch', 4, 'past+seq', 12]], [`present.${i}.value`, ['batch', 4, 'past+seq', 12]]]).flat(),
    ]);
    const standard = buildCachedDecoder(MUP, { fusedKernels: false });
    expect(standard.opsets).toEqual({ '': 17 });
    expect(standard.graph.nodes.filter((n) => n.domain !== '' || ['SimplifiedLayerNormalization', 'RotaryEmbedding', 'QuickGelu', 'FusedMatMul'].includes(n.op))).toEqual([]);
    // fused: onnxruntime's MultiHeadAttention joins the cache where query and kv heads match, FusedMatMul products otherwise
    const ops = (c: ModelConfig) => new Set(buildCachedDecoder(c).graph.nodes.map((n) => n.op));
    for (const op of ['SimplifiedLayerNormalization', 'SkipSimplifiedLayerNormalization', 'RotaryEmbedding', 'QuickGelu', 'MultiHeadAttention']) expect(ops(MUP).has(op), op).toBe(true);
    expect(ops(MUP).has('FusedMatMul')).toBe(false);
    for (const op of ['SkipSimplifiedLayerNormalization', 'FusedMatMul']) expect(ops(GQA).has(op), op).toBe(true);
    expect(ops(GQA).has('MultiHeadAttention')).toBe(false);
    expect(ops(MASKED).has('SkipSimplifiedLayerNormalization')).toBe(false); // a ramping hidden mask needs the masked norm
  });

  it('outputs the last position only under logits: last', () => {
    const g = buildCachedDecoder(MUP, { logits: 'last' }).graph;
    expect(g.outputs[0]).toMatchObject({ name: 'logits', shape: ['batch', 1, 96] });
  });

  it('the cache of a GQA model holds its kv heads', () => {
    const g = buildCachedDecoder(MQA).graph;
    expect(g.inputs.find((i) => i.name === cacheNames(0).pastKey)!.shape).toEqual(['batch', 1, 'past', 12]);
    expect(g.outputs.find((o) => o.name === cacheNames(0).presentValue)!.shape).toEqual(['batch', 1, 'past+seq', 12]);
  });

  it('rejects steps that do not fit the cache', async () => {
    const kv = await KvSession.create(MUP, initWeights(MUP, 1));
    await expect(kv.decode([1])).rejects.toThrow(/decode before prefill/);
    await expect(kv.prefill([[1, 2], []])).rejects.toThrow(/none of them empty/);
    await kv.prefill([[1, 2], [3]]);
    await expect(kv.decode([1])).rejects.toThrow(/decode: 1 tokens for 2 rows/);
    // the new keys and values alone come token-major: fetched at single-token steps only
    const two = { batch: 1, seq: 2, ids: new BigInt64Array(2), attentionMask: new BigInt64Array(2).fill(1n), positions: BigInt64Array.from([0n, 1n]) };
    await expect(kv.runWith(two, 0, [], 'new')).rejects.toThrow(/fetched at decode steps \(seq 1\), not for 2 tokens/);
    await kv.release();
  });
});
