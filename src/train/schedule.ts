/** Learning-rate schedules: a pure function of the step (1-based). */

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
