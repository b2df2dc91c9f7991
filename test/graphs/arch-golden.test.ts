// The architectures of real checkpoints against the independent float64 PyTorch reference
// (tools/reference.py; fixtures made by `node tools/make-golden.mjs golden-arch`): grouped-query
// attention with H/kv = 1, 2, 4 and MQA, tied embeddings on and off, llama3 rope scaling on and off.
// Forward (fused and standard-op graphs) and the training graph's gradients; targets as for the
// other golden fixtures: max |Δlogit| ≤ 1e-4, loss relative difference ≤ 1e-5, gradients ≤ 1e-4 relative.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { buildDecoder } from '../../graphs/decoder.js';
import { parseConfig } from '../../src/model/config.js';
import { LM_HEAD, paramSpecs } from '../../src/model/params.js';
import { initWeights } from '../../src/model/weights.js';
import { createSession, ortFloat, ortInt64 } from '../../src/runtime/session.js';
import { buildTrainGraph, gradOutputName } from '../../src/train/train-graph.js';
import { FIXTURES, maxAbsDiff, readJson } from '../helpers.js';

const DIR = join(FIXTURES, 'golden-arch');
const CASES = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort().map((f) => readJson(join(DIR, f)));

describe.each(CASES.map((r) => [r.name, r]))('golden-arch %s vs the float64 reference', (_name, ref: any) => {
  const config = parseConfig(ref.source_config);
  const weights = initWeights(config, ref.seed);
  const feeds = (): Record<string, ort.Tensor> => {
    const f: Record<string, ort.Tensor> = {
      input_ids: ortInt64(BigInt64Array.from(ref.inputs.flat(), BigInt), [ref.batch, ref.seq]),
      targets: ortInt64(BigInt64Array.from(ref.targets.flat(), BigInt), [ref.batch, ref.seq]),
    };
    for (const p of paramSpecs(config)) f[p.name] = ortFloat(weights.get(p.name)!);
    return f;
  };

  it('the fixture covers what its name says', () => {
    expect(ref.dtype).toBe('float64');
    expect(config.numHeads / config.numKvHeads).toBe(ref.config.num_attention_heads / ref.config.num_key_value_heads);
    expect(config.tieWordEmbeddings).toBe(_name.includes('tied'));
    expect(paramSpecs(config).some((p) => p.name === LM_HEAD)).toBe(!_name.includes('tied'));
    expect(config.ropeScaling?.type).toBe(_name.includes('llama3') ? 'llama3' : undefined);
    expect(Object.keys(ref.grads).sort()).toEqual(paramSpecs(config).map((p) => p.name).sort());
  });

  for (const fused of [true, false]) {
    it(`logits and loss (${fused ? 'fused kernels' : 'standard ops'})`, async () => {
      const session = await createSession(buildDecoder(config, { outputs: ['logits', 'loss'], fusedKernels: fused }));
      const out = await session.run(feeds());
      const diff = maxAbsDiff(out.logits!.data as Float32Array, ref.logits.data);
      const loss = (out.loss!.data as Float32Array)[0]!;
      expect(Math.max(...ref.logits.data.map(Math.abs))).toBeGreaterThan(0.5); // not trivially small
      console.log(`${_name} (${fused ? 'fused' : 'standard'}): max |Δlogit| ${diff.toExponential(2)}, loss relative difference ${(Math.abs(loss - ref.loss) / ref.loss).toExponential(2)}`);
      expect(diff).toBeLessThanOrEqual(1e-4);
      expect(Math.abs(loss - ref.loss) / ref.loss).toBeLessThanOrEqual(1e-5);
      await session.release();
    });
  }

  it('training-graph gradients (the tied matrix: gather and head gradients summed)', async () => {
    const session = await createSession(buildTrainGraph(config));
    const out = await session.run(feeds());
    let worst = 0;
    for (const p of paramSpecs(config)) {
      const g = out[gradOutputName(p.name)]!.data as Float32Array;
      const r = ref.grads[p.name];
      const norm = Math.hypot(...g);
      const sampled = r.index.map((i: number) => g[i]!);
      const err = Math.max(Math.abs(norm - r.norm) / r.norm, Math.hypot(...sampled.map((v: number, i: number) => v - r.values[i])) / Math.hypot(...r.values));
      worst = Math.max(worst, err);
    }
    console.log(`${_name}: worst gradient relative error ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(1e-4);
    await session.release();
  });
});
