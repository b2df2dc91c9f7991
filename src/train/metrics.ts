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
  /** Present when the loss spiked (lossSpikeZ): its z-score and the sampler index of the step's first batch. */
  spike?: LossSpike;
}

export interface LossSpike {
  /** (loss − mean) / standard deviation of the previous SPIKE_WINDOW finite losses. */
  z: number;
  /** Batches the sampler had drawn before this step (its first micro-batch is number first_batch, from 0). */
  first_batch: number;
}

/** Loss spikes: z-score of a step's loss against the previous finite losses of a running window. */
export const SPIKE_WINDOW = 50, SPIKE_MIN_WINDOW = 10, SPIKE_Z = 4;

/**
 * The z-score of `loss` against `window` (the previous finite losses, oldest first) when it is a
 * spike (z > SPIKE_Z), else undefined. No verdict before SPIKE_MIN_WINDOW losses, nor for a flat window.
 */
export function lossSpikeZ(window: readonly number[], loss: number): number | undefined {
  const w = window.slice(-SPIKE_WINDOW);
  if (w.length < SPIKE_MIN_WINDOW || !Number.isFinite(loss)) return undefined;
  const mean = w.reduce((a, b) => a + b, 0) / w.length;
  const sd = Math.sqrt(w.reduce((a, b) => a + (b - mean) ** 2, 0) / w.length);
  if (!(sd > 0)) return undefined;
  const z = (loss - mean) / sd;
  return z > SPIKE_Z ? z : undefined;
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
