/**
 * Statistics for the growth lab: mean ± std over seeds, ties (differences smaller than the spread),
 * and the loss bump after a growth measured on a run's metric lines.
 */

export interface MeanStd {
  mean: number;
  /** Sample standard deviation (n − 1); 0 for a single value. */
  std: number;
  n: number;
}

/** Mean and sample standard deviation of the finite values (NaN mean when there are none). */
export function meanStd(xs: readonly number[]): MeanStd {
  const v = xs.filter((x) => Number.isFinite(x));
  const n = v.length;
  if (n === 0) return { mean: NaN, std: NaN, n: 0 };
  const mean = v.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, n };
}

export type Verdict = 'better' | 'worse' | 'tie' | 'reference';

/**
 * Compare a (lower is better) against a reference: a tie when |Δmean| is not larger than the spread
 * of the difference of one run of each, √(std_a² + std_ref²). With a single seed (std 0) every
 * difference counts, so run ≥ 3 seeds before reading verdicts.
 */
export function verdict(a: MeanStd, ref: MeanStd): Exclude<Verdict, 'reference'> {
  const spread = Math.sqrt(a.std ** 2 + ref.std ** 2);
  const d = a.mean - ref.mean;
  if (!Number.isFinite(d) || Math.abs(d) <= spread) return 'tie';
  return d < 0 ? 'better' : 'worse';
}

/**
 * A paired comparison: `d` holds the per-seed differences a − ref (the two arms share each seed's
 * init, data order and validation batches, so the seed-to-seed spread they share cancels); a tie
 * when the mean difference is within its own spread (or there is a single seed).
 */
export function pairedVerdict(d: MeanStd): Exclude<Verdict, 'reference'> {
  if (!Number.isFinite(d.mean) || d.n < 2 || Math.abs(d.mean) <= d.std) return 'tie';
  return d.mean < 0 ? 'better' : 'worse';
}

/** `1.2345 ± 0.0123` (or `1.2345` for one seed). */
export function formatMeanStd(m: MeanStd, digits = 4): string {
  if (!Number.isFinite(m.mean)) return '—';
  return m.n > 1 ? `${m.mean.toFixed(digits)} ± ${m.std.toFixed(digits)}` : m.mean.toFixed(digits);
}

/** The metric line fields the bump measurement reads (a subset of the trainer's StepLog). */
export interface MetricPoint {
  step: number;
  loss: number | null;
  val_loss?: number | null;
}

export interface BumpOptions {
  /** Pre-growth train losses used for the noise and the level (the last `window` steps). Default 50. */
  noiseWindow?: number;
  /** Post-growth train losses are averaged over this many steps before their peak is taken. Default 5. */
  smooth?: number;
}

export interface Bump {
  /** Last validation loss before growth. */
  pre_val_loss: number;
  /** Mean train loss over the last noiseWindow steps before growth. */
  pre_train_loss: number;
  /**
   * Step-to-step train-loss noise before growth: std of consecutive differences / √2 (the std of
   * one step's loss around the local trend, not counting the trend itself).
   */
  train_noise: number;
  /** max(0, peak validation loss after growth − pre_val_loss). */
  val_bump: number;
  /** Step (after growth) of the peak validation loss. */
  val_peak_step: number | null;
  /** max(0, peak of the `smooth`-step moving average of the train loss after growth − pre_train_loss). */
  train_bump: number;
  /** train_bump in units of the noise of a `smooth`-step average, train_noise / √smooth. */
  z: number;
  /**
   * Steps after growth until the validation loss is back at or below pre_val_loss: 0 when it never
   * rose above it, null when it had not recovered by the end of the run.
   */
  steps_to_recover: number | null;
}

/**
 * The loss bump after a growth. `before`: the metric lines of the run the model grew from (its
 * last validation loss is the reference); `after`: the grown model's lines, steps counted from 1.
 */
export function measureBump(before: readonly MetricPoint[], after: readonly MetricPoint[], o: BumpOptions = {}): Bump {
  const win = o.noiseWindow ?? 50, smooth = o.smooth ?? 5;
  const preVal = [...before].reverse().find((e) => e.val_loss !== undefined && e.val_loss !== null)?.val_loss;
  if (preVal === undefined || preVal === null) throw new RangeError('measureBump: no validation loss before growth');
  const tail = before.map((e) => e.loss).filter((l): l is number => l !== null && Number.isFinite(l)).slice(-win);
  if (tail.length < 3) throw new RangeError(`measureBump: ${tail.length} finite train losses before growth, need ≥ 3`);
  const preTrain = tail.reduce((a, b) => a + b, 0) / tail.length;
  const diffs = tail.slice(1).map((l, i) => l - tail[i]!);
  const noise = meanStd(diffs).std / Math.SQRT2;

  const vals = after.filter((e) => e.val_loss !== undefined && e.val_loss !== null) as { step: number; val_loss: number }[];
  let peak = -Infinity, peakStep: number | null = null;
  for (const e of vals) if (e.val_loss > peak) { peak = e.val_loss; peakStep = e.step; }
  const valBump = Math.max(0, peak - preVal);
  let recover: number | null = 0;
  if (valBump > 0) {
    const back = vals.find((e) => e.step > peakStep! && e.val_loss <= preVal);
    recover = back ? back.step : null;
  }

  const losses = after.map((e) => e.loss).filter((l): l is number => l !== null && Number.isFinite(l));
  let trainPeak = -Infinity;
  for (let i = 0; i + smooth <= losses.length; i++) {
    let s = 0;
    for (let k = i; k < i + smooth; k++) s += losses[k]!;
    trainPeak = Math.max(trainPeak, s / smooth);
  }
  const trainBump = Math.max(0, trainPeak - preTrain);
  const z = trainBump === 0 ? 0 : trainBump / (noise / Math.sqrt(smooth));
  return {
    pre_val_loss: preVal, pre_train_loss: preTrain, train_noise: noise, val_bump: valBump, val_peak_step: peakStep,
    train_bump: trainBump, z, steps_to_recover: recover,
  };
}
