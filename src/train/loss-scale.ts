/**
 * Dynamic loss scaling for half-precision training (as torch.cuda.amp.GradScaler): the loss is
 * multiplied by `scale` before differentiation so that small gradients survive float16; a step
 * whose gradients overflow (inf/nan) is skipped and the scale halved; after `interval` good steps in
 * a row it doubles. Pure state, no I/O: TrainStep applies it, checkpoints carry `state()`.
 */

export interface LossScalingOptions {
  /** Starting scale (torch: 2^16). */
  init: number;
  /** Multiply by this after `interval` good steps, divide by it after an overflow. */
  factor: number;
  /** Good steps in a row before the scale grows (torch: 2000). */
  interval: number;
  /** The scale never goes below this; an overflow at the floor counts as a non-finite step. */
  min: number;
}

export const DEFAULT_LOSS_SCALING: LossScalingOptions = { init: 2 ** 16, factor: 2, interval: 2000, min: 1 };

export interface LossScaleState {
  scale: number;
  /** Good steps since the last change of the scale. */
  good: number;
}

export class LossScaler {
  scale: number;
  good = 0;
  /** Overflows so far (steps skipped and the scale shrunk). */
  overflows = 0;

  constructor(readonly options: LossScalingOptions = DEFAULT_LOSS_SCALING) {
    this.scale = options.init;
  }

  /**
   * Record a step's outcome: `finite` when every gradient was finite. Returns 'ok' (apply the
   * update), 'overflow' (skip it; the scale was lowered) or 'floor' (skip it; the scale is already at
   * its minimum, so the overflow is not the scale's fault).
   */
  record(finite: boolean): 'ok' | 'overflow' | 'floor' {
    if (finite) {
      if (++this.good >= this.options.interval) {
        this.scale *= this.options.factor;
        this.good = 0;
      }
      return 'ok';
    }
    this.good = 0;
    if (this.scale <= this.options.min) return 'floor';
    this.overflows++;
    this.scale = Math.max(this.options.min, this.scale / this.options.factor);
    return 'overflow';
  }

  state(): LossScaleState {
    return { scale: this.scale, good: this.good };
  }

  restore(s: LossScaleState): void {
    this.scale = s.scale;
    this.good = s.good;
  }
}
