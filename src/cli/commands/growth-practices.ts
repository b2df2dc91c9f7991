import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from '../command.js';
import { prepareDataset } from '../../data/prepare.js';
import type { ModelConfig } from '../../model/config.js';
import { readConfigFile } from '../../model/model-dir.js';
import { loadPreset, presetNames } from '../../model/presets.js';
import {
  FULL_GRID, type Grid, LR_SWEEP, QUICK_GRID, parseGrid, practicesRunRecord, runGrowthPractices, summaryTable,
} from '../../plan/growth-practices.js';
import { writeReport } from '../../report/report.js';
import { RUN_FILE } from '../../report/run-record.js';
import { trainingFlopsPerToken } from '../../train/flops.js';
import { readTunedLr } from '../../train/tune.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { UsageError } from '../../util/errors.js';
import { formatDuration } from '../progress.js';
import { note, printJson } from '../output.js';

function modelSpec(spec: string, flag: string): ModelConfig {
  if (presetNames().includes(spec)) return loadPreset(spec);
  if (!existsSync(spec)) throw new UsageError(`--${flag}: "${spec}" is neither a preset nor a config file`);
  return readConfigFile(spec);
}

/** The default base: the tiny preset at half width (2 heads of 32) and half depth. */
function defaultBase(target: ModelConfig): ModelConfig {
  return { ...target, hiddenSize: target.hiddenSize / 2, numHeads: target.numHeads / 2, numKvHeads: target.numKvHeads / 2, intermediateSize: target.intermediateSize / 2, numLayers: target.numLayers / 2 };
}

export const growthPracticesCommand: Command = {
  name: 'experiment growth-practices',
  summary: 'Grow one trained base under a grid of choices (placement, ramp, LR, method, order) at equal FLOPs, over seeds.',
  details: [
    'Trains the base once (RUN_DIR/base, reused), then for each setting and seed grows it to the target and trains on',
    'with --budget FLOPs (seed = data order and new-weight init). The grid varies one dimension at a time around the',
    'default (placement interleave, ramp 50, simultaneous masks, LR rewind, msg, width+depth in one step).',
    'Per run a line in RUN_DIR/results.jsonl (final and pre-growth val loss, loss bump, z-score, steps to recover,',
    'max |Δlogit| after growth); a table of mean ± std over seeds (ties: |Δ| within the spread) in summary.json and',
    'report.html. --grid FILE: {"default": {"ramp": 200}, "placement": ["append", "distance"], "ramp": [0, 800], …};',
    'dimensions: placement, ramp, stagger, lr (rewind, lower, keep), method (msg, mask-free, clone, clone-perturbed),',
    'order (both, width-depth, depth-width), lr_mult. Resumable: finished runs are kept.',
  ].join('\n'),
  options: {
    grid: { type: 'string', arg: 'FILE', description: 'grid file (JSON); default: the full builtin grid' },
    quick: { type: 'boolean', description: 'the quick grid (ramp, LR, method) with shorter training (≤ 10 min on 2 cores)' },
    'lr-sweep': { type: 'boolean', description: 'add the post-growth LR ×1/3, ×3 around the transferred value (μP across growth)' },
    seeds: { type: 'string', arg: 'N', description: 'seeds per setting (default 3; --quick 2)' },
    budget: { type: 'string', arg: 'FLOPS', description: 'training FLOPs after growth per run (default: --steps of the target)' },
    steps: { type: 'string', arg: 'N', description: 'post-growth steps of the target model that make the default budget (default 300; --quick 150)' },
    'base-steps': { type: 'string', arg: 'N', description: 'training steps of the base (default 600; --quick 400)' },
    base: { type: 'string', arg: 'MODEL', description: 'base preset or config file (default: the target at half width and depth)' },
    target: { type: 'string', arg: 'MODEL', description: 'grown preset or config file', default: 'tiny' },
    data: { type: 'string', arg: 'DIR', description: 'prepared dataset (default: builtin gutenberg into RUN_DIR/data)' },
    batch: { type: 'string', arg: 'N', description: 'sequences per step', default: '8' },
    seq: { type: 'string', arg: 'N', description: 'sequence length', default: '64' },
    lr: { type: 'string', arg: 'X', description: 'peak LR of the base; post-growth LRs derive from it', default: '0.003' },
    tuned: { type: 'string', arg: 'FILE', description: 'take the base LR from a growlm tune result' },
    evals: { type: 'string', arg: 'N', description: 'validation evaluations after growth per run', default: '12' },
    'eval-batches': { type: 'string', arg: 'N', description: 'batches per validation', default: '8' },
    perturb: { type: 'string', arg: 'X', description: 'clone-perturbed: noise std / initializer_range on the copies', default: '0.01' },
    out: { type: 'string', arg: 'RUN_DIR', description: 'run directory (default: runs/growth-practices)' },
    threads: { type: 'string', arg: 'N', description: 'intra-op threads' },
    json: { type: 'boolean', description: 'print JSON' },
  },
  async run(args) {
    const runDir = args.str('out') ?? join('runs', 'growth-practices');
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
    const target = modelSpec(args.need('target'), 'target');
    const base = args.has('base') ? modelSpec(args.need('base'), 'base') : defaultBase(target);
    const batch = args.int('batch'), seq = args.int('seq');
    const steps = args.int('steps', quick ? 150 : 300);
    const budget = args.has('budget') ? args.num('budget') : steps * batch * seq * trainingFlopsPerToken(target, seq);
    if (!(budget > 0)) throw new UsageError('--budget must be positive');
    const o = {
      runDir, dataDir: '', base, target, baseSteps: args.int('base-steps', quick ? 400 : 600), batch, seq,
      lr: args.has('tuned') ? readTunedLr(args.need('tuned')) : args.num('lr'), warmup: 20, budget,
      seeds: args.int('seeds', quick ? 2 : 3), evalBatches: args.int('eval-batches'), evals: args.int('evals'), perturb: args.num('perturb'),
      threads: args.has('threads') ? args.int('threads') : undefined, note,
    };
    if (!(o.perturb >= 0)) throw new UsageError('--perturb must be ≥ 0');
    let dataDir = args.str('data');
    if (!dataDir) {
      dataDir = join(runDir, 'data');
      if (!existsSync(join(dataDir, 'meta.json'))) {
        note('preparing data (builtin gutenberg, byte tokenizer)…');
        await prepareDataset({ builtin: 'gutenberg', tokenizer: 'byte', outDir: dataDir, force: true });
      }
    }
    o.dataDir = dataDir;
    const t0 = performance.now();
    const r = await runGrowthPractices(grid, o);
    writeFileAtomic(join(runDir, RUN_FILE), [JSON.stringify(practicesRunRecord(o, r.runs, r.summary), null, 2) + '\n']);
    const report = writeReport(runDir);
    const seconds = (performance.now() - t0) / 1000;
    if (args.flag('json')) printJson({ summary: r.summary, results: r.results, estimate_s: r.estimate_s, seconds, report: report.out });
    else {
      console.log(summaryTable(r.summary));
      console.log(`${r.results.length} runs in ${formatDuration(seconds)} (estimated ${formatDuration(r.estimate_s)}); report: ${report.out}`);
    }
    return 0;
  },
};
