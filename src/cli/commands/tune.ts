import { join } from 'node:path';
import type { Command } from '../command.js';
import { META_FILE } from '../../data/meta.js';
import { configFromSpec } from './init.js';
import { readDatasetMeta } from '../../data/dataset.js';
import { prepareDataset } from '../../data/prepare.js';
import { existsSync } from 'node:fs';
import { chartJsSource } from '../../report/report.js';
import { TUNE_LOG_FILE, TUNE_PLOT_FILE, TUNE_RESULT_FILE, bestPerWidth, tune, tunePlotHtml } from '../../train/tune.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { UsageError } from '../../util/errors.js';
import { note, printJson } from '../output.js';

const list = (s: string, what: string) => {
  const v = s.split(',').map((x) => Number(x.trim()));
  if (!v.length || v.some((x) => !Number.isFinite(x) || x <= 0)) throw new UsageError(`--${what} must be a comma-separated list of positive numbers, got "${s}"`);
  return v;
};

export const tuneCommand: Command = {
  name: 'tune',
  summary: 'μP proxy search: sweep learning rates on narrow proxies of a config at several widths; the best LR should stay put.',
  details: 'Writes OUT/tune.jsonl (one line per run), OUT/tune.html (loss against LR per width) and OUT/tune-result.json\n(the chosen learning rate and multipliers, to pass to growlm train --lr and to plans).',
  options: {
    target: { type: 'string', arg: 'PRESET|FILE', description: 'the config the proxies are narrow versions of', default: 'analog-1t' },
    data: { type: 'string', arg: 'DIR', description: 'prepared dataset (default: the builtin corpus, byte tokenizer, prepared into OUT/data)' },
    widths: { type: 'string', arg: 'LIST', description: 'proxy hidden sizes (multiples of head_dim)', default: '32,64,128' },
    lrs: { type: 'string', arg: 'LIST', description: 'peak learning rates', default: '3e-4,1e-3,3e-3,1e-2' },
    'output-mults': { type: 'string', arg: 'LIST', description: 'μP output multipliers to sweep (default: the target\'s)' },
    layers: { type: 'string', arg: 'N', description: 'proxy depth', default: '2' },
    steps: { type: 'string', arg: 'N', description: 'steps per run', default: '150' },
    batch: { type: 'string', arg: 'N', description: 'batch size', default: '8' },
    seq: { type: 'string', arg: 'N', description: 'sequence length', default: '128' },
    out: { type: 'string', arg: 'DIR', description: 'output folder', default: 'runs/tune' },
    threads: { type: 'string', arg: 'N', description: 'intra-op threads' },
    json: { type: 'boolean', description: 'print JSON' },
  },
  async run(args) {
    const to = args.need('target');
    const target = configFromSpec(to);
    const out = args.need('out');
    let dataDir = args.str('data');
    if (!dataDir) {
      dataDir = join(out, 'data');
      if (!existsSync(join(dataDir, META_FILE))) await prepareDataset({ builtin: 'gutenberg', tokenizer: 'byte', outDir: dataDir, force: true });
    }
    const vocab = readDatasetMeta(dataDir).tokenizer.vocab_size;
    const widths = list(args.need('widths'), 'widths');
    const lrs = list(args.need('lrs'), 'lrs');
    const outputMults = args.has('output-mults') ? list(args.need('output-mults'), 'output-mults') : [target.outputMult];
    const points = await tune(target, dataDir, vocab, out, {
      widths, lrs, outputMults, layers: args.int('layers', 2), steps: args.int('steps', 150), batch: args.int('batch', 8), seq: args.int('seq', 128),
      seed: 0, session: { threads: args.has('threads') ? args.int('threads') : undefined },
    }, (p) => note(`width ${p.width}  lr ${p.lr.toExponential(1)}  output_mult ${p.output_mult}: val loss ${p.val_loss.toFixed(4)} (train ${p.train_loss.toFixed(4)})`));
    const best = bestPerWidth(points);
    const bestLrs = [...new Set(best.map((p) => p.lr))];
    // the widest proxy's best values are the ones to transfer
    const chosen = best.at(-1)!;
    const result = {
      best_per_width: best.map((p) => ({ width: p.width, lr: p.lr, output_mult: p.output_mult, val_loss: p.val_loss })),
      lr_stable_across_widths: bestLrs.length === 1,
      chosen: { lr: chosen.lr, output_mult: chosen.output_mult, input_mult: target.inputMult, note: 'hidden matrices learn at lr / mup_scale_factor (μP)' },
      jsonl: join(out, TUNE_LOG_FILE), plot: join(out, TUNE_PLOT_FILE),
    };
    writeFileAtomic(join(out, TUNE_PLOT_FILE), [tunePlotHtml(points, chartJsSource().source, `μP learning-rate transfer: proxies of ${to}`)]);
    writeFileAtomic(join(out, TUNE_RESULT_FILE), [JSON.stringify(result, null, 2) + '\n']);
    if (args.flag('json')) printJson(result);
    else {
      for (const p of best) console.log(`width ${String(p.width).padStart(5)}: best lr ${p.lr.toExponential(1)} (val loss ${p.val_loss.toFixed(4)})`);
      console.log(result.lr_stable_across_widths ? `the best learning rate stays at ${bestLrs[0]!.toExponential(1)} across widths` : `the best learning rate moves across widths: ${bestLrs.map((x) => x.toExponential(1)).join(', ')}`);
      console.log(`plot: ${result.plot}`);
    }
    return 0;
  },
};
