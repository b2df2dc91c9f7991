import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jaccard, normalizeText, sampleText, selectSamples, shingleHashes } from '../../src/data/sft-select.js';
import { Rng } from '../../src/util/rng.js';

const WORDS = 'apple river stone cloud green window market silver garden thunder paper lantern orange violet candle meadow'.split(' ');

function sentence(rng: Rng, n: number): string {
  return Array.from({ length: n }, () => WORDS[rng.int(WORDS.length)]).join(' ');
}

const qa = (q: string, a: string) => ({ messages: [{ role: 'user', content: q }, { role: 'assistant', content: a }] });

describe('sampleText and normalizeText', () => {
  it('reads every SFT shape', () => {
    expect(sampleText(qa('Q?', 'A.'))).toBe('Q?\nA.');
    expect(sampleText({ prompt: 'P', completion: 'C' })).toBe('P\nC');
    expect(sampleText({ instruction: 'I', input: '', output: 'O' })).toBe('I\nO');
    expect(sampleText('plain')).toBe('plain');
  });
  it('ignores case, punctuation, spacing and Unicode compatibility forms', () => {
    expect(normalizeText('  What is  the CAPITAL of   France?\nParis.')).toBe('what is the capital of france paris');
    expect(normalizeText('ﬁne — Ｆｕｌｌ')).toBe('fine full');
    expect(normalizeText('Côte d’Ivoire')).toBe('côte d ivoire');
  });
});

describe('selectSamples: filters', () => {
  it('removes exact duplicates after normalisation, keeping the first; counts per reason', () => {
    const s = [qa('What is the capital of France?', 'Paris'), qa('what is the capital of france', 'PARIS.'), qa('Define the noun dog.', 'a domesticated canid'), qa('', ''), { prompt: 'x'.repeat(50), completion: 'y' }];
    const r = selectSamples(s, { mode: 'random', seed: 1, maxChars: 45 });
    expect(r.summary.removed).toEqual({ too_short: 1, too_long: 1, exact_duplicate: 1, near_duplicate: 0 });
    expect(r.summary.selected).toBe(2);
    expect(new Set(r.indices)).toEqual(new Set([0, 2]));
    expect(r.samples).toHaveLength(2);
  });

  it('removes a near-duplicate pair (one edited word in a long text) and keeps distinct texts', () => {
    const rng = new Rng(7);
    const base = sentence(rng, 60);
    const edited = base.replace(/^(\S+)/, 'zebra');
    expect(jaccard(shingleHashes(normalizeText(base)), shingleHashes(normalizeText(edited)))).toBeGreaterThan(0.9);
    const others = Array.from({ length: 30 }, () => sentence(rng, 60));
    const r = selectSamples([base, ...others, edited], { mode: 'random', seed: 3 });
    expect(r.summary.removed.near_duplicate).toBe(1);
    expect(r.indices).not.toContain(31); // the later of the pair goes
    expect(r.indices).toContain(0);
    expect(r.summary.selected).toBe(31);
  });

  it('property: a pair at Jaccard ≥ 0.85 is always removed, a pair below 0.8 never', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 40 }), (seed, edits) => {
      const rng = new Rng(seed);
      const a = Array.from({ length: 80 }, () => WORDS[rng.int(WORDS.length)]!);
      const b = [...a];
      for (let e = 0; e < edits; e++) b[rng.int(b.length)] = `w${rng.int(1000)}`;
      const ta = a.join(' '), tb = b.join(' ');
      const j = jaccard(shingleHashes(normalizeText(ta)), shingleHashes(normalizeText(tb)));
      const r = selectSamples([ta, tb], { mode: 'random', seed });
      if (j >= 0.85) expect(r.summary.removed.near_duplicate).toBe(1);
      if (j < 0.8) expect(r.summary.removed.near_duplicate).toBe(0);
    }), { numRuns: 150, seed: 42 });
  });

  it('the threshold is respected: 1 turns near-duplicate removal off', () => {
    const rng = new Rng(2);
    const a = sentence(rng, 60);
    const b = a.replace(/\S+$/, 'zebra');
    expect(selectSamples([a, b], { mode: 'random', seed: 0, nearThreshold: 1 }).summary.removed.near_duplicate).toBe(0);
    expect(selectSamples([a, b], { mode: 'random', seed: 0 }).summary.removed.near_duplicate).toBe(1);
  });

  it('rejects bad settings with one-line errors', () => {
    expect(() => selectSamples([], { mode: 'best' as never, seed: 0 })).toThrow(/random or diverse/);
    expect(() => selectSamples([], { mode: 'random', seed: 0, maxSamples: -1 })).toThrow(/maxSamples/);
    expect(() => selectSamples([], { mode: 'random', seed: 0, nearThreshold: 0 })).toThrow(/nearThreshold/);
  });
});

