// Function preservation of every growth operator, alone and combined, on trained weights:
// max |Δlogits| ≤ 1e-5 · max |logits| and |Δloss| ≤ 1e-5 right after growth, and again after the
// masks have ramped to 1 and been removed (the masked graph at m = 1 equals the plain graph).
import { describe, expect, it } from 'vitest';
import { type ModelConfig, parseConfig } from '../../src/model/config.js';
import { initWeights, type Weights } from '../../src/model/weights.js';
import { growDepth, planLayers } from '../../src/growth/depth.js';
import { growFfn } from '../../src/growth/ffn.js';
import { growModel, removeMasks } from '../../src/growth/grow-model.js';
import { growHeads } from '../../src/growth/heads.js';
import { growHidden } from '../../src/growth/hidden.js';
import type { GrowOptions, GrowableModel, GrowthMethod, Placement } from '../../src/growth/types.js';
import { growVocab } from '../../src/growth/vocab.js';
import { DecoderRunner } from '../../src/runtime/forward.js';
import type { Batch } from '../../src/data/batch.js';
import { maskValuesAt } from '../../src/train/schedule.js';
import { TrainStep } from '../../src/train/step.js';
import { Rng } from '../../src/util/rng.js';

const HD = 8;
function config(o: { d: number; f: number; L: number; V?: number; mup?: number }): ModelConfig {
  return parseConfig({
    vocab_size: o.V ?? 64, hidden_size: o.d, intermediate_size: o.f, num_hidden_layers: o.L, num_attention_heads: o.d / HD, head_dim: HD,
    max_position_embeddings: 16, initializer_range: 0.1, mup_scale_factor: o.mup ?? 1, output_mult: 0.5,
  });
}

function batch(rng: Rng, V: number): Batch {
  const B = 2, S = 12;
  return {
    inputs: BigInt64Array.from({ length: B * S }, () => BigInt(rng.int(V))),
    targets: BigInt64Array.from({ length: B * S }, () => BigInt(rng.int(V))),
    batch: B, seq: S,
  };
}

/** A few AdamW steps so the weights are trained, not just random (returns the optimizer state too). */
async function trained(c: ModelConfig, seed: number) {
  const w = initWeights(c, seed);
  const step = await TrainStep.create(c, w, { session: { threads: 1 } });
  const rng = new Rng(seed + 100);
  for (let i = 0; i < 4; i++) await step.step([batch(rng, c.vocabSize)], 1e-2);
  const optimizer = step.optimizerState();
  await step.release();
  return { config: c, weights: step.weights(), optimizer };
}

async function outputs(c: ModelConfig, w: Weights, b: Batch) {
  const r = await DecoderRunner.create(c, w, ['logits', 'loss'], { threads: 1 });
  const out = await r.run(b);
  await r.release();
  return { logits: out.logits!, loss: out.loss! };
}

/** Compare logits over a's vocabulary (a padded vocabulary's new logits must be −∞ at mask 0). */
function compare(a: { logits: Float32Array; loss: number }, b: { logits: Float32Array; loss: number }, va = 64, vb = va) {
  let diff = 0, max = 0;
  const rows = a.logits.length / va;
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < va; j++) {
      diff = Math.max(diff, Math.abs(a.logits[r * va + j]! - b.logits[r * vb + j]!));
      max = Math.max(max, Math.abs(a.logits[r * va + j]!));
    }
    for (let j = va; j < vb; j++) if (b.logits[r * vb + j] !== -Infinity) diff = Infinity;
  }
  return { rel: diff / max, dLoss: Math.abs(a.loss - b.loss), max };
}

interface Case { name: string; from: Parameters<typeof config>[0]; to: Parameters<typeof config>[0]; placement?: Placement }
const CASES: Case[] = [
  { name: 'hidden width (more heads)', from: { d: 32, f: 64, L: 2 }, to: { d: 48, f: 64, L: 2 } },
  { name: 'FFN width', from: { d: 32, f: 64, L: 2 }, to: { d: 32, f: 100, L: 2 } },
  { name: 'depth, append', from: { d: 32, f: 64, L: 2 }, to: { d: 32, f: 64, L: 3 }, placement: 'append' },
  { name: 'depth, interleave', from: { d: 32, f: 64, L: 2 }, to: { d: 32, f: 64, L: 5 }, placement: 'interleave' },
  { name: 'depth, distance', from: { d: 32, f: 64, L: 3 }, to: { d: 32, f: 64, L: 5 }, placement: 'distance' },
  { name: 'vocabulary padding', from: { d: 32, f: 64, L: 2 }, to: { d: 32, f: 64, L: 2, V: 80 } },
  { name: 'all at once, with a μP width multiplier change', from: { d: 32, f: 64, L: 2, mup: 1 }, to: { d: 80, f: 208, L: 4, mup: 2.5 }, placement: 'interleave' },
];

