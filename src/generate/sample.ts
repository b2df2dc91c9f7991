/**
 * Next-token sampling from one row of logits: temperature, top-k, top-p (nucleus), and greedy
 * decoding at temperature 0. Pure functions over a seeded Rng, so a seed fixes the output.
 *
 * The order of the filters is the usual one (as in Hugging Face's `generate`): scale by 1/temperature,
 * keep the k highest logits, softmax, keep the smallest set of most likely tokens whose probability
 * adds up to at least top_p, renormalize, draw. Ties are broken towards the lower token id.
 */
import { GrowlmError } from '../util/errors.js';
import type { Rng } from '../util/rng.js';

export interface SamplingOptions {
  /** 0 = greedy (argmax); otherwise > 0. */
  temperature: number;
  /** Keep the k most likely tokens; 0 = no limit. */
  topK: number;
  /** Nucleus: keep the most likely tokens up to this cumulative probability, in (0, 1]; 1 = no limit. */
  topP: number;
}

export const DEFAULT_SAMPLING: SamplingOptions = { temperature: 0.8, topK: 40, topP: 1 };

export class SamplingError extends GrowlmError {}

/** Throw a one-line error for sampling options that make no sense. */
export function validateSampling(o: SamplingOptions): void {
  if (!Number.isFinite(o.temperature) || o.temperature < 0) throw new SamplingError(`temperature must be a number ≥ 0 (0 = greedy), got ${o.temperature}`);
  if (!Number.isSafeInteger(o.topK) || o.topK < 0) throw new SamplingError(`top-k must be an integer ≥ 0 (0 = no limit), got ${o.topK}`);
  if (!Number.isFinite(o.topP) || !(o.topP > 0 && o.topP <= 1)) throw new SamplingError(`top-p must be in (0, 1], got ${o.topP}`);
}

/** Index of the largest of the first `n` logits (the lowest index on ties; NaN never wins). */
export function argmax(logits: ArrayLike<number>, n = logits.length): number {
  let best = -1, bestV = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = logits[i]!;
    if (v > bestV || (best < 0 && v === -Infinity)) { best = i; bestV = v; }
  }
  if (best < 0) throw new SamplingError('the model produced no finite logits (all NaN): it may have diverged');
  return best;
}

/** The ids of the k largest of the first `n` logits, largest first (ties: lower id first). */
function topKIds(logits: ArrayLike<number>, n: number, k: number): number[] {
  if (k <= 0 || k >= n) {
    const ids = Array.from({ length: n }, (_, i) => i);
    return ids.sort((a, b) => cmp(logits, a, b));
  }
  // Keep a sorted window of the best k: one pass, O(n) while few values beat the k-th.
  const ids: number[] = [];
  for (let i = 0; i < n; i++) {
    const v = logits[i]!;
    if (Number.isNaN(v)) continue;
    if (ids.length === k && !(v > logits[ids[k - 1]!]!)) continue;
    let j = ids.length === k ? k - 1 : ids.length;
    while (j > 0 && v > logits[ids[j - 1]!]!) {
      ids[j] = ids[j - 1]!;
      j--;
    }
    ids[j] = i;
  }
  return ids;
}

/** Descending by logit, NaN last, ties by id. */
function cmp(logits: ArrayLike<number>, a: number, b: number): number {
  const x = logits[a]!, y = logits[b]!;
  if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) ? (Number.isNaN(y) ? a - b : 1) : -1;
  return y > x ? 1 : y < x ? -1 : a - b;
}

export interface Distribution {
  /** Candidate token ids, most likely first. */
  ids: number[];
  /** Their probabilities (sum 1). */
  probs: Float64Array;
}

/**
 * The distribution a draw is made from, after temperature, top-k and top-p, over the first `n`
 * logits (pass the tokenizer's vocabulary size when the model's vocabulary is padded beyond it).
 * At temperature 0 it is the argmax alone.
 */
export function samplingDistribution(logits: ArrayLike<number>, o: SamplingOptions, n = logits.length): Distribution {
  validateSampling(o);
  if (o.temperature === 0) return { ids: [argmax(logits, n)], probs: Float64Array.of(1) };
  let ids = topKIds(logits, n, o.topK).filter((i) => !Number.isNaN(logits[i]!));
  if (ids.length === 0) throw new SamplingError('the model produced no finite logits (all NaN): it may have diverged');
  const max = logits[ids[0]!]!;
  if (max === -Infinity) return { ids: [ids[0]!], probs: Float64Array.of(1) };
  let probs = new Float64Array(ids.length);
  let sum = 0;
  for (let j = 0; j < ids.length; j++) {
    const p = Math.exp((logits[ids[j]!]! - max) / o.temperature);
    probs[j] = p;
    sum += p;
  }
  for (let j = 0; j < probs.length; j++) probs[j]! /= sum;
  if (o.topP < 1) {
    let cum = 0, keep = 0;
    while (keep < probs.length) {
      cum += probs[keep]!;
      keep++;
      if (cum >= o.topP) break;
    }
    ids = ids.slice(0, keep);
    probs = probs.slice(0, keep);
    for (let j = 0; j < keep; j++) probs[j]! /= cum;
  }
  // drop the tail that underflowed to probability 0
  let last = probs.length;
  while (last > 1 && probs[last - 1] === 0) last--;
  return { ids: ids.slice(0, last), probs: probs.slice(0, last) };
}

/** Draw the next token id from one row of logits. */
export function sampleToken(logits: ArrayLike<number>, o: SamplingOptions, rng: Rng, n = logits.length): number {
  if (o.temperature === 0) {
    validateSampling(o);
    return argmax(logits, n);
  }
  const { ids, probs } = samplingDistribution(logits, o, n);
  const u = rng.uniform();
  let cum = 0;
  for (let j = 0; j < ids.length; j++) {
    cum += probs[j]!;
    if (u < cum) return ids[j]!;
  }
  return ids[ids.length - 1]!; // rounding: u ≥ the computed total
}

/**
 * Logits with a repetition penalty (CTRL, Keskar et al. 2019, as Hugging Face applies it): the
 * logit of every id in `seen` is divided by `penalty` when positive and multiplied by it otherwise.
 * Returns a new array; penalty 1 leaves the values as they are.
 */
export function applyRepetitionPenalty(logits: ArrayLike<number>, seen: Iterable<number>, penalty: number): Float32Array {
  validateRepetitionPenalty(penalty);
  const out = Float32Array.from(logits);
  for (const id of seen) {
    if (id < 0 || id >= out.length) continue;
    const v = out[id]!;
    out[id] = v > 0 ? v / penalty : v * penalty;
  }
  return out;
}

export function validateRepetitionPenalty(penalty: number): void {
  if (!(Number.isFinite(penalty) && penalty > 0)) throw new SamplingError(`repetition penalty must be a number > 0 (1 = none), got ${penalty}`);
}
