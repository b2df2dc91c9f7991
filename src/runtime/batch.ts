/** A batch of token windows and its validation against a model. */
import type { ModelConfig } from '../model/config.js';
import { IGNORE_INDEX } from '../../graphs/loss.js';
import { RuntimeError } from './session.js';

export interface Batch {
  /** [batch, seq] row-major. */
  inputs: BigInt64Array;
  /** [batch, seq]; IGNORE_INDEX (-100) is ignored. */
  targets?: BigInt64Array;
  batch: number;
  seq: number;
}

export function validateBatch(c: ModelConfig, b: Batch): void {
  if (!(b.batch > 0 && b.seq > 0)) throw new RuntimeError(`empty batch (${b.batch}×${b.seq})`);
  if (b.seq > c.maxSeqLen) throw new RuntimeError(`sequence length ${b.seq} exceeds the model's max_position_embeddings ${c.maxSeqLen}`);
  if (b.inputs.length !== b.batch * b.seq) throw new RuntimeError(`batch of ${b.inputs.length} tokens is not ${b.batch}×${b.seq}`);
  if (b.targets && b.targets.length !== b.inputs.length) throw new RuntimeError(`targets have ${b.targets.length} entries for ${b.inputs.length} inputs`);
  const V = BigInt(c.vocabSize);
  for (let i = 0; i < b.inputs.length; i++) {
    const t = b.inputs[i]!;
    if (t < 0n || t >= V) throw new RuntimeError(`token id ${t} is outside the model's vocabulary (size ${c.vocabSize})`);
  }
  if (b.targets) {
    const ignore = BigInt(IGNORE_INDEX);
    for (let i = 0; i < b.targets.length; i++) {
      const t = b.targets[i]!;
      if (t !== ignore && (t < 0n || t >= V)) throw new RuntimeError(`target id ${t} is outside the model's vocabulary (size ${c.vocabSize})`);
    }
  }
}
