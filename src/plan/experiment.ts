/**
 * Pieces of the experiment that justifies growth (growth-vs-scratch.ts runs it over seeds): validation
 * curves against cumulative FLOPs, the FLOPs a curve needs to reach a loss, and the figures of each
 * growth of a staged run (the baselines it compares with are baselines.ts's).
 */
import { join } from 'node:path';
import { METRICS_FILE, readMetrics } from '../train/metrics.js';
import type { Plan } from './plan.js';
import type { PlanState } from './run.js';

export interface CurvePoint { flops: number; val_loss: number }

/** Validation points of a series of stage directories, FLOPs cumulative over the stages. */
export function validationCurve(dirs: string[]): CurvePoint[] {
  const out: CurvePoint[] = [];
  let offset = 0;
  for (const d of dirs) {
    const { entries } = readMetrics(join(d, METRICS_FILE));
    for (const e of entries) if (e.val_loss !== undefined && e.val_loss !== null) out.push({ flops: offset + e.flops, val_loss: e.val_loss });
    offset += entries.at(-1)?.flops ?? 0;
  }
  return out;
}

/** FLOPs at which a curve first reaches `target` (linear interpolation between evaluations), or null. */
export function flopsToReach(curve: CurvePoint[], target: number): number | null {
  for (let i = 0; i < curve.length; i++) {
    const p = curve[i]!;
    if (p.val_loss <= target) {
      if (i === 0) return p.flops;
      const q = curve[i - 1]!;
      return q.flops + ((q.val_loss - target) / (q.val_loss - p.val_loss)) * (p.flops - q.flops);
    }
  }
  return null;
}

export interface ExperimentResult {
  staged_flops: number;
  scratch_flops: number;
  scratch_final_val_loss: number;
  staged_final_val_loss: number;
  /** Training FLOPs the staged run needed to reach the scratch run's final validation loss. */
  staged_flops_to_reach_scratch: number | null;
  /** staged_flops_to_reach_scratch / scratch_flops (below 1: growth saved compute). */
  flops_ratio: number | null;
  growth: { from_stage: string; to_stage: string; loss_before: number; loss_after: number; max_abs_logit_diff: number; last_train_loss_before: number; first_train_loss_after: number }[];
}

/** Per growth of a staged run: the function check and the train losses around it. */
export function growthSummary(plan: Plan, state: PlanState, stagedDirs: string[]): ExperimentResult['growth'] {
  return plan.stages.slice(1).map((s, i) => {
    const g = state.stages[s.name]!.growth!;
    const before = readMetrics(join(stagedDirs[i]!, METRICS_FILE)).entries.slice(-10);
    const after = readMetrics(join(stagedDirs[i + 1]!, METRICS_FILE)).entries[0]!;
    return {
      from_stage: g.from_stage, to_stage: g.to_stage, loss_before: g.loss_before, loss_after: g.loss_after, max_abs_logit_diff: g.max_abs_logit_diff,
      last_train_loss_before: before.reduce((a, e) => a + (e.loss ?? NaN), 0) / before.length, first_train_loss_after: after.loss ?? NaN,
    };
  });
}

