/**
 * Choosing the fine-tuning samples: at most `maxSamples`, picked at random (seeded). The summary
 * says how many came in, how many were kept and what was removed and why.
 */
import { InvalidSettingError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import type { SftSample } from './sft-format.js';

export type SelectMode = 'random' | 'diverse';

export interface SelectOptions {
  mode: SelectMode;
  maxSamples?: number;
  seed: number;
}

export interface SelectSummary {
  mode: SelectMode;
  input: number;
  selected: number;
  /** Samples removed, by reason. */
  removed: Record<string, number>;
}

export function selectSamples(samples: SftSample[], o: SelectOptions): { samples: SftSample[]; summary: SelectSummary } {
  if (o.mode !== 'random') throw new InvalidSettingError('select', `selection "${o.mode}" is not available (use random)`);
  if (o.maxSamples !== undefined && !(Number.isSafeInteger(o.maxSamples) && o.maxSamples >= 1)) throw new InvalidSettingError('maxSamples', `max samples must be an integer ≥ 1, got ${o.maxSamples}`);
  const keep = Math.min(samples.length, o.maxSamples ?? samples.length);
  let out = samples;
  if (keep < samples.length) {
    const order = samples.map((_, i) => i);
    const rng = new Rng(o.seed);
    for (let i = 0; i < keep; i++) {
      const j = i + rng.int(order.length - i);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    out = order.slice(0, keep).sort((a, b) => a - b).map((i) => samples[i]!);
  }
  const removed: Record<string, number> = {};
  if (keep < samples.length) removed['over max samples'] = samples.length - keep;
  return { samples: out, summary: { mode: o.mode, input: samples.length, selected: out.length, removed } };
}
