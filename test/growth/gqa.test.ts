// Growth of the architectures real checkpoints use — grouped-query attention (H/kv = 1, 2, 4 and
// MQA) and tied embeddings, with and without llama3 rope scaling — by every method (msg, mask-free,
// clone). Property (fast-check, fixed seed): over random sizes the grown model's logits equal the
// small model's (max |Δlogit| ≤ 1e-5 · max |logit|, |Δloss| ≤ 1e-5, as test/growth/grow.test.ts),
// and the grown model's training-graph gradients equal the independent float64 reference's
// (tools/reference.py, relative error ≤ 1e-4, as test/autodiff/model-grads.test.ts).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import type { Batch } from '../../src/data/batch.js';
import { writeTokenFile } from '../../src/data/token-file.js';
import { growModel, removeMasks } from '../../src/growth/grow-model.js';
import { withHeads } from '../../src/growth/heads.js';
import { withHidden } from '../../src/growth/hidden.js';
import { targetConfig } from '../../src/growth/plan.js';
import type { GrowableModel, GrowthMethod } from '../../src/growth/types.js';
import { type ModelConfig, parseConfig } from '../../src/model/config.js';
import { saveModelDir } from '../../src/model/model-dir.js';
import { EMBED, LM_HEAD, paramSpecs } from '../../src/model/params.js';
import { type Weights, initWeights } from '../../src/model/weights.js';
import { DecoderRunner } from '../../src/runtime/forward.js';
import { createSession, ortFloat, ortInt64 } from '../../src/runtime/session.js';
import { maskValuesAt } from '../../src/train/schedule.js';
import { TrainStep } from '../../src/train/step.js';
import { buildTrainGraph, gradOutputName } from '../../src/train/train-graph.js';
import { Rng } from '../../src/util/rng.js';

