// Whole-model gradients of the training graph against the PyTorch reference (relative error ≤ 1e-4).
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { buildTrainGraph, gradOutputName } from '../../src/train/train-graph.js';
import { type ModelConfig } from '../../src/model/config.js';
import { loadModelDir } from '../../src/model/model-dir.js';
import { paramSpecs } from '../../src/model/params.js';
import { loadPreset } from '../../src/model/presets.js';
import { type Weights, initWeights } from '../../src/model/weights.js';
import { createSession, ortFloat, ortInt64 } from '../../src/runtime/session.js';
import { FIXTURES, readJson, referenceBatch } from '../helpers.js';

async function gradients(config: ModelConfig, weights: Weights, tok: string, ref: any) {
  const session = await createSession(buildTrainGraph(config));
  const batch = referenceBatch(tok, ref.batch, ref.seq, ref.targets);
  const feeds: Record<string, ort.Tensor> = {
    input_ids: ortInt64(batch.inputs, [batch.batch, batch.seq]),
    targets: ortInt64(batch.targets!, [batch.batch, batch.seq]),
  };
  for (const p of paramSpecs(config)) feeds[p.name] = ortFloat(weights.get(p.name)!);
  return session.run(feeds);
}

function compare(out: ort.InferenceSession.OnnxValueMapType, ref: any, config: ModelConfig) {
  let worst = 0, sq = 0;
  for (const p of paramSpecs(config)) {
    const g = out[gradOutputName(p.name)]!.data as Float32Array;
    const r = ref.grads[p.name];
    let norm = 0;
    for (const v of g) norm += v * v;
    sq += norm;
    const sampled = r.index.map((i: number) => g[i]!);
    const num = Math.hypot(...sampled.map((v: number, i: number) => v - r.values[i]));
    const den = Math.hypot(...r.values);
    worst = Math.max(worst, Math.abs(Math.sqrt(norm) - r.norm) / r.norm, num / den);
  }
  return { worst, gradSq: sq };
}

describe('training graph gradients vs PyTorch', () => {
  it('golden-small (μP multipliers, ignored targets)', async () => {
    const dir = join(FIXTURES, 'golden-small');
    const ref = readJson(join(dir, 'reference.json'));
    const { config, weights } = loadModelDir(dir);
    const out = await gradients(config, weights, join(dir, 'tokens.tok'), ref);
    expect(Math.abs((out.loss!.data as Float32Array)[0]! - ref.loss) / ref.loss).toBeLessThan(1e-5);
    const { worst, gradSq } = compare(out, ref, config);
    console.log(`golden-small: worst gradient relative error ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(1e-4);
    expect(Math.abs((out.grad_sq!.data as Float32Array)[0]! - gradSq) / gradSq).toBeLessThan(1e-4);
  });

  it('tiny preset', async () => {
    const dir = join(FIXTURES, 'golden-tiny');
    const ref = readJson(join(dir, 'reference.json'));
    const config = loadPreset('tiny');
    const out = await gradients(config, initWeights(config, ref.model.seed), join(dir, 'tokens.tok'), ref);
    const { worst } = compare(out, ref, config);
    console.log(`tiny: worst gradient relative error ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(1e-4);
  });
});

describe('training graph memory', () => {
  it('the backward reads shapes from graph inputs, never from activations it would keep alive', () => {
    for (const config of [loadPreset('tiny'), loadModelDir(join(FIXTURES, 'golden-small')).config]) {
      const g = buildTrainGraph(config).graph;
      const inputs = new Set(g.inputs.map((i) => i.name));
      const shapeOfActivation = g.nodes.filter((n) => n.op === 'Shape' && !inputs.has(n.inputs[0]!));
      expect(shapeOfActivation.map((n) => n.name)).toEqual([]);
    }
  });

  it('the FFN backward recomputes silu(gate) and silu(gate)·up instead of keeping them from the forward', () => {
    const config = loadPreset('tiny');
    const g = buildTrainGraph(config).graph;
    const silu = g.nodes.filter((n) => n.op === 'QuickGelu' && !n.name.endsWith('/remat'));
    expect(silu).toHaveLength(config.numLayers);
    const forwardValues = new Set(silu.flatMap((n) => [n.outputs[0]!, ...g.nodes.filter((m) => m.op === 'Mul' && m.inputs.includes(n.outputs[0]!) && !m.name.endsWith('/remat')).map((m) => m.outputs[0]!)]));
    const readers = g.nodes.filter((n) => n.name.startsWith('grad/') && n.inputs.some((i) => forwardValues.has(i)));
    expect(readers.map((n) => n.name)).toEqual([]);
    expect(g.nodes.filter((n) => n.name.endsWith('/remat'))).toHaveLength(2 * config.numLayers);
  });
});
