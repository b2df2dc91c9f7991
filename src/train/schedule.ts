/** Schedules over optimizer steps: the learning rate, and the MSG mask ramp (pure functions of the step). */
import type { MaskState } from '../model/config.js';

export type ScheduleKind = 'cosine' | 'wsd' | 'constant';

export interface Schedule {
  kind: ScheduleKind;
  peakLr: number;
  /** Linear warmup steps from 0 to peak. */
  warmup: number;
  /** Total steps of the run (the end of the decay). */
  total: number;
  /** Floor as a fraction of the peak (cosine and wsd decay to it). */
  minRatio: number;
  /** wsd: fraction of the run spent in the final decay. */
  decayFraction: number;
}

export const DEFAULT_SCHEDULE: Omit<Schedule, 'peakLr' | 'total'> = { kind: 'cosine', warmup: 0, minRatio: 0.1, decayFraction: 0.2 };

export function lrAt(s: Schedule, step: number): number {
  if (s.warmup > 0 && step <= s.warmup) return (s.peakLr * step) / s.warmup;
  const floor = s.peakLr * s.minRatio;
  switch (s.kind) {
    case 'constant':
      return s.peakLr;
    case 'cosine': {
      const span = Math.max(1, s.total - s.warmup);
      const t = Math.min(1, (step - s.warmup) / span);
      return floor + 0.5 * (s.peakLr - floor) * (1 + Math.cos(Math.PI * t));
    }
    case 'wsd': {
      const decaySteps = Math.max(1, Math.round(s.total * s.decayFraction));
      const decayStart = s.total - decaySteps;
      if (step <= decayStart) return s.peakLr;
      const t = Math.min(1, (step - decayStart) / decaySteps);
      return s.peakLr - (s.peakLr - floor) * t;
    }
  }
}

const clamp01 = (x: number) => Math.min(1, Math.max(0, x));

/**
 * Mask values after `step` optimizer steps of the run training the grown model. Linear ramp over
 * ramp.steps; staggered: FFN in the first third, hidden in the second, heads in the last, layers
 * and vocabulary over the whole window.
 */
export function maskValuesAt(m: MaskState, step: number): MaskState {
  const t = (step - m.ramp.start) / m.ramp.steps;
  const part = (k: number) => (m.ramp.stagger ? clamp01(3 * t - k) : clamp01(t));
  return {
    ...m,
    ...(m.ffn ? { ffn: { ...m.ffn, value: part(0) } } : {}),
    ...(m.hidden ? { hidden: { ...m.hidden, value: part(1) } } : {}),
    ...(m.heads ? { heads: { ...m.heads, value: part(2) } } : {}),
    ...(m.layers ? { layers: { ...m.layers, value: clamp01(t) } } : {}),
    ...(m.vocab ? { vocab: { ...m.vocab, value: clamp01(t) } } : {}),
  };
}
