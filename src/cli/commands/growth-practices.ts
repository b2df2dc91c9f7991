import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from '../command.js';
import { configFromSpec } from '../../model/presets.js';
import { FULL_GRID, type Grid, LR_SWEEP, QUICK_GRID, halfBase, parseGrid, runGrowthPracticesDir, summaryTable } from '../../plan/growth-practices.js';
import { readTunedLr } from '../../train/tune.js';
import { UsageError } from '../errors.js';
import { formatDuration } from '../progress.js';
import { note, printJson } from '../output.js';

export const growthPracticesCommand: Command = {
  name: 'experiment growth-practices',
  summary: 'Grow one trained base under a grid of choices (placement, ramp, LR, method, order) at equal FLOPs, over seeds.',
  details: [
    'Trains the base once per LR kind (reused): RUN_DIR/base-constant at a constant peak LR for lr=peak, RUN_DIR/base',
    'on a cosine to 0.1× for rewind, lower and keep. Then for each setting and seed grows its base to the target and',
    'trains on with --budget FLOPs (seed = data order and new-weight init). The grid varies one dimension at a time',
    'around the default (placement interleave, ramp 200 (--quick: 100), simultaneous masks, lr=peak, msg, width+depth in one step).',
    'lr=peak is warmup–stable–decay across growth: the peak LR kept with no warm-up, constant through every growth but',
    'the last, cosine to 0.1× in the last part. Per run a line in RUN_DIR/results.jsonl (final and pre-growth val loss,',
    'loss bump, z = peak 5-step mean train loss after growth minus the base\'s last-50-step mean, over that noise,',
    'steps to recover, max |Δlogit| after growth); a table of mean ± std over seeds (ties: |Δ| within the spread) in',
    'summary.json and report.html. --grid FILE: {"default": {"ramp": 200}, "placement": ["append", "distance"], …};',
    'dimensions: placement, ramp, stagger, lr (rewind, lower, keep, peak), method (msg, mask-free, clone,',
    'clone-perturbed), order (both, width-depth, depth-width), lr_mult. Resumable: finished runs with the same setting are kept.',
  ].join('\n'),
  options: {
    grid: { kind: 'path', arg: 'FILE', description: 'grid file (JSON)', defaultText: 'the full builtin grid' },
    quick: { kind: 'boolean', description: 'the quick grid (ramp, LR, method) with shorter training (≤ 10 min on 2 cores)' },
    'lr-sweep': { kind: 'boolean', description: 'add the post-growth LR ×1/3, ×3 around the transferred value (μP across growth)' },
    seeds: { kind: 'int', description: 'seeds per setting', defaultText: '3; --quick 2' },
    budget: { kind: 'number', min: 0, exclusiveMin: true, arg: 'FLOPS', description: 'training FLOPs after growth per run', defaultText: '--steps of the target' },
    steps: { kind: 'int', description: 'post-growth steps of the target model that make the default budget', defaultText: '300; --quick 150' },
    'base-steps': { kind: 'int', description: 'training steps of the base', defaultText: '600; --quick 400' },
    base: { kind: 'string', arg: 'MODEL', description: 'base preset or config file', defaultText: 'the target at half width and depth' },
    target: { kind: 'string', arg: 'MODEL', description: 'grown preset or config file', default: 'tiny' },
    data: { kind: 'path', arg: 'DIR', description: 'prepared dataset', defaultText: 'builtin gutenberg into RUN_DIR/data' },
    batch: { kind: 'int', description: 'sequences per step', default: 8 },
    seq: { kind: 'int', description: 'sequence length', default: 64 },
    lr: { kind: 'number', min: 0, exclusiveMin: true, description: 'peak LR of the base; post-growth LRs derive from it', default: 0.003 },
    tuned: { kind: 'path', arg: 'FILE', description: 'take the base LR from a growlm tune result' },
    evals: { kind: 'int', description: 'validation evaluations after growth per run', default: 12 },
    'eval-batches': { kind: 'int', description: 'batches per validation', default: 8 },
    perturb: { kind: 'number', min: 0, description: 'clone-perturbed: noise std / initializer_range on the copies', default: 0.01 },
    out: { kind: 'path', arg: 'RUN_DIR', description: 'run directory', default: join('runs', 'growth-practices') },
    threads: { kind: 'int', description: 'intra-op threads' },
    json: { kind: 'boolean', description: 'print JSON' },
  },
  examples: [
    'growlm experiment growth-practices --quick',
    'growlm experiment growth-practices --lr-sweep --seeds 3 --out runs/lab',
    'growlm experiment growth-practices --grid my-grid.json --target analog-52b --steps 500',
  ],
  async run(args) {
    const quick = args.flag('quick');
    let grid: Grid = quick ? QUICK_GRID : FULL_GRID;
    if (args.has('grid')) {
      const file = args.need('grid');
      let raw: unknown;
      try {
        raw = JSON.parse(readFileSync(file, 'utf8'));
      } catch {
        throw new UsageError(`--grid ${file}: not a readable JSON file`);
      }
      grid = parseGrid(raw, file);
    }
    if (args.flag('lr-sweep')) grid = { ...grid, values: { ...grid.values, ...LR_SWEEP } };
    const target = configFromSpec(args.need('target'));
    const r = await runGrowthPracticesDir(grid, {
      runDir: args.need('out'), data: args.str('data'), base: args.has('base') ? configFromSpec(args.need('base')) : halfBase(target), target,
      baseSteps: args.optInt('base-steps') ?? (quick ? 400 : 600), batch: args.int('batch'), seq: args.int('seq'),
      lr: args.has('tuned') ? readTunedLr(args.need('tuned')) : args.num('lr'), warmup: 20,
      budget: args.optNum('budget'), steps: args.optInt('steps') ?? (quick ? 150 : 300),
      seeds: args.optInt('seeds') ?? (quick ? 2 : 3), evalBatches: args.int('eval-batches'), evals: args.int('evals'), perturb: args.num('perturb'),
      threads: args.optInt('threads'), note,
    });
    if (args.flag('json')) printJson({ summary: r.summary, results: r.results, estimate_s: r.estimate_s, seconds: r.seconds, report: r.report });
    else {
      console.log(summaryTable(r.summary));
      console.log(`${r.results.length} runs in ${formatDuration(r.seconds)} (estimated ${formatDuration(r.estimate_s)}); report: ${r.report}`);
    }
    return 0;
  },
};
