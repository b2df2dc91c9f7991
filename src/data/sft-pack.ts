/**
 * Fine-tuning rows into batches, two ways:
 *
 * - `pack`: several samples per row of `seq` positions (first fit decreasing); each token
 *   carries its position within its sample (restarting at 0) and its sample's segment id, so the
 *   packed graph (DecoderOptions.packed) keeps attention inside each sample. The rest of a row is
 *   padding in segment 0 with ignored targets.
 * - `pad`: one sample per row, padded to the longest row of its batch; the plain graph (padding at
 *   the end does not change the earlier positions under the causal mask).
 *
 * An epoch is a shuffle of the samples (seeded by seed and epoch number), so the sampler's state is
 * just (epoch, batch index) and resumes exactly.
 */
import { IGNORE_INDEX } from '../model/params.js';
import { Rng } from '../util/rng.js';
import type { Batch } from './batch.js';
import type { SftRow } from './sft-tokenize.js';

export type PackingMode = 'pack' | 'pad';

function shuffled(n: number, seed: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  const rng = new Rng(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/**
 * Group row indices into bins of at most `seq` positions: first fit decreasing (longest first, ties
 * in the given order), then the bins in a shuffled order (`seed`). Which samples share a row does
 * not matter (they do not see each other); which rows share a batch does, and the shuffle decides it.
 */
export function packBins(lengths: readonly number[], order: readonly number[], seq: number, seed = 0): number[][] {
  const sorted = [...order].sort((a, b) => lengths[b]! - lengths[a]!); // stable: ties keep the shuffled order
  const bins: number[][] = [];
  const free: number[] = [];
  for (const i of sorted) {
    const len = lengths[i]!;
    let b = 0;
    while (b < bins.length && free[b]! < len) b++;
    if (b === bins.length) { bins.push([]); free.push(seq); }
    bins[b]!.push(i);
    free[b]! -= len;
  }
  return shuffled(bins.length, seed).map((k) => bins[k]!);
}

/** One packed row per bin: inputs, targets, positions and segment ids, padded to `seq`. */
export function packedBatch(rows: readonly SftRow[], bins: readonly number[][], seq: number): Batch {
  const n = bins.length;
  const inputs = new BigInt64Array(n * seq);
  const targets = new BigInt64Array(n * seq).fill(BigInt(IGNORE_INDEX));
  const positions = new BigInt64Array(n * seq);
  const segments = new BigInt64Array(n * seq);
  bins.forEach((bin, r) => {
    let at = r * seq;
    bin.forEach((i, k) => {
      const row = rows[i]!;
      for (let t = 0; t < row.inputs.length; t++, at++) {
        inputs[at] = BigInt(row.inputs[t]!);
        targets[at] = BigInt(row.targets[t]!);
        positions[at] = BigInt(t);
        segments[at] = BigInt(k + 1);
      }
    });
  });
  return { inputs, targets, batch: n, seq, packing: { positions, segments } };
}

/** One row per sample, padded to the longest (at most `seq`). */
export function paddedBatch(rows: readonly SftRow[], indices: readonly number[]): Batch {
  const seq = Math.max(...indices.map((i) => rows[i]!.inputs.length));
  const n = indices.length;
  const inputs = new BigInt64Array(n * seq);
  const targets = new BigInt64Array(n * seq).fill(BigInt(IGNORE_INDEX));
  indices.forEach((i, r) => {
    const row = rows[i]!;
    for (let t = 0; t < row.inputs.length; t++) {
      inputs[r * seq + t] = BigInt(row.inputs[t]!);
      targets[r * seq + t] = BigInt(row.targets[t]!);
    }
  });
  return { inputs, targets, batch: n, seq };
}

/** The batches of one pass over `rows` in the given order. */
export function epochBatches(rows: readonly SftRow[], order: readonly number[], batch: number, seq: number, mode: PackingMode, seed = 0): Batch[] {
  const out: Batch[] = [];
  if (mode === 'pack') {
    const bins = packBins(rows.map((r) => r.inputs.length), order, seq, seed);
    for (let b = 0; b < bins.length; b += batch) out.push(packedBatch(rows, bins.slice(b, b + batch), seq));
  } else {
    for (let b = 0; b < order.length; b += batch) out.push(paddedBatch(rows, order.slice(b, b + batch)));
  }
  return out;
}

export interface SftSamplerState {
  epoch: number;
  index: number;
}

/** Endless batches over shuffled epochs of the rows; state() / restore() for exact resumption. */
export class SftSampler {
  private epoch = 0;
  private index = 0;
  private batches: Batch[] = [];
  private batchesEpoch = -1;

  constructor(private readonly rows: readonly SftRow[], private readonly o: { batch: number; seq: number; seed: number; mode: PackingMode }) {}

  private load(): void {
    if (this.batchesEpoch === this.epoch) return;
    const seed = this.o.seed * 1000003 + this.epoch;
    this.batches = epochBatches(this.rows, shuffled(this.rows.length, seed), this.o.batch, this.o.seq, this.o.mode, seed + 1);
    this.batchesEpoch = this.epoch;
  }

  /** Batches in one epoch (the first epoch's count; packing may differ by a batch between epochs). */
  batchesPerEpoch(): number {
    this.load();
    return this.batches.length;
  }

  next(): Batch {
    this.load();
    if (this.index >= this.batches.length) {
      this.epoch++;
      this.index = 0;
      this.load();
    }
    return this.batches[this.index++]!;
  }

  state(): SftSamplerState {
    return { epoch: this.epoch, index: this.index };
  }

  restore(s: SftSamplerState): void {
    this.epoch = s.epoch;
    this.index = s.index;
  }
}
