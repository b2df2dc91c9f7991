/**
 * Selecting a small curated SFT set: length filters, exact-duplicate removal, near-duplicate removal
 * (MinHash with LSH banding) and an ordering — a seeded shuffle (`random`) or a diversity-aware one
 * (`diverse`) — cut at `maxSamples`. The summary counts what each step removed.
 *
 * - Text of a sample: the contents of its turns (or prompt + completion, or instruction + input +
 *   output) joined by newlines; normalised for comparison by NFKC, lower case, and every run of
 *   characters that are not letters or digits turned into one space.
 * - Exact duplicates: the same normalised text. The first occurrence is kept.
 * - Near duplicates: Jaccard similarity ≥ `nearThreshold` (default 0.8) of the sets of character
 *   5-grams of the normalised text. Candidates come from MinHash (120 seeded 32-bit hashes) with LSH
 *   banding (20 bands of 6 rows: a pair at Jaccard 0.8 shares a band with probability 99.8%, at 0.9
 *   with ≈ 100%, at 0.3 with 1.4%); each candidate pair is then checked on the exact Jaccard of the
 *   shingle sets, so nothing below the threshold is ever removed. Samples are taken in input order
 *   and one is dropped when it is near a sample already kept.
 * - `diverse`: farthest-point clustering (greedy k-center, a 2-approximation of the k-center
 *   problem) over hashed tf-idf features of words (cosine distance; words of a single sample are
 *   left out: unique names would make every sample an outlier; word pairs were tried and left out:
 *   their high idf spread one template's samples as far apart as two unrelated templates), `clusters`
 *   centres (default 64), every sample assigned to its nearest centre; then the centres in the order
 *   they were picked, then rounds over the clusters (in a seeded order), one not yet picked member
 *   of each (a seeded shuffle) per round. So the first picks are the most spread out and every
 *   cluster — a template, a subject, a source — is represented equally until it runs out, where a
 *   random draw would follow the largest source. k-center alone over all samples would cost
 *   O(n · maxSamples) distance computations; clustering first costs O(n · clusters) and the
 *   round-robin is linear. Both orders are prefixes of the same order for a larger `maxSamples`,
 *   so the subsets of an experiment over sizes are nested.
 */
import { Rng } from '../util/rng.js';
import { InvalidSettingError } from '../util/errors.js';

export type SelectMode = 'random' | 'diverse';

export interface SelectOptions<T = unknown> {
  mode: SelectMode;
  /** Keep at most this many (after the filters). */
  maxSamples?: number;
  seed: number;
  /** Drop samples whose text (normalised) is shorter than this many characters. Default 1. */
  minChars?: number;
  /** Drop samples whose text (raw) is longer than this many characters. Default: no limit. */
  maxChars?: number;
  /** Jaccard threshold of near duplicates (character 5-grams); 1 turns near-duplicate removal off. Default 0.8. */
  nearThreshold?: number;
  /** Clusters of the diverse order. Default 64. */
  clusters?: number;
  /** The text of a sample, when it is none of the SFT shapes `sampleText` knows. */
  text?: (sample: T) => string;
}

export interface SelectSummary {
  mode: SelectMode;
  seed: number;
  input: number;
  /** Samples removed, per reason. */
  removed: { too_short: number; too_long: number; exact_duplicate: number; near_duplicate: number };
  /** Samples that passed the filters. */
  kept_after_filters: number;
  /** Samples that passed the filters but were left out by maxSamples. */
  not_selected: number;
  selected: number;
  near_threshold: number;
  /** Diverse mode: the number of clusters and how many selected samples each cluster gave. */
  clusters?: number[];
}

export interface Selection<T> {
  samples: T[];
  /** Indices of the selected samples in the input, in selection order. */
  indices: number[];
  summary: SelectSummary;
}

export const SHINGLE = 5;
export const MINHASH_BANDS = 20;
export const MINHASH_ROWS = 6;
const NUM_HASHES = MINHASH_BANDS * MINHASH_ROWS;
const FEATURE_DIM = 128;

