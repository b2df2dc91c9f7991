/** A batch of token windows, its validation against a model, and the windows of a token stream. */
import type { ModelConfig } from '../model/config.js';
import { IGNORE_INDEX } from '../model/params.js';
import { GrowlmError } from '../util/errors.js';

export class BatchError extends GrowlmError {}

export interface Batch {
  /** [batch, seq] row-major. */
  inputs: BigInt64Array;
  /** [batch, seq]; IGNORE_INDEX (-100) is ignored. */
  targets?: BigInt64Array;
  batch: number;
  seq: number;
  /**
   * Packed rows (several samples per row), both [batch, seq]: each token's position within its
   * sample (restarting at 0) and its sample's segment id (tokens attend only within a segment).
   */
  packing?: { positions: BigInt64Array; segments: BigInt64Array };
}

export function validateBatch(c: ModelConfig, b: Batch): void {
  if (!(b.batch > 0 && b.seq > 0)) throw new BatchError(`empty batch (${b.batch}×${b.seq})`);
  if (b.seq > c.maxSeqLen) throw new BatchError(`sequence length ${b.seq} exceeds the model's max_position_embeddings ${c.maxSeqLen}`);
  if (b.inputs.length !== b.batch * b.seq) throw new BatchError(`batch of ${b.inputs.length} tokens is not ${b.batch}×${b.seq}`);
  if (b.targets && b.targets.length !== b.inputs.length) throw new BatchError(`targets have ${b.targets.length} entries for ${b.inputs.length} inputs`);
  if (b.packing) {
    const { positions, segments } = b.packing;
    if (positions.length !== b.inputs.length || segments.length !== b.inputs.length) throw new BatchError(`packing has ${positions.length} positions and ${segments.length} segment ids for ${b.inputs.length} inputs`);
    for (let i = 0; i < positions.length; i++) {
      if (positions[i]! < 0n || positions[i]! >= BigInt(c.maxSeqLen)) throw new BatchError(`position ${positions[i]} is outside the model's max_position_embeddings ${c.maxSeqLen}`);
    }
  }
  const V = BigInt(c.vocabSize);
  for (let i = 0; i < b.inputs.length; i++) {
    const t = b.inputs[i]!;
    if (t < 0n || t >= V) throw new BatchError(`token id ${t} is outside the model's vocabulary (size ${c.vocabSize})`);
  }
  if (b.targets) {
    const ignore = BigInt(IGNORE_INDEX);
    for (let i = 0; i < b.targets.length; i++) {
      const t = b.targets[i]!;
      if (t !== ignore && (t < 0n || t >= V)) throw new BatchError(`target id ${t} is outside the model's vocabulary (size ${c.vocabSize})`);
    }
  }
}

/** Split a token stream into non-overlapping [batch, seq+1] windows (inputs = t[:-1], targets = t[1:]). */
export function* windows(tokens: ArrayLike<number>, batch: number, seq: number, maxBatches = Infinity): Generator<Batch> {
  const per = seq + 1;
  const rows = Math.floor(tokens.length / per);
  for (let r0 = 0, n = 0; r0 < rows && n < maxBatches; r0 += batch, n++) {
    const bsz = Math.min(batch, rows - r0);
    const inputs = new BigInt64Array(bsz * seq);
    const targets = new BigInt64Array(bsz * seq);
    for (let r = 0; r < bsz; r++) {
      const base = (r0 + r) * per;
      for (let t = 0; t < seq; t++) {
        inputs[r * seq + t] = BigInt(tokens[base + t]!);
        targets[r * seq + t] = BigInt(tokens[base + t + 1]!);
      }
    }
    yield { inputs, targets, batch: bsz, seq };
  }
}
