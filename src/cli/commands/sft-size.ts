import { join } from 'node:path';
import type { Command } from '../command.js';
import { configFromSpec } from '../../model/presets.js';
import type { SelectMode } from '../../data/sft-select.js';
import { SFT_SIZE_DEFAULTS, SFT_SIZE_QUICK, runSftSize, sftBaseConfig } from '../../plan/sft-size.js';
import { UsageError } from '../errors.js';
import { formatDuration } from '../progress.js';
import { note, printJson } from '../output.js';

function list(s: string, flag: string): number[] {
  const xs = s.split(',').map((x) => Number(x.trim()));
  if (xs.some((x) => !(Number.isSafeInteger(x) && x >= 1))) throw new UsageError(`--${flag} must be whole numbers ≥ 1, comma-separated, got "${s}"`);
  return xs;
}

export const sftSizeCommand: Command = {
  name: 'experiment sft-size',
  summary: 'Fine-tune one pretrained base on SFT subsets of increasing size, random vs diverse; score held-out answers.',
  details: [
    'Pretrains the base (RUN_DIR/base, reused) on the builtin corpus plus the facts of the SFT demo set (DIR/facts.txt:',
    'every question\'s answer as a sentence), then fine-tunes it for the same number of steps on subsets of DIR/train.jsonl',
    'of each --sizes size, chosen at random and by the diversity-aware selection, and on the whole pool. Every model, the',
    'base included, is scored on held-out questions (DIR/heldout.jsonl, --eval per source): answer loss and greedy exact',
    'match. One line per model in RUN_DIR/results.jsonl; the curve in report.html. Build the demo set first:',
    '  node dist/tools/sft-demo-data.js --out runs/sft-demo-data --definitions 3000 --max-answer-chars 80',
    'Resumable: finished models and scores are kept.',
  ].join('\n'),
  options: {
    data: { kind: 'path', arg: 'DIR', description: 'the SFT demo set (train.jsonl, heldout.jsonl, facts.txt)', default: join('runs', 'sft-demo-data') },
    out: { kind: 'path', arg: 'RUN_DIR', description: 'run directory', default: join('runs', 'sft-size') },
    quick: { kind: 'boolean', description: 'a small base and a few steps (tests: under a minute)' },
    sizes: { kind: 'string', arg: 'LIST', description: 'subset sizes (the whole pool is always added)', defaultText: `${SFT_SIZE_DEFAULTS.sizes.join(',')}; --quick ${SFT_SIZE_QUICK.sizes.join(',')}` },
    modes: { kind: 'string', arg: 'LIST', description: 'selection modes: random, diverse', default: 'random,diverse' },
    base: { kind: 'string', arg: 'MODEL', description: 'base preset or config file (at least 256 positions are used)', default: 'tiny' },
    'base-steps': { kind: 'int', description: 'pretraining steps of the base', defaultText: `${SFT_SIZE_DEFAULTS.baseSteps}; --quick ${SFT_SIZE_QUICK.baseSteps}` },
    steps: { kind: 'int', description: 'fine-tuning steps of every run', defaultText: `${SFT_SIZE_DEFAULTS.sftSteps}; --quick ${SFT_SIZE_QUICK.sftSteps}` },
    lr: { kind: 'number', min: 0, exclusiveMin: true, description: 'peak LR of fine-tuning', default: SFT_SIZE_DEFAULTS.sftLr },
    eval: { kind: 'int', description: 'held-out questions scored per source', defaultText: `${SFT_SIZE_DEFAULTS.evalPerSource}; --quick ${SFT_SIZE_QUICK.evalPerSource}` },
    seed: { kind: 'int', description: 'seed of selection, data order and initialization', default: 0 },
    threads: { kind: 'int', description: 'intra-op threads' },
    json: { kind: 'boolean', description: 'print JSON' },
  },
  examples: [
    'growlm experiment sft-size --json',
    'growlm experiment sft-size --quick --data runs/sft-demo-data --out runs/sft-quick',
    'growlm experiment sft-size --sizes 50,200,800 --modes diverse --steps 300',
  ],
  async run(args) {
    const quick = args.flag('quick');
    const d = quick ? SFT_SIZE_QUICK : SFT_SIZE_DEFAULTS;
    const modes = args.need('modes').split(',').map((m) => m.trim());
    for (const m of modes) if (m !== 'random' && m !== 'diverse') throw new UsageError(`--modes: unknown selection "${m}" (use random, diverse)`);
    const r = await runSftSize({
      ...d, runDir: args.need('out'), data: args.need('data'), base: sftBaseConfig(configFromSpec(args.need('base')), quick),
      sizes: args.has('sizes') ? list(args.need('sizes'), 'sizes') : d.sizes, modes: modes as SelectMode[],
      baseSteps: args.optInt('base-steps') ?? d.baseSteps, sftSteps: args.optInt('steps') ?? d.sftSteps, sftLr: args.num('lr'),
      evalPerSource: args.optInt('eval') ?? d.evalPerSource, seed: args.int('seed'), threads: args.optInt('threads'), note,
    });
    if (args.flag('json')) printJson(r);
    else {
      console.log(`base: ${r.base.parameters.toLocaleString('en-US')} parameters, ${r.base.steps} pretraining steps, val loss ${r.base.val_loss?.toFixed(4) ?? '–'}; pool ${r.pool} training questions`);
      console.log('model                 samples  answer loss  exact match  (per source: exact match)');
      for (const x of r.results) {
        const per = x.sources.map((s) => `${s.source} ${(100 * s.exact_match).toFixed(0)}%`).join(', ');
        console.log(`${x.model.padEnd(20)} ${String(x.train_samples).padStart(8)}  ${x.answer_loss.toFixed(4).padStart(11)}  ${`${(100 * x.exact_match).toFixed(1)}%`.padStart(11)}  (${per})`);
      }
      console.log(`${formatDuration(r.seconds)}; report: ${r.report}`);
    }
    return 0;
  },
};