interface Turn { role?: unknown; content?: unknown }

/** The text of an SFT sample in any of the shapes growlm reads (messages, prompt/completion, instruction/input/output) or a string. */
export function sampleText(s: unknown): string {
  if (typeof s === 'string') return s;
  if (typeof s !== 'object' || s === null) return '';
  const o = s as Record<string, unknown>;
  if (Array.isArray(o.messages)) return (o.messages as Turn[]).map((m) => (typeof m?.content === 'string' ? m.content : '')).join('\n');
  const parts = ['prompt', 'completion', 'instruction', 'input', 'output'].map((k) => o[k]).filter((v): v is string => typeof v === 'string' && v !== '');
  return parts.join('\n');
}

/** NFKC, lower case, runs of non-letters/digits → one space, trimmed. */
export function normalizeText(s: string): string {
  return s.normalize('NFKC').toLowerCase().replace(/[^\p{L}\p{N}]+/gu, ' ').trim();
}

/** 32-bit FNV-1a of a string's UTF-16 code units. */
function fnv1a(s: string, from = 0, to = s.length): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** murmur3's 32-bit finaliser: a seeded hash family as mix(x ^ seed). */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Hashes of the distinct character n-grams of a normalised text (the whole text when shorter than n). */
export function shingleHashes(norm: string, n = SHINGLE): Uint32Array {
  const set = new Set<number>();
  if (norm.length <= n) set.add(fnv1a(norm));
  else for (let i = 0; i + n <= norm.length; i++) set.add(fnv1a(norm, i, i + n));
  return Uint32Array.from(set).sort();
}

/** Exact Jaccard similarity of two sorted sets of hashes. */
export function jaccard(a: Uint32Array, b: Uint32Array): number {
  let i = 0, j = 0, inter = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) { inter++; i++; j++; } else if (a[i]! < b[j]!) i++; else j++;
  }
  const union = a.length + b.length - inter;
  return union === 0 ? 1 : inter / union;
}

const HASH_SEEDS = Uint32Array.from({ length: NUM_HASHES }, (_, i) => mix32(0x9e3779b9 ^ Math.imul(i + 1, 0x632be5ab)));

/** MinHash signature (NUM_HASHES values) of a set of shingle hashes. */
export function minhash(shingles: Uint32Array): Uint32Array {
  const sig = new Uint32Array(NUM_HASHES).fill(0xffffffff);
  for (let k = 0; k < shingles.length; k++) {
    const x = mix32(shingles[k]!);
    for (let i = 0; i < NUM_HASHES; i++) {
      // one multiply-xorshift per hash function on the mixed shingle: ≈ 3× cheaper than a full mix each
      let h = Math.imul(x ^ HASH_SEEDS[i]!, 0x85ebca6b);
      h = (h ^ (h >>> 15)) >>> 0;
      if (h < sig[i]!) sig[i] = h;
    }
  }
  return sig;
}

/**
 * Indices (into `shingles`) of the samples that are near duplicates (Jaccard ≥ threshold) of an
 * earlier sample that is kept; input order decides which of a pair stays.
 */
export function nearDuplicates(shingles: readonly Uint32Array[], threshold: number): Set<number> {
  // a band's key: its rows hashed to one number (a collision only adds a candidate, which is checked)
  const buckets: Map<number, number[]>[] = Array.from({ length: MINHASH_BANDS }, () => new Map());
  const dropped = new Set<number>();
  for (let s = 0; s < shingles.length; s++) {
    const sig = minhash(shingles[s]!);
    const keys: number[] = [];
    const seen = new Set<number>();
    let dup = false;
    for (let b = 0; b < MINHASH_BANDS; b++) {
      let key = 0x811c9dc5;
      for (let r = 0; r < MINHASH_ROWS; r++) key = mix32(key ^ sig[b * MINHASH_ROWS + r]!);
      keys.push(key);
      for (const t of buckets[b]!.get(key) ?? []) {
        if (seen.has(t)) continue;
        seen.add(t);
        if (jaccard(shingles[s]!, shingles[t]!) >= threshold) { dup = true; break; }
      }
      if (dup) break;
    }
    if (dup) { dropped.add(s); continue; }
    keys.forEach((k, b) => {
      const list = buckets[b]!.get(k);
      if (list) list.push(s); else buckets[b]!.set(k, [s]);
    });
  }
  return dropped;
}

