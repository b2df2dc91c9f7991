// The ONNX decoder against the independent PyTorch reference (tools/reference.py; fixtures made by
// tools/make-golden.mjs). Targets: max |Δlogit| ≤ 1e-4, loss relative difference ≤ 1e-5 (float32).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModelDir } from '../../src/model/model-dir.js';
import { loadPreset } from '../../src/model/presets.js';
import { initWeights } from '../../src/model/weights.js';
import { DecoderRunner } from '../../src/runtime/forward.js';
import { buildDecoder } from '../../graphs/decoder.js';
import { paramSpecs } from '../../src/model/params.js';
import { createSession, ortFloat, ortInt64 } from '../../src/runtime/session.js';
import { FIXTURES, maxAbsDiff, readJson, referenceBatch } from '../helpers.js';

describe('decoder forward vs PyTorch reference', () => {
  it('golden-small: μP multipliers, ignored targets', async () => {
    const dir = join(FIXTURES, 'golden-small');
    const ref = readJson(join(dir, 'reference.json'));
    const { config, weights } = loadModelDir(dir);
    expect(config.inputMult).toBe(2);
    const batch = referenceBatch(join(dir, 'tokens.tok'), ref.batch, ref.seq, ref.targets);
    const runner = await DecoderRunner.create(config, weights, ['logits', 'loss']);
    const out = await runner.run(batch);
    const diff = maxAbsDiff(out.logits!, ref.logits.data);
    const absMax = Math.max(...ref.logits.data.map(Math.abs));
    expect(absMax).toBeGreaterThan(0.5); // the fixture's logits are not trivially small
    console.log(`golden-small: max |Δlogit| ${diff.toExponential(2)} (max |logit| ${absMax.toFixed(2)}), loss relative difference ${(Math.abs(out.loss! - ref.loss) / ref.loss).toExponential(2)}`);
    expect(diff).toBeLessThanOrEqual(1e-4);
    expect(Math.abs(out.loss! - ref.loss) / ref.loss).toBeLessThanOrEqual(1e-5);
    const ignored = ref.targets.flat().filter((t: number) => t === -100).length;
    expect(ignored).toBeGreaterThan(0);
    expect(out.tokenCount).toBe(ref.batch * ref.seq - ignored);
  });

  it('golden-tiny: the tiny preset, seed 0', async () => {
    const dir = join(FIXTURES, 'golden-tiny');
    const ref = readJson(join(dir, 'reference.json'));
    const config = loadPreset('tiny');
    const weights = initWeights(config, ref.model.seed);
    const batch = referenceBatch(join(dir, 'tokens.tok'), ref.batch, ref.seq);
    const runner = await DecoderRunner.create(config, weights, ['logits', 'loss']);
    const out = await runner.run(batch);
    expect(Math.abs(out.loss! - ref.loss) / ref.loss, 'loss (if this fails everywhere, the init changed: rerun tools/make-golden.mjs)').toBeLessThanOrEqual(1e-5);
    const [B, K, V] = ref.logits.shape as number[];
    const ours: number[] = [];
    for (let b = 0; b < B!; b++) ours.push(...out.logits!.subarray(b * ref.seq * V!, (b * ref.seq + K!) * V!));
    const diff = maxAbsDiff(ours, ref.logits.data);
    console.log(`golden-tiny: max |Δlogit| ${diff.toExponential(2)}, loss relative difference ${(Math.abs(out.loss! - ref.loss) / ref.loss).toExponential(2)}`);
    expect(diff).toBeLessThanOrEqual(1e-4);
  });

  it('the portable graph (standard ops only, as growlm export writes it) computes the same logits', async () => {
    const dir = join(FIXTURES, 'golden-small');
    const ref = readJson(join(dir, 'reference.json'));
    const { config, weights } = loadModelDir(dir);
    const model = buildDecoder(config, { outputs: ['logits'], fusedKernels: false });
    expect(Object.keys(model.opsets)).toEqual(['']);
    expect(model.graph.nodes.filter((n) => n.domain !== '' || ['SimplifiedLayerNormalization', 'RotaryEmbedding', 'QuickGelu'].includes(n.op))).toEqual([]);
    const batch = referenceBatch(join(dir, 'tokens.tok'), ref.batch, ref.seq, ref.targets);
    const session = await createSession(model);
    const feeds = Object.fromEntries(paramSpecs(config).map((p) => [p.name, ortFloat(weights.get(p.name)!)]));
    const out = await session.run({ ...feeds, input_ids: ortInt64(batch.inputs, [batch.batch, batch.seq]) });
    const diff = maxAbsDiff(out.logits!.data as Float32Array, ref.logits.data);
    console.log(`golden-small (portable graph): max |Δlogit| ${diff.toExponential(2)}`);
    expect(diff).toBeLessThanOrEqual(1e-4);
  });
});
