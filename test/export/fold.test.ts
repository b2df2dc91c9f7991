// plainLlama: the folded model (μP multipliers 1, masks baked) computes the same logits as the growlm model,
// for μP multipliers ≠ 1 and for MSG masks anywhere on their ramp (0, in between, 1).
import { describe, expect, it } from 'vitest';
import { type MaskState, type ModelConfig, parseConfig } from '../../src/model/config.js';
import { initWeights, type Weights } from '../../src/model/weights.js';
import { growModel } from '../../src/growth/grow-model.js';
import { DecoderRunner } from '../../src/runtime/forward.js';
import type { Batch } from '../../src/data/batch.js';
import { FoldError, plainLlama } from '../../src/export/fold.js';
import { EMBED, LM_HEAD } from '../../src/model/params.js';
import { Rng } from '../../src/util/rng.js';

function config(o: { d: number; f: number; L: number; V?: number }): ModelConfig {
  return parseConfig({
    vocab_size: o.V ?? 64, hidden_size: o.d, intermediate_size: o.f, num_hidden_layers: o.L, num_attention_heads: o.d / 8, head_dim: 8,
    max_position_embeddings: 16, initializer_range: 0.2, input_mult: 3, output_mult: 0.5, mup_scale_factor: 2, rms_norm_eps: 1e-3,
  });
}

function batch(V: number): Batch {
  const rng = new Rng(7);
  const n = 2 * 12;
  return { inputs: BigInt64Array.from({ length: n }, () => BigInt(rng.int(V))), targets: BigInt64Array.from({ length: n }, () => BigInt(rng.int(V))), batch: 2, seq: 12 };
}

async function logits(c: ModelConfig, w: Weights, b: Batch): Promise<Float32Array> {
  const r = await DecoderRunner.create(c, w, ['logits'], { threads: 1 });
  const out = await r.run(b);
  await r.release();
  return out.logits!;
}

function relDiff(a: Float32Array, b: Float32Array): number {
  let d = 0, m = 0;
  for (let i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i]! - b[i]!)); m = Math.max(m, Math.abs(a[i]!)); }
  return d / m;
}

/** Set every mask of a ramping growth to `value` (new layers, FFN, heads and hidden dims at once). */
function atValue(c: ModelConfig, value: number): ModelConfig {
  const m = c.growth.masks!;
  const set = <T extends { value: number }>(e: T | undefined) => (e ? { ...e, value } : undefined);
  const masks: MaskState = { ...m, hidden: set(m.hidden), ffn: set(m.ffn), heads: set(m.heads), layers: set(m.layers) };
  return { ...c, growth: { ...c.growth, masks } };
}

describe('plainLlama', () => {
  it('folds the μP multipliers into the embedding and the head', async () => {
    const c = config({ d: 32, f: 48, L: 2 });
    const w = initWeights(c, 1);
    const plain = plainLlama(c, w);
    expect([plain.config.inputMult, plain.config.outputMult, plain.config.mupScaleFactor]).toEqual([1, 1, 1]);
    expect(plain.config.rmsEps).toBe(c.rmsEps);
    const b = batch(64);
    expect(relDiff(await logits(c, w, b), await logits(plain.config, plain.weights, b))).toBeLessThan(1e-6);
    // the folded tensors are scaled copies; the source is untouched
    expect(plain.weights.get(LM_HEAD)!.data[5]).toBeCloseTo((w.get(LM_HEAD)!.data[5] as number) * 0.25, 7);
  });

  it('bakes MSG masks at 0, mid-ramp and 1 (hidden, FFN, heads, new layers)', async () => {
    const small = config({ d: 32, f: 48, L: 2 });
    const grown = growModel({ config: small, weights: initWeights(small, 2) }, config({ d: 48, f: 80, L: 4 }), { method: 'msg', placement: 'interleave', seed: 3, rampSteps: 10, stagger: false });
    expect(grown.config.growth.masks?.hidden && grown.config.growth.masks.ffn && grown.config.growth.masks.heads && grown.config.growth.masks.layers).toBeTruthy();
    const b = batch(64);
    // new weights random and nonzero, so a wrong scale on new structure shows at mid-ramp
    for (const value of [0, 0.37, 1]) {
      const c = atValue(grown.config, value);
      const plain = plainLlama(c, grown.weights);
      expect(plain.config.growth.masks).toBeUndefined();
      const rel = relDiff(await logits(c, grown.weights, b), await logits(plain.config, plain.weights, b));
      expect(rel, `masks at ${value}`).toBeLessThan(1e-5);
    }
    // the hidden mask changes eps: eps·M/d with M = 32 + 16·0.37
    expect(plainLlama(atValue(grown.config, 0.37), grown.weights).config.rmsEps).toBeCloseTo(1e-3 * (32 + 16 * 0.37) / 48, 12);
  });

  it('keeps tied embeddings tied only when the embedding and the head get the same factor', () => {
    const tied = (inputMult: number) => parseConfig({ vocab_size: 64, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 1, num_attention_heads: 4, max_position_embeddings: 16, tie_word_embeddings: true, input_mult: inputMult, output_mult: 0.5, mup_scale_factor: 2 });
    const same = tied(0.25);
    const w = initWeights(same, 4);
    expect(w.has(LM_HEAD)).toBe(false);
    const a = plainLlama(same, w);
    expect(a.config.tieWordEmbeddings).toBe(true);
    expect(a.weights.has(LM_HEAD)).toBe(false);
    expect(a.weights.get(EMBED)!.data[3]).toBe(Math.fround((w.get(EMBED)!.data[3] as number) * 0.25));
    const b = plainLlama(tied(3), w);
    expect(b.config.tieWordEmbeddings).toBe(false);
    expect(b.weights.get(EMBED)!.data[3]).toBe(Math.fround((w.get(EMBED)!.data[3] as number) * 3));
    expect(b.weights.get(LM_HEAD)!.data[3]).toBe(Math.fround((w.get(EMBED)!.data[3] as number) * 0.25));
  });

  it('refuses a vocabulary mask below 1', () => {
    const small = config({ d: 32, f: 48, L: 2 });
    const grown = growModel({ config: small, weights: initWeights(small, 2) }, config({ d: 32, f: 48, L: 2, V: 80 }), { method: 'msg', placement: 'append', seed: 3, rampSteps: 10, stagger: false });
    expect(() => plainLlama(grown.config, grown.weights)).toThrow(FoldError);
    expect(() => plainLlama(grown.config, grown.weights)).toThrow(/vocabulary mask is at 0/);
  });
});