/**
 * Hashed tf-idf features (words that occur in at least two samples, hashed into
 * FEATURE_DIM dims, unsigned: signed hashing makes colliding terms anti-correlated, which would put
 * unrelated samples farther apart than disjoint ones), L2-normalised.
 */
export function textFeatures(norms: readonly string[]): Float32Array[] {
  const grams = norms.map((t) => (t === '' ? [] : t.split(' ')));
  const df = new Map<string, number>();
  for (const g of grams) for (const x of new Set(g)) df.set(x, (df.get(x) ?? 0) + 1);
  const n = norms.length;
  return grams.map((g) => {
    const v = new Float32Array(FEATURE_DIM);
    const tf = new Map<string, number>();
    for (const x of g) tf.set(x, (tf.get(x) ?? 0) + 1);
    for (const [x, c] of tf) {
      if (df.get(x)! < 2) continue; // a term of one sample says nothing about clusters
      const h = fnv1a(x);
      const w = (1 + Math.log(c)) * (1 + Math.log((1 + n) / (1 + df.get(x)!)));
      const d = h % FEATURE_DIM;
      v[d] = v[d]! + w;
    }
    let norm = 0;
    for (let i = 0; i < FEATURE_DIM; i++) norm += v[i]! * v[i]!;
    norm = Math.sqrt(norm);
    if (norm > 0) for (let i = 0; i < FEATURE_DIM; i++) v[i]! /= norm;
    return v;
  });
}

function cosineDistance(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d += a[i]! * b[i]!;
  return 1 - d;
}