const HD = 8, V = 48, B = 2, S = 10;
const LLAMA3 = { rope_type: 'llama3', factor: 4, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 32 };
const tmp = mkdtempSync(join(tmpdir(), 'growlm-gqa-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Arch { heads: number; kv: number; d?: number; f: number; L: number; V?: number; tied: boolean; llama3: boolean; mup?: number; outputMult?: number }
function config(a: Arch): ModelConfig {
  return parseConfig({
    vocab_size: a.V ?? V, hidden_size: a.d ?? a.heads * HD, intermediate_size: a.f, num_hidden_layers: a.L, num_attention_heads: a.heads,
    num_key_value_heads: a.kv, head_dim: HD, max_position_embeddings: 16, initializer_range: 0.1, rope_theta: 300,
    input_mult: 1.5, output_mult: a.outputMult ?? 0.5, mup_scale_factor: a.mup ?? 1, tie_word_embeddings: a.tied,
    ...(a.llama3 ? { rope_scaling: LLAMA3 } : {}),
  });
}

const tokens = (rng: Rng, n: number, v: number) => Array.from({ length: n }, () => rng.int(v));
/** [B, S+1] rows as inputs and shifted targets (the reference's batch). */
function batchOf(ids: number[]): Batch {
  const inputs = new BigInt64Array(B * S), targets = new BigInt64Array(B * S);
  for (let r = 0; r < B; r++) for (let t = 0; t < S; t++) { inputs[r * S + t] = BigInt(ids[r * (S + 1) + t]!); targets[r * S + t] = BigInt(ids[r * (S + 1) + t + 1]!); }
  return { inputs, targets, batch: B, seq: S };
}

async function trained(c: ModelConfig, seed: number): Promise<Required<GrowableModel>> {
  const step = await TrainStep.create(c, initWeights(c, seed), { session: { threads: 1 } });
  const rng = new Rng(seed + 100);
  for (let i = 0; i < 3; i++) await step.step([batchOf(tokens(rng, B * (S + 1), c.vocabSize))], 1e-2);
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

/** Logits over the small model's vocabulary (new tokens must be −∞ while their mask is 0). */
function compare(a: { logits: Float32Array; loss: number }, b: { logits: Float32Array; loss: number }, va: number, vb: number) {
  let diff = 0, max = 0;
  for (let r = 0; r < a.logits.length / va; r++) {
    for (let j = 0; j < va; j++) { diff = Math.max(diff, Math.abs(a.logits[r * va + j]! - b.logits[r * vb + j]!)); max = Math.max(max, Math.abs(a.logits[r * va + j]!)); }
    for (let j = va; j < vb; j++) if (b.logits[r * vb + j] !== -Infinity) diff = Infinity;
  }
  return { rel: diff / max, dLoss: Math.abs(a.loss - b.loss), max };
}

/** The training graph's loss and gradients against tools/reference.py in float64 on the same model and batch. */
async function againstReference(m: GrowableModel, ids: number[], name: string) {
  const dir = join(tmp, name);
  saveModelDir(dir, { config: m.config, weights: m.weights });
  writeTokenFile(join(dir, 'tokens.tok'), ids, m.config.vocabSize);
  execFileSync('/usr/bin/python3', [join(import.meta.dirname, '../../tools/reference.py'), '--model', dir, '--tokens', join(dir, 'tokens.tok'), '--out', join(dir, 'ref.json'),
    '--batch', String(B), '--seq', String(S), '--grads', '--float64'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const ref = JSON.parse(readFileSync(join(dir, 'ref.json'), 'utf8'));
  const b = batchOf(ids);
  const session = await createSession(buildTrainGraph(m.config));
  const feeds: Record<string, ort.Tensor> = { input_ids: ortInt64(b.inputs, [B, S]), targets: ortInt64(b.targets!, [B, S]) };
  for (const p of paramSpecs(m.config)) feeds[p.name] = ortFloat(m.weights.get(p.name)!);
  const out = await session.run(feeds);
  await session.release();
  // per tensor ‖g − r‖ / ‖r‖; a tensor whose reference gradient is exactly 0 (the inputs of a mask-free new
  // layer, whose output projection is zero) is measured against the whole gradient's norm
  let worst = 0, total = 0;
  for (const p of paramSpecs(m.config)) total += (ref.grads[p.name].data as number[]).reduce((a, v) => a + v * v, 0);
  for (const p of paramSpecs(m.config)) {
    const g = out[gradOutputName(p.name)]!.data as Float32Array, r = ref.grads[p.name].data as number[];
    let num = 0, den = 0;
    for (let i = 0; i < r.length; i++) { num += (g[i]! - r[i]!) ** 2; den += r[i]! ** 2; }
    worst = Math.max(worst, Math.sqrt(num / (den > 0 ? den : total)));
  }
  expect(Object.keys(ref.grads).sort()).toEqual(paramSpecs(m.config).map((p) => p.name).sort());
  return { worst, dLoss: Math.abs((out.loss!.data as Float32Array)[0]! - ref.loss) / ref.loss };
}

interface Case {
  kv: number; groups: number; tied: boolean; llama3: boolean; method: GrowthMethod;
  /** msg/mask-free: more kv groups (each with `groups` query heads); clone: hidden and heads × (1 + extra). */
  extra: number; f: number; moreF: number; L: number; moreL: number; moreV: number; interleave: boolean;
}

const arbCase: fc.Arbitrary<Case> = fc.record({
  kv: fc.constantFrom(1, 2), groups: fc.constantFrom(1, 2, 4), tied: fc.boolean(), llama3: fc.boolean(),
  method: fc.constantFrom<GrowthMethod>('msg', 'mask-free', 'clone'), extra: fc.integer({ min: 0, max: 2 }),
  f: fc.integer({ min: 2, max: 5 }), moreF: fc.integer({ min: 0, max: 3 }), L: fc.integer({ min: 1, max: 2 }), moreL: fc.integer({ min: 0, max: 2 }),
  moreV: fc.integer({ min: 0, max: 8 }), interleave: fc.boolean(),
});

/** The small and the target architecture of a case (every growth grows something). */
function sizes(c: Case): { from: Arch; to: Arch } {
  const heads = c.kv * c.groups;
  const from: Arch = { heads, kv: c.kv, f: 8 * c.f, L: c.L, tied: c.tied, llama3: c.llama3 };
  const factor = 1 + Math.min(c.extra, 1);
  const h2 = c.method === 'clone' ? heads * factor : heads + c.groups * c.extra;
  const to: Arch = {
    ...from, heads: h2, kv: h2 / c.groups, f: from.f + 8 * c.moreF, L: c.L + c.moreL + (c.extra + c.moreF + c.moreL === 0 ? 1 : 0),
    V: c.method === 'msg' ? V + c.moreV : V,
    // μP: the untied head follows a width multiplier change; a tied matrix keeps its multipliers
    ...(c.tied ? {} : { mup: h2 / heads }),
  };
  return { from, to };
}

const describeCase = (c: Case) => {
  const s = sizes(c);
  return `${c.method} ${s.from.heads}/${s.from.kv} heads → ${s.to.heads}/${s.to.kv}${c.tied ? ', tied' : ''}${c.llama3 ? ', llama3' : ''}, f ${s.from.f} → ${s.to.f}, L ${s.from.L} → ${s.to.L}, V ${V} → ${s.to.V}`;
};

// every GQA ratio, MQA, tied on and off and each method appear whatever the random draws
const EXAMPLES: Case[] = [
  { kv: 2, groups: 1, tied: false, llama3: false, method: 'msg', extra: 1, f: 3, moreF: 1, L: 1, moreL: 1, moreV: 4, interleave: false },
  { kv: 2, groups: 2, tied: true, llama3: true, method: 'mask-free', extra: 2, f: 2, moreF: 2, L: 2, moreL: 1, moreV: 0, interleave: true },
  { kv: 1, groups: 4, tied: true, llama3: false, method: 'clone', extra: 1, f: 4, moreF: 1, L: 1, moreL: 1, moreV: 0, interleave: true },
  { kv: 2, groups: 4, tied: false, llama3: true, method: 'clone', extra: 1, f: 2, moreF: 2, L: 1, moreL: 0, moreV: 0, interleave: false },
  { kv: 1, groups: 2, tied: true, llama3: true, method: 'msg', extra: 2, f: 2, moreF: 0, L: 2, moreL: 1, moreV: 5, interleave: true },
  { kv: 1, groups: 4, tied: false, llama3: false, method: 'mask-free', extra: 1, f: 3, moreF: 1, L: 1, moreL: 2, moreV: 0, interleave: false },
];

describe('growth of GQA / MQA models with tied or untied embeddings', () => {
  it('property: the grown model computes the same function, and its training-graph gradients match the float64 reference', async () => {
    let n = 0;
    await fc.assert(fc.asyncProperty(arbCase, async (c) => {
      const { from, to } = sizes(c);
      const seed = ++n;
      const small = await trained(config(from), seed);
      const rng = new Rng(seed + 7);
      const ids = tokens(rng, B * (S + 1), V);
      const b = batchOf(ids);
      const grown = growModel(small, config(to), { method: c.method, placement: c.interleave ? 'interleave' : 'append', seed, rampSteps: 10, stagger: false });
      // the grown model is what the target asked for, tied or not, with H/kv kept
      expect(grown.config.numHeads / grown.config.numKvHeads).toBe(c.groups);
      expect(grown.weights.has(LM_HEAD)).toBe(!c.tied);
      expect(grown.optimizer!.m.has(LM_HEAD)).toBe(!c.tied);
      expect(grown.optimizer!.m.get(EMBED)!.length).toBe(grown.weights.get(EMBED)!.data.length);
      const r = compare(await outputs(small.config, small.weights, b), await outputs(grown.config, grown.weights, b), V, grown.config.vocabSize);
      expect(r.max, describeCase(c)).toBeGreaterThan(0.05);
      expect(r.rel, describeCase(c)).toBeLessThanOrEqual(1e-5);
      expect(r.dLoss, describeCase(c)).toBeLessThanOrEqual(1e-5);
      // gradients of the grown model (msg: with its masks ramped to 1 and removed, the plain model the reference knows)
      const plain = grown.config.growth.masks
        ? removeMasks({ ...grown, config: { ...grown.config, growth: { ...grown.config.growth, masks: maskValuesAt(grown.config.growth.masks, 10) } } })
        : grown;
      const g = await againstReference(plain, ids, `case-${seed}`);
      console.log(`${describeCase(c)}: logits ${r.rel.toExponential(1)} relative, |Δloss| ${r.dLoss.toExponential(1)}; gradients vs reference ${g.worst.toExponential(1)}`);
      expect(g.worst, describeCase(c)).toBeLessThanOrEqual(1e-4);
      expect(g.dLoss, describeCase(c)).toBeLessThanOrEqual(1e-5);
    }), { seed: 12, numRuns: 4, examples: EXAMPLES.map((e) => [e]), endOnFailure: true });
  }, 240_000);
});

describe('growth rules of GQA and tied models', () => {
  const gqa = config({ heads: 4, kv: 2, f: 32, L: 1, tied: true, llama3: true });
  const opts = { method: 'mask-free' as const, placement: 'append' as const, seed: 0, rampSteps: 1, stagger: false };

  it('heads grow in whole groups, with their kv heads; the hidden size brings its heads along', () => {
    expect(withHeads(gqa, 6)).toMatchObject({ numHeads: 6, numKvHeads: 3 });
    expect(() => withHeads(gqa, 5)).toThrow(/^num_attention_heads 5 is not a multiple of 2, the model's query heads per kv head \(growth keeps the ratio\)$/);
    expect(withHidden(gqa, 64)).toMatchObject({ hiddenSize: 64, numHeads: 8, numKvHeads: 4 });
    const mqa = config({ heads: 4, kv: 1, f: 32, L: 1, tied: false, llama3: false });
    expect(targetConfig(mqa, undefined, { heads: 8 })).toMatchObject({ numHeads: 8, numKvHeads: 2 });
    expect(() => targetConfig(mqa, undefined, { heads: 6 })).toThrow(/num_attention_heads 6 is not a multiple of 4/);
  });

  it('refuses a target that changes the ratio, the tying or the rope, naming the field', () => {
    const m = { config: gqa, weights: initWeights(gqa, 1) };
    expect(() => growModel(m, { ...gqa, numHeads: 8, hiddenSize: 64, numKvHeads: 2 }, opts)).toThrow(/^growth keeps 2 query heads per kv head: num_attention_heads 8 needs num_key_value_heads 4, the target has 2$/);
    expect(() => growModel(m, { ...gqa, numLayers: 2, tieWordEmbeddings: false }, opts)).toThrow(/^tie_word_embeddings must stay true across growth \(the target has false\)$/);
    expect(() => growModel(m, { ...gqa, numLayers: 2, ropeScaling: undefined }, opts)).toThrow(/rope_theta and rope_scaling must stay/);
    expect(() => growModel(m, { ...gqa, numLayers: 2, ropeTheta: 10000 }, opts)).toThrow(/rope_theta and rope_scaling must stay/);
    expect(() => growModel(m, { ...gqa, numLayers: 2, mupScaleFactor: 2 }, opts)).toThrow(/^tied embeddings: input_mult \(1\.5 → 1\.5\) and output_mult \/ mup_scale_factor \(0\.5 → 0\.25\) must change by the same factor, since one matrix serves both$/);
  });

  it('a tied model whose multipliers change by one factor rescales its one matrix; clone takes its hidden factor back through output_mult', async () => {
    const small = await trained(gqa, 3);
    const b = batchOf(tokens(new Rng(1), B * (S + 1), V));
    const before = await outputs(gqa, small.weights, b);
    const scaled = growModel(small, { ...gqa, numLayers: 2, inputMult: 3, outputMult: 1 }, opts);
    expect(scaled.config).toMatchObject({ inputMult: 3, outputMult: 1 });
    expect(compare(before, await outputs(scaled.config, scaled.weights, b), V, V).rel).toBeLessThanOrEqual(1e-5);
    const cloned = growModel(small, withHidden(gqa, 96), { ...opts, method: 'clone' });
    expect(cloned.config).toMatchObject({ hiddenSize: 96, numHeads: 12, numKvHeads: 6, outputMult: 0.5 / 3 });
    expect(compare(before, await outputs(cloned.config, cloned.weights, b), V, V).rel).toBeLessThanOrEqual(1e-5);
  });
});