describe('growth preserves the function', () => {
  for (const method of ['msg', 'mask-free'] as GrowthMethod[]) {
    for (const c of CASES) {
      const vocabGrows = (c.to.V ?? 64) > (c.from.V ?? 64);
      it(`${method}: ${c.name}`, async () => {
        const small = await trained(config(c.from), 11);
        if (vocabGrows && method === 'mask-free') {
          expect(() => growModel(small, config(c.to), { method, placement: 'append', seed: 3, rampSteps: 10, stagger: false })).toThrow(/vocabulary padding \(64 → 80\) changes the softmax/);
          return;
        }
        const b = batch(new Rng(7), small.config.vocabSize);
        const before = await outputs(small.config, small.weights, b);
        const opts: GrowOptions = { method, placement: c.placement ?? 'append', seed: 3, rampSteps: 10, stagger: false, layerDistances: [0.3, 0.1, 0.2] };
        const grown = growModel(small, config(c.to), opts);
        const after = await outputs(grown.config, grown.weights, b);
        const r = compare(before, after, small.config.vocabSize, grown.config.vocabSize);
        expect(r.max).toBeGreaterThan(0.1);
        expect(r.rel).toBeLessThanOrEqual(1e-5);
        expect(r.dLoss).toBeLessThanOrEqual(1e-5);
        // optimizer state grew with the weights: old moments kept, new ones zero, step kept
        expect(grown.optimizer!.step).toBe(small.optimizer.step);
        const m0 = grown.optimizer!.m.get('model.embed_tokens.weight')!;
        expect(m0.length).toBe(grown.weights.get('model.embed_tokens.weight')!.data.length);
        expect(m0[0]).toBe(small.optimizer.m.get('model.embed_tokens.weight')![0]);
        if (method === 'msg') {
          expect(grown.config.growth.masks).toBeDefined();
          // ramp the masks to 1: the masked graph then equals the plain graph of the grown model
          const done = { ...grown, config: { ...grown.config, growth: { ...grown.config.growth, masks: maskValuesAt(grown.config.growth.masks!, 10) } } };
          const masked = await outputs(done.config, done.weights, b);
          const plain = removeMasks(done);
          expect(plain.config.growth.masks).toBeUndefined();
          const r2 = compare(masked, await outputs(plain.config, plain.weights, b), grown.config.vocabSize);
          expect(r2.rel).toBeLessThanOrEqual(1e-5);
          expect(r2.dLoss).toBeLessThanOrEqual(1e-5);
          expect(() => removeMasks(grown)).toThrow(/not reached 1/);
        } else {
          expect(grown.config.growth.masks).toBeUndefined();
        }
      });
    }
  }

  for (const c of [
    { name: 'hidden ×2 and FFN ×2, μP width multiplier 1 → 2', from: { d: 16, f: 32, L: 2 }, to: { d: 32, f: 64, L: 2, mup: 2 } },
    { name: 'hidden ×3, FFN by a non-integer factor, deeper', from: { d: 16, f: 32, L: 2 }, to: { d: 48, f: 56, L: 3 } },
  ]) {
    it(`clone (HyperCloning): ${c.name}`, async () => {
      const small = await trained(config(c.from), 5);
      const b = batch(new Rng(8), small.config.vocabSize);
      const grown = growModel(small, config(c.to), { method: 'clone', placement: 'interleave', seed: 1, rampSteps: 1, stagger: false });
      expect(grown.config.growth.masks).toBeUndefined();
      const r = compare(await outputs(small.config, small.weights, b), await outputs(grown.config, grown.weights, b));
      expect(r.rel).toBeLessThanOrEqual(1e-5);
      expect(r.dLoss).toBeLessThanOrEqual(1e-5);
    });
  }

  it('clone refuses non-integer width factors', () => {
    const small = { config: config({ d: 16, f: 32, L: 1 }), weights: initWeights(config({ d: 16, f: 32, L: 1 }), 0) };
    expect(() => growModel(small, config({ d: 24, f: 32, L: 1 }), { method: 'clone', placement: 'append', seed: 0, rampSteps: 1, stagger: false })).toThrow(/integer width factor: hidden_size 16 → 24/);
  });

  it('property: random sizes, random combinations (msg and mask-free)', async () => {
    const rng = new Rng(2024);
    for (let trial = 0; trial < 6; trial++) {
      const h1 = 1 + rng.int(3), L1 = 1 + rng.int(2), f1 = 8 * (2 + rng.int(6));
      const from = { d: h1 * HD, f: f1, L: L1 };
      const to = { d: (h1 + rng.int(3)) * HD, f: f1 + 8 * rng.int(4), L: L1 + rng.int(3) };
      const method: GrowthMethod = trial % 2 ? 'msg' : 'mask-free';
      const small = await trained(config(from), trial);
      const b = batch(new Rng(trial), small.config.vocabSize);
      const grown = growModel(small, config(to), { method, placement: (['append', 'interleave'] as const)[trial % 2]!, seed: trial, rampSteps: 5, stagger: true });
      const r = compare(await outputs(small.config, small.weights, b), await outputs(grown.config, grown.weights, b));
      expect(r.rel, `${method} ${JSON.stringify(from)} → ${JSON.stringify(to)}`).toBeLessThanOrEqual(1e-5);
      expect(r.dLoss).toBeLessThanOrEqual(1e-5);
    }
  });
});

