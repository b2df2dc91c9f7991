import { describe, expect, it } from 'vitest';
import { DEFAULT_ADAMW, type ParamState, adamwStep } from '../../src/train/adamw.js';
import { AdamWPool, POOL_MIN_PARAMS } from '../../src/train/adamw-pool.js';
import { Rng } from '../../src/util/rng.js';

function params(rng: Rng, sizes: number[]): ParamState[] {
  return sizes.map((n, i) => {
    const data = new Float32Array(n);
    rng.fillNormal(data);
    return { name: `p${i}`, data, m: new Float32Array(n), v: new Float32Array(n), lrMult: i % 2 ? 1 : 0.25, decay: i % 3 !== 0 };
  });
}

describe('AdamWPool', () => {
  it('gives bit-identical results to the single-thread update, and keeps the weight arrays in place', async () => {
    const sizes = [1000, 37, 4096, 5, 777, 2048];
    const single = params(new Rng(1), sizes), pooled = params(new Rng(1), sizes);
    const arrays = pooled.map((p) => p.data);
    const pool = AdamWPool.create(pooled, 3, 0)!;
    expect(pool).toBeDefined();
    const rng = new Rng(2);
    for (let step = 1; step <= 3; step++) {
      const grads = sizes.map((n) => { const g = new Float32Array(n); rng.fillNormal(g); return g; });
      adamwStep(single, grads.map((g) => g.slice()), step, 1e-2 / step, DEFAULT_ADAMW, 0.7);
      await pool.step(grads, step, 1e-2 / step, DEFAULT_ADAMW, 0.7);
    }
    await pool.terminate();
    pooled.forEach((p, i) => {
      expect(p.data).toBe(arrays[i]); // the graph's inputs are the same arrays
      expect(p.data).toEqual(single[i]!.data);
      expect(p.m).toEqual(single[i]!.m);
      expect(p.v).toEqual(single[i]!.v);
    });
  });

  it('is not used for one thread or small models', () => {
    expect(AdamWPool.create(params(new Rng(1), [10, 10]), 1, 0)).toBeUndefined();
    expect(AdamWPool.create(params(new Rng(1), [10, 10]), 2)).toBeUndefined();
  });
});

describe('TrainStep with the AdamW pool (a model above POOL_MIN_PARAMS)', () => {
  it('matches one thread exactly, and its optimizer state saves and restores', async () => {
    const { TrainStep } = await import('../../src/train/step.js');
    const { loadPreset } = await import('../../src/model/presets.js');
    const { initWeights } = await import('../../src/model/weights.js');
    const { configToJson, parameterCount, parseConfig } = await import('../../src/model/config.js');
    const { saveOptimizerState, loadOptimizerState } = await import('../../src/model/training-state.js');
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    // tiny made just wide enough for the pool: 1.08M parameters
    const config = parseConfig({
      ...configToJson(loadPreset('tiny')),
      vocab_size: 512, hidden_size: 192, num_attention_heads: 6, num_key_value_heads: 6, intermediate_size: 512, num_hidden_layers: 2,
    });
    expect(parameterCount(config)).toBeGreaterThan(POOL_MIN_PARAMS);
    const rng = new Rng(5);
    const batch = () => {
      const ids = () => BigInt64Array.from({ length: 2 * 32 }, () => BigInt(rng.int(config.vocabSize)));
      return { inputs: ids(), targets: ids(), batch: 2, seq: 32 };
    };
    const batches = [batch(), batch(), batch()];
    const one = await TrainStep.create(config, initWeights(config, 0), { optimizerThreads: 1, session: { threads: 2 } });
    const pooled = await TrainStep.create(config, initWeights(config, 0), { optimizerThreads: 2, session: { threads: 2 } });
    for (const b of batches.slice(0, 2)) {
      await one.step([b], 1e-3);
      await pooled.step([b], 1e-3);
    }
    const path = join(mkdtempSync(join(tmpdir(), 'growlm-pool-')), 'optimizer.safetensors');
    saveOptimizerState(path, pooled.weights(), pooled.optimizerState());
    const resumed = await TrainStep.create(config, new Map([...pooled.weights()].map(([k, t]) => [k, { ...t, data: (t.data as Float32Array).slice() }])), { optimizerThreads: 2, session: { threads: 2 } });
    resumed.loadOptimizerState(loadOptimizerState(path));
    const last = batches[2]!;
    const [a, b, c] = [await one.step([last], 1e-3), await pooled.step([last], 1e-3), await resumed.step([last], 1e-3)];
    expect(b.loss).toBe(a.loss);
    expect(c.loss).toBe(a.loss);
    // element-wise identity (toEqual on million-element arrays takes seconds)
    const differing = (x: Float32Array, y: Float32Array) => x.reduce((n, v, j) => n + (Object.is(v, y[j]) ? 0 : 1), 0);
    one.params.forEach((p, i) => {
      expect(differing(pooled.params[i]!.data, p.data), p.name).toBe(0);
      expect(differing(resumed.params[i]!.data, p.data), p.name).toBe(0);
      expect(differing(resumed.params[i]!.v, p.v), p.name).toBe(0);
    });
    await Promise.all([one.release(), pooled.release(), resumed.release()]);
  });
});
