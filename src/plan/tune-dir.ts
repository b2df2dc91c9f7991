/**
 * A μP proxy search into an output folder: the sweep (src/train/tune.ts), then OUT/tune.html (loss
 * against LR per width) and OUT/tune-result.json (the chosen learning rate, for train and plans).
 */
import { existsSync } from 'node:fs';
import { META_FILE } from '../data/meta.js';
import { join } from 'node:path';
import { readDatasetMeta } from '../data/dataset.js';
import { prepareDataset } from '../data/prepare.js';
import type { ModelConfig } from '../model/config.js';
import { chartJsSource } from '../report/report.js';
import { type TuneOptions, type TunePoint, bestPerWidth, tune, tunePlotHtml } from '../train/tune.js';
import { writeFileAtomic } from '../util/atomic.js';

export interface TuneDirOptions extends Omit<TuneOptions, 'outputMults'> {
  /** μP output multipliers to sweep (default: the target's). */
  outputMults?: number[];
  /** Prepared dataset (default: the builtin corpus, byte tokenizer, prepared into OUT/data). */
  data?: string;
}

export const DEFAULT_TUNE: TuneDirOptions = { widths: [32, 64, 128], lrs: [3e-4, 1e-3, 3e-3, 1e-2], layers: 2, steps: 150, batch: 8, seq: 128, seed: 0, session: {} };

export interface TuneResult {
  best_per_width: { width: number; lr: number; output_mult: number; val_loss: number }[];
  lr_stable_across_widths: boolean;
  chosen: { lr: number; output_mult: number; input_mult: number; note: string };
  jsonl: string;
  plot: string;
}

/** Sweep proxies of `target` (named `targetName` in the plot's title) into `out`. */
export async function tuneDir(target: ModelConfig, targetName: string, out: string, options: Partial<TuneDirOptions> = {}, onPoint: (p: TunePoint) => void = () => {}): Promise<TuneResult> {
  const o = { ...DEFAULT_TUNE, ...options };
  let dataDir = o.data;
  if (!dataDir) {
    dataDir = join(out, 'data');
    if (!existsSync(join(dataDir, META_FILE))) await prepareDataset({ builtin: 'gutenberg', tokenizer: 'byte', outDir: dataDir, force: true });
  }
  const vocab = readDatasetMeta(dataDir).tokenizer.vocab_size;
  const points = await tune(target, dataDir, vocab, out, { ...o, outputMults: o.outputMults ?? [target.outputMult] }, onPoint);
  const best = bestPerWidth(points);
  // the widest proxy's best values are the ones to transfer
  const chosen = best.at(-1)!;
  const result: TuneResult = {
    best_per_width: best.map((p) => ({ width: p.width, lr: p.lr, output_mult: p.output_mult, val_loss: p.val_loss })),
    lr_stable_across_widths: new Set(best.map((p) => p.lr)).size === 1,
    chosen: { lr: chosen.lr, output_mult: chosen.output_mult, input_mult: target.inputMult, note: 'hidden matrices learn at lr / mup_scale_factor (μP)' },
    jsonl: join(out, 'tune.jsonl'), plot: join(out, 'tune.html'),
  };
  writeFileAtomic(join(out, 'tune.html'), [tunePlotHtml(points, chartJsSource().source, `μP learning-rate transfer: proxies of ${targetName}`)]);
  writeFileAtomic(join(out, 'tune-result.json'), [JSON.stringify(result, null, 2) + '\n']);
  return result;
}
