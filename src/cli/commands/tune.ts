import type { Command } from '../command.js';
import { configFromSpec } from './init.js';
import { DEFAULT_TUNE, tuneDir } from '../../plan/tune-dir.js';
import { UsageError } from '../errors.js';
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
    target: { kind: 'string', arg: 'PRESET|FILE', description: 'the config the proxies are narrow versions of', default: 'analog-1t' },
    data: { kind: 'path', arg: 'DIR', description: 'prepared dataset', defaultText: 'the builtin corpus, byte tokenizer, prepared into OUT/data' },
    widths: { kind: 'string', arg: 'LIST', description: 'proxy hidden sizes (multiples of head_dim)', default: DEFAULT_TUNE.widths.join(',') },
    lrs: { kind: 'string', arg: 'LIST', description: 'peak learning rates', default: DEFAULT_TUNE.lrs.map((x) => x.toExponential()).join(',') },
    'output-mults': { kind: 'string', arg: 'LIST', description: 'μP output multipliers to sweep', defaultText: 'the target\'s' },
    layers: { kind: 'int', description: 'proxy depth', default: DEFAULT_TUNE.layers },
    steps: { kind: 'int', description: 'steps per run', default: DEFAULT_TUNE.steps },
    batch: { kind: 'int', description: 'batch size', default: DEFAULT_TUNE.batch },
    seq: { kind: 'int', description: 'sequence length', default: DEFAULT_TUNE.seq },
    out: { kind: 'path', arg: 'DIR', description: 'output folder', default: 'runs/tune' },
    threads: { kind: 'int', description: 'intra-op threads' },
    json: { kind: 'boolean', description: 'print JSON' },
  },
  examples: [
    'growlm tune --target analog-1t --widths 32,64,128',
    'growlm tune --target analog-1t --widths 32,64 --lrs 3e-3,1e-2 --steps 50 --out runs/quick-tune',
  ],
  async run(args) {
    const to = args.need('target');
    const target = configFromSpec(to);
    const out = args.need('out');
    const widths = list(args.need('widths'), 'widths');
    const lrs = list(args.need('lrs'), 'lrs');
    const outputMults = args.has('output-mults') ? list(args.need('output-mults'), 'output-mults') : undefined;
    const result = await tuneDir(target, to, out, {
      data: args.str('data'), widths, lrs, outputMults, layers: args.int('layers'), steps: args.int('steps'), batch: args.int('batch'), seq: args.int('seq'),
      session: { threads: args.optInt('threads') },
    }, (p) => note(`width ${p.width}  lr ${p.lr.toExponential(1)}  output_mult ${p.output_mult}: val loss ${p.val_loss.toFixed(4)} (train ${p.train_loss.toFixed(4)})`));
    if (args.flag('json')) printJson(result);
    else {
      const bestLrs = [...new Set(result.best_per_width.map((p) => p.lr))];
      for (const p of result.best_per_width) console.log(`width ${String(p.width).padStart(5)}: best lr ${p.lr.toExponential(1)} (val loss ${p.val_loss.toFixed(4)})`);
      console.log(result.lr_stable_across_widths ? `the best learning rate stays at ${bestLrs[0]!.toExponential(1)} across widths` : `the best learning rate moves across widths: ${bestLrs.map((x) => x.toExponential(1)).join(', ')}`);
      console.log(`plot: ${result.plot}`);
    }
    return 0;
  },
};