describe('selectSamples: order', () => {
  const pool = (n: number, seed: number) => {
    const rng = new Rng(seed);
    return Array.from({ length: n }, (_, i) => qa(`question ${i}: ${sentence(rng, 6)}?`, sentence(rng, 4)));
  };

  it('property: deterministic for a seed, maxSamples respected, no sample twice, nested over sizes', () => {
    const samples = pool(120, 5);
    fc.assert(fc.property(fc.constantFrom('random', 'diverse' as const), fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 130 }), (mode, seed, max) => {
      const a = selectSamples(samples, { mode, seed, maxSamples: max });
      const b = selectSamples(samples, { mode, seed, maxSamples: max });
      expect(a.indices).toEqual(b.indices);
      expect(a.indices.length).toBe(Math.min(max, 120));
      expect(new Set(a.indices).size).toBe(a.indices.length);
      expect(a.summary.selected + a.summary.not_selected).toBe(a.summary.kept_after_filters);
      const all = selectSamples(samples, { mode, seed });
      expect(all.indices.slice(0, a.indices.length)).toEqual(a.indices);
    }), { numRuns: 30, seed: 9 });
  });

  it('different seeds give different random selections', () => {
    const samples = pool(200, 1);
    const a = selectSamples(samples, { mode: 'random', seed: 1, maxSamples: 20 }).indices;
    const b = selectSamples(samples, { mode: 'random', seed: 2, maxSamples: 20 }).indices;
    expect(a).not.toEqual(b);
  });

  it('diverse covers the clusters of a skewed set better than random', () => {
    // one big template (900 definitions) and 9 small topics of 10 samples each, each with its own vocabulary
    const rng = new Rng(11);
    const samples: { messages: { role: string; content: string }[]; topic: number }[] = [];
    for (let i = 0; i < 900; i++) samples.push({ ...qa(`Define the noun ${sentence(rng, 1)}${i}.`, `a kind of ${sentence(rng, 5)}`), topic: 0 });
    const topics = ['capital country city nation', 'morse dot dash signal', 'president term vice successor', 'element symbol atomic weight', 'latin english verb translate',
      'poem line author verse', 'opposite antonym negative positive', 'currency money coin bank', 'flower meaning symbol love'];
    topics.forEach((t, k) => {
      const w = t.split(' ');
      for (let i = 0; i < 10; i++) samples.push({ ...qa(`${w[i % 4]} ${w[(i + 1) % 4]} ${w[(i + 2) % 4]} ${w[0]}${i}?`, `${w[(i + 3) % 4]}`), topic: k + 1 });
    });
    const cover = (idx: number[]) => new Set(idx.map((i) => samples[i]!.topic)).size;
    const covDiverse: number[] = [], covRandom: number[] = [];
    for (const seed of [1, 2, 3, 4, 5]) {
      covDiverse.push(cover(selectSamples(samples, { mode: 'diverse', seed, maxSamples: 20, clusters: 16 }).indices));
      covRandom.push(cover(selectSamples(samples, { mode: 'random', seed, maxSamples: 20 }).indices));
    }
    for (const c of covDiverse) expect(c).toBe(10);
    expect(Math.max(...covRandom)).toBeLessThan(10);
  });

  it('the diverse summary counts the picks per cluster', () => {
    const r = selectSamples(pool(100, 3), { mode: 'diverse', seed: 0, maxSamples: 30, clusters: 8 });
    expect(r.summary.clusters).toHaveLength(8);
    expect(r.summary.clusters!.reduce((a, b) => a + b, 0)).toBe(30);
  });
});