describe('growth rules', () => {
  it('places layers', () => {
    expect(planLayers(2, 3, 'append').map((l) => (l.isNew ? `n${l.source}` : l.source))).toEqual([0, 1, 'n1']);
    expect(planLayers(4, 6, 'interleave').map((l) => (l.isNew ? `n${l.source}` : l.source))).toEqual([0, 1, 'n1', 2, 3, 'n3']);
    expect(planLayers(2, 5, 'interleave').filter((l) => l.isNew).length).toBe(3);
    expect(planLayers(3, 4, 'distance', [0.1, 0.5, 0.2]).map((l) => (l.isNew ? `n${l.source}` : l.source))).toEqual([0, 1, 'n1', 2]);
  });

  it('rejects shrinking, head-dim changes and growth while masks ramp', async () => {
    const small = { config: config({ d: 32, f: 64, L: 2 }), weights: initWeights(config({ d: 32, f: 64, L: 2 }), 0) };
    const opts: GrowOptions = { method: 'msg', placement: 'append', seed: 0, rampSteps: 10, stagger: false };
    expect(() => growModel(small, config({ d: 24, f: 64, L: 2 }), opts)).toThrow(/cannot shrink hidden_size 32 → 24/);
    expect(() => growModel(small, config({ d: 32, f: 64, L: 1 }), opts)).toThrow(/cannot shrink num_hidden_layers 2 → 1/);
    const otherHd = parseConfig({ vocab_size: 64, hidden_size: 64, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, max_position_embeddings: 16 });
    expect(() => growModel(small, otherHd, opts)).toThrow(/head_dim must stay 8/);
    const grown = growModel(small, config({ d: 48, f: 64, L: 2 }), opts);
    expect(() => growModel(grown, config({ d: 64, f: 64, L: 2 }), opts)).toThrow(/masks are still ramping \(hidden at 0\.00, heads at 0\.00\)/);
  });
});

describe('each named operator alone preserves the function', () => {
  // attention width 16 (2 heads × 8) below hidden 32, so heads can grow without the hidden size
  const narrowHeads = parseConfig({ vocab_size: 64, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 2, head_dim: HD, max_position_embeddings: 16, initializer_range: 0.1, output_mult: 0.5 });
  const OPERATORS: { name: string; grow: (m: GrowableModel, o: GrowOptions) => GrowableModel; from?: ModelConfig; expect: (c: ModelConfig) => void; maskFree: boolean }[] = [
    { name: 'growHidden (as more heads)', grow: (m, o) => growHidden(m, 48, o), expect: (c) => expect([c.hiddenSize, c.numHeads, c.intermediateSize, c.numLayers]).toEqual([48, 6, 64, 2]), maskFree: true },
    { name: 'growHidden (attention width kept)', from: narrowHeads, grow: (m, o) => growHidden(m, 40, o), expect: (c) => expect([c.hiddenSize, c.numHeads]).toEqual([40, 2]), maskFree: true },
    { name: 'growHeads', from: narrowHeads, grow: (m, o) => growHeads(m, 3, o), expect: (c) => expect([c.hiddenSize, c.numHeads]).toEqual([32, 3]), maskFree: true },
    { name: 'growFfn', grow: (m, o) => growFfn(m, 88, o), expect: (c) => expect([c.hiddenSize, c.intermediateSize]).toEqual([32, 88]), maskFree: true },
    { name: 'growDepth', grow: (m, o) => growDepth(m, 4, o), expect: (c) => expect([c.hiddenSize, c.numLayers]).toEqual([32, 4]), maskFree: true },
    { name: 'growVocab', grow: (m, o) => growVocab(m, 72, o), expect: (c) => expect([c.hiddenSize, c.vocabSize]).toEqual([32, 72]), maskFree: false },
  ];
  for (const op of OPERATORS) {
    for (const method of (op.maskFree ? ['msg', 'mask-free'] : ['msg']) as GrowthMethod[]) {
      it(`${method}: ${op.name}`, async () => {
        const small = await trained(op.from ?? config({ d: 32, f: 64, L: 2 }), 13);
        const b = batch(new Rng(17), small.config.vocabSize);
        const grown = op.grow(small, { method, placement: 'interleave', seed: 2, rampSteps: 10, stagger: false });
        op.expect(grown.config);
        const r = compare(await outputs(small.config, small.weights, b), await outputs(grown.config, grown.weights, b), small.config.vocabSize, grown.config.vocabSize);
        expect(r.max).toBeGreaterThan(0.1);
        expect(r.rel).toBeLessThanOrEqual(1e-5);
        expect(r.dLoss).toBeLessThanOrEqual(1e-5);
      });
    }
  }
});
