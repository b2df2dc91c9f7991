/**
 * `metrics.jsonl`: one JSON object per optimizer step, written by the trainer into the model
 * directory and read by the report, experiments and plan runs. The one type of its lines.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export const METRICS_FILE = 'metrics.jsonl';

/** One line of metrics.jsonl. */
export interface MetricsEntry {
  step: number;
  /** Training loss (nats/token). Not finite when the step was skipped: JSON writes that as null, readMetrics reads null back as NaN. */
  loss: number;
  lr: number;
  /** Global gradient norm before clipping (null on disk, NaN in memory, when not finite). */
  grad_norm: number;
  /** Tokens trained on so far in this model directory's run (a plan stage counts from 0). */
  tokens: number;
  tokens_per_s: number;
  /** Training FLOPs so far, counted like `tokens`. */
  flops: number;
  elapsed_s: number;
  /** Present when the update was skipped because the loss or gradients were not finite. */
  skipped?: boolean;
  /** Dynamic loss scaling: the scale after this step (lowered after an overflow, raised after enough good steps). */
  loss_scale?: number;
  val_loss?: number;
  /** Validation bits per byte. */
  val_bpb?: number;
}

export function metricsLine(e: MetricsEntry): string {
  return JSON.stringify(e) + '\n';
}

/**
 * Read a metrics.jsonl; lines that are not JSON objects with numeric step/tokens/flops are skipped
 * and counted (a run killed mid-write leaves a partial last line).
 */
export function readMetrics(path: string): { entries: MetricsEntry[]; skipped: number } {
  const text = readFileSync(path, 'utf8');
  const entries: MetricsEntry[] = [];
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as MetricsEntry;
      if (typeof e === 'object' && e !== null && typeof e.step === 'number' && typeof e.tokens === 'number' && typeof e.flops === 'number') {
        if (e.loss === null) e.loss = NaN;
        if (e.grad_norm === null) e.grad_norm = NaN;
        entries.push(e);
      } else skipped++;
    } catch {
      skipped++;
    }
  }
  return { entries, skipped };
}

/** Keep only the lines up to `step` (a resumed run rewrites what followed its checkpoint). */
export function truncateMetrics(path: string, step: number): void {
  if (!existsSync(path)) return;
  const kept = readFileSync(path, 'utf8').split('\n').filter((l) => {
    if (!l.trim()) return false;
    try {
      return (JSON.parse(l) as { step: number }).step <= step;
    } catch {
      return false;
    }
  });
  writeFileSync(path, kept.map((l) => l + '\n').join(''));
}
