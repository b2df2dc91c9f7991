// Sampling on hand-made logits: greedy, temperature, top-k, top-p, determinism.
import { describe, expect, it } from 'vitest';
import { argmax, sampleToken, samplingDistribution, validateSampling } from '../../src/generate/sample.js';
import { Rng } from '../../src/util/rng.js';

const LOGITS = Float32Array.from([1.0, 3.0, -2.0, 2.5, 0.0, 3.0, -1.0, 0.5]);

function histogram(logits: ArrayLike<number>, o: Parameters<typeof sampleToken>[1], draws: number, seed = 7, n?: number): number[] {
  const rng = new Rng(seed);
  const h = new Array<number>(logits.length).fill(0);
  for (let i = 0; i < draws; i++) h[sampleToken(logits, o, rng, n)]!++;
  return h;
}

describe('sampling', () => {
  it('temperature 0 is argmax (lowest id on ties), whatever the other options', () => {
    expect(argmax(LOGITS)).toBe(1);
    const rng = new Rng(1);
    for (let i = 0; i < 20; i++) expect(sampleToken(LOGITS, { temperature: 0, topK: 0, topP: 1 }, rng)).toBe(1);
    expect(sampleToken(LOGITS, { temperature: 0, topK: 3, topP: 0.1 }, rng)).toBe(1);
    // restricted to the first n ids (a vocabulary padded beyond the tokenizer's)
    expect(argmax(LOGITS, 1)).toBe(0);
    expect(samplingDistribution(LOGITS, { temperature: 0, topK: 0, topP: 1 })).toEqual({ ids: [1], probs: Float64Array.of(1) });
  });

  it('top-k restricts the support to the k highest logits', () => {
    const d = samplingDistribution(LOGITS, { temperature: 1, topK: 3, topP: 1 });
    expect(d.ids).toEqual([1, 5, 3]);
    const h = histogram(LOGITS, { temperature: 1, topK: 3, topP: 1 }, 3000);
    expect(h.map((c, i) => (c > 0 ? i : -1)).filter((i) => i >= 0)).toEqual([1, 3, 5]);
    // k = 1 is greedy
    expect(new Set(histogram(LOGITS, { temperature: 1, topK: 1, topP: 1 }, 200))).toEqual(new Set([0, 200]));
    // k ≥ vocabulary keeps everything; 0 means no limit
    expect(samplingDistribution(LOGITS, { temperature: 1, topK: 100, topP: 1 }).ids).toHaveLength(8);
    expect(samplingDistribution(LOGITS, { temperature: 1, topK: 0, topP: 1 }).ids).toHaveLength(8);
  });

  it('probabilities are the softmax of logits / temperature', () => {
    for (const T of [0.5, 1, 2]) {
      const d = samplingDistribution(LOGITS, { temperature: T, topK: 0, topP: 1 });
      const z = Array.from(LOGITS, (l) => Math.exp(l / T));
      const sum = z.reduce((a, b) => a + b, 0);
      d.ids.forEach((id, j) => expect(d.probs[j]).toBeCloseTo(z[id]! / sum, 12));
      expect(d.probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    }
    // empirical frequencies follow them (two tokens: p = sigmoid(1) ≈ 0.731)
    const h = histogram([1, 0], { temperature: 1, topK: 0, topP: 1 }, 20_000, 3);
    expect(h[0]! / 20_000).toBeCloseTo(1 / (1 + Math.exp(-1)), 1);
    // a low temperature concentrates on the maximum
    const cold = histogram(Float32Array.from([0, 1, 0.5]), { temperature: 0.05, topK: 0, topP: 1 }, 500);
    expect(cold[1]).toBe(500);
  });

  it('top-p keeps the smallest most-likely set reaching p', () => {
    // probabilities 0.5, 0.3, 0.15, 0.05
    const logits = [0.5, 0.3, 0.15, 0.05].map(Math.log);
    expect(samplingDistribution(logits, { temperature: 1, topK: 0, topP: 0.5 }).ids).toEqual([0]);
    expect(samplingDistribution(logits, { temperature: 1, topK: 0, topP: 0.6 }).ids).toEqual([0, 1]);
    const d = samplingDistribution(logits, { temperature: 1, topK: 0, topP: 0.9 });
    expect(d.ids).toEqual([0, 1, 2]);
    expect(Array.from(d.probs)).toEqual([0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95].map((p) => expect.closeTo(p, 12)));
    expect(histogram(logits, { temperature: 1, topK: 0, topP: 0.6 }, 2000)[2]).toBe(0);
    // top-k applies first
    expect(samplingDistribution(logits, { temperature: 1, topK: 2, topP: 0.99 }).ids).toEqual([0, 1]);
  });

  it('a seed fixes the draws; different seeds differ', () => {
    const o = { temperature: 1.5, topK: 0, topP: 1 };
    const draw = (seed: number) => { const rng = new Rng(seed); return Array.from({ length: 50 }, () => sampleToken(LOGITS, o, rng)); };
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
  });

  it('ignores NaN and -Infinity logits, fails on all-NaN', () => {
    const l = [NaN, 1, -Infinity, 0];
    expect(samplingDistribution(l, { temperature: 1, topK: 0, topP: 1 }).ids).toEqual([1, 3]);
    expect(argmax(l)).toBe(1);
    expect(() => sampleToken([NaN, NaN], { temperature: 1, topK: 0, topP: 1 }, new Rng(0))).toThrow(/no finite logits/);
    expect(() => argmax([NaN])).toThrow(/no finite logits/);
  });

  it('rejects bad options', () => {
    expect(() => validateSampling({ temperature: -1, topK: 0, topP: 1 })).toThrow(/temperature must be a number ≥ 0/);
    expect(() => validateSampling({ temperature: NaN, topK: 0, topP: 1 })).toThrow(/temperature/);
    expect(() => validateSampling({ temperature: 1, topK: 1.5, topP: 1 })).toThrow(/top-k must be an integer ≥ 0/);
    expect(() => validateSampling({ temperature: 1, topK: -3, topP: 1 })).toThrow(/top-k/);
    expect(() => validateSampling({ temperature: 1, topK: 0, topP: 0 })).toThrow(/top-p must be in \(0, 1\]/);
    expect(() => validateSampling({ temperature: 1, topK: 0, topP: 1.5 })).toThrow(/top-p/);
  });
});