function shuffle(xs: number[], rng: Rng): number[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

/**
 * Farthest-point clustering: `k` centres (the first seeded at random, each next one the sample
 * farthest from all centres so far; ties to the lower index) and each sample's nearest centre.
 */
export function farthestPointClusters(features: readonly Float32Array[], k: number, rng: Rng): { centers: number[]; assignment: Int32Array } {
  const n = features.length;
  const dist = new Float64Array(n).fill(Infinity);
  const assignment = new Int32Array(n).fill(-1);
  const centers: number[] = [];
  let next = n > 0 ? rng.int(n) : -1;
  while (next >= 0 && centers.length < Math.min(k, n)) {
    const c = next, ci = centers.length;
    centers.push(c);
    next = -1;
    let far = -1;
    for (let i = 0; i < n; i++) {
      const d = i === c ? 0 : cosineDistance(features[i]!, features[c]!);
      if (d < dist[i]!) { dist[i] = d; assignment[i] = ci; }
      if (dist[i]! > far) { far = dist[i]!; next = i; }
    }
    if (far <= 0) break; // every sample coincides with a centre
  }
  return { centers, assignment };
}

/** The diverse order of n samples (see the file comment) and the cluster of each. */
export function diverseOrder(features: readonly Float32Array[], clusters: number, rng: Rng): { order: number[]; assignment: Int32Array; k: number } {
  const { centers, assignment } = farthestPointClusters(features, clusters, rng);
  const members: number[][] = centers.map(() => []);
  const isCenter = new Set(centers);
  for (let i = 0; i < features.length; i++) if (!isCenter.has(i)) members[assignment[i]!]!.push(i);
  for (const m of members) shuffle(m, rng);
  const order = [...centers];
  const visit = shuffle(centers.map((_, i) => i), rng);
  const pos = new Array<number>(centers.length).fill(0);
  for (let left = true; left;) {
    left = false;
    for (const c of visit) {
      const m = members[c]!;
      if (pos[c]! < m.length) { order.push(m[pos[c]!]!); pos[c]!++; left = true; }
    }
  }
  return { order, assignment, k: centers.length };
}

/**
 * Filter `samples` and pick at most `maxSamples` of them, randomly or for diversity (see the file
 * comment). Deterministic for a seed; the selections for growing `maxSamples` are nested.
 */
export function selectSamples<T>(samples: readonly T[], options: SelectOptions<T>): Selection<T> {
  const { mode, seed } = options;
  if (mode !== 'random' && mode !== 'diverse') throw new InvalidSettingError('mode', `selection mode must be random or diverse, got ${JSON.stringify(mode)}`);
  const max = options.maxSamples ?? Infinity;
  if (!(max >= 0) || (Number.isFinite(max) && !Number.isInteger(max))) throw new InvalidSettingError('maxSamples', `maxSamples must be a whole number ≥ 0, got ${max}`);
  const threshold = options.nearThreshold ?? 0.8;
  if (!(threshold > 0 && threshold <= 1)) throw new InvalidSettingError('nearThreshold', `nearThreshold must be in (0, 1], got ${threshold}`);
  const minChars = options.minChars ?? 1, maxChars = options.maxChars ?? Infinity;
  const clusters = options.clusters ?? 64;
  if (!(Number.isInteger(clusters) && clusters >= 1)) throw new InvalidSettingError('clusters', `clusters must be a whole number ≥ 1, got ${clusters}`);
  const textOf = options.text ?? sampleText;

  const removed = { too_short: 0, too_long: 0, exact_duplicate: 0, near_duplicate: 0 };
  const seen = new Set<string>();
  let idx: number[] = [];
  const norms: string[] = [];
  samples.forEach((s, i) => {
    const raw = textOf(s);
    const norm = normalizeText(raw);
    if (norm.length < minChars) { removed.too_short++; return; }
    if (raw.length > maxChars) { removed.too_long++; return; }
    if (seen.has(norm)) { removed.exact_duplicate++; return; }
    seen.add(norm);
    idx.push(i);
    norms[i] = norm;
  });
  if (threshold < 1) {
    const near = nearDuplicates(idx.map((i) => shingleHashes(norms[i]!)), threshold);
    removed.near_duplicate = near.size;
    idx = idx.filter((_, k) => !near.has(k));
  }
  const rng = new Rng(seed);
  let order: number[];
  let clusterSizes: number[] | undefined;
  if (mode === 'random') order = shuffle([...idx], rng);
  else {
    const d = diverseOrder(textFeatures(idx.map((i) => norms[i]!)), clusters, rng);
    order = d.order.map((k) => idx[k]!);
    const taken = d.order.slice(0, Math.min(max, d.order.length));
    clusterSizes = new Array<number>(d.k).fill(0);
    for (const k of taken) clusterSizes[d.assignment[k]!]!++;
  }
  const indices = order.slice(0, Math.min(max, order.length));
  return {
    samples: indices.map((i) => samples[i]!),
    indices,
    summary: {
      mode, seed, input: samples.length, removed, kept_after_filters: idx.length, not_selected: idx.length - indices.length, selected: indices.length,
      near_threshold: threshold, ...(clusterSizes ? { clusters: clusterSizes } : {}),
    },
  };
}

/** One line: what the selection kept and removed, and why. */
export function formatSelectSummary(s: SelectSummary): string {
  const r = s.removed;
  const parts = [
    r.too_short && `${r.too_short} too short`, r.too_long && `${r.too_long} too long`,
    r.exact_duplicate && `${r.exact_duplicate} exact duplicates`, r.near_duplicate && `${r.near_duplicate} near duplicates (Jaccard ≥ ${s.near_threshold} of character ${SHINGLE}-grams)`,
    s.not_selected && `${s.not_selected} not selected (${s.mode}${s.clusters ? ` over ${s.clusters.length} clusters` : ''})`,
  ].filter(Boolean);
  return `selected ${s.selected} of ${s.input} samples${parts.length ? `; removed: ${parts.join(', ')}` : ''}`;
}
