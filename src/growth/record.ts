/**
 * GrowthRecord: what one growth did, as `growModelDir` returns it, `growlm grow --json` prints it,
 * a plan stores it (plan-state.json, with the stages it joins) and the report reads it (run.json).
 */
import type { MaskState, ModelConfig } from '../model/config.js';
import type { GrowthMethod, Placement } from './types.js';

/** The batch the check and the layer-distance calibration ran on. */
export type CheckBatch = 'held-out' | 'random tokens';

export interface ModelSizes {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  vocab_size: number;
}

export interface GrowthRecord {
  /** Source and grown model directories. */
  model: string;
  out: string;
  method: GrowthMethod;
  placement: Placement;
  /** Grown tensor by tensor from disk (memory bounded by the largest tensor). */
  streamed: boolean;
  from: ModelSizes;
  to: ModelSizes;
  /** The grown model's MSG masks (null without masks). */
  masks: MaskState | null;
  /** placement 'distance': the old layers' distances that placed the new ones. */
  layer_distances: number[] | null;
  /** What the check (and calibration) ran on; null when neither ran. */
  check_batch: CheckBatch | null;
  /** The function-preservation check (check.ts): NaN in memory, null in JSON, when it did not run. */
  max_abs_logit_diff: number;
  max_abs_logit: number;
  loss_before: number;
  loss_after: number;
  /** The growth itself (streamed: reading, growing and writing, tensor by tensor). */
  seconds: number;
  /** Writing the grown model (NaN / null when streamed: part of `seconds`). */
  write_seconds: number;
  /** Bytes of the grown weights. */
  bytes_written: number;
  grow_gb_per_s: number;
}

/** A growth inside a staged run: the record and the stages it joins (plan-state.json, run.json). */
export interface StagedGrowth extends GrowthRecord {
  /** Label of the series this growth belongs to. */
  series: string;
  from_stage: string;
  to_stage: string;
}

export function modelSizes(c: ModelConfig): ModelSizes {
  return { hidden_size: c.hiddenSize, intermediate_size: c.intermediateSize, num_hidden_layers: c.numLayers, num_attention_heads: c.numHeads, vocab_size: c.vocabSize };
}
