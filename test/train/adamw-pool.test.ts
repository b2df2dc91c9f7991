import { describe, expect, it } from 'vitest';
import { DEFAULT_ADAMW, type ParamState, adamwStep } from '../../src/train/adamw.js';
import { AdamWPool } from '../../src/train/adamw-pool.js';
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
