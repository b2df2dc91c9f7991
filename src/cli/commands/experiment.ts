import { join } from 'node:path';
import type { Command } from '../command.js';
import { loadPlan } from '../../plan/plan.js';
import { DEFAULT_EXPERIMENT, runExperimentDir } from '../../plan/execute.js';
import { note, printJson } from '../output.js';
import { Progress, formatDuration } from '../progress.js';

export const experimentCommand: Command = {
  name: 'experiment growth-vs-scratch',
  summary: 'Train the final-size model from scratch and by staged growth; report validation loss against training FLOPs.',
  details: 'Runs the plan into RUN_DIR/staged, then the last stage\'s model from scratch into RUN_DIR/scratch with --budget\ntimes the staged run\'s training FLOPs, and reports the FLOPs the staged run needed to reach the scratch run\'s final\nvalidation loss (flops_ratio < 1: growth saved compute), the loss at each growth, run.json and report.html. Resumable.',
  options: {
    plan: { kind: 'string', arg: 'PLAN', description: 'staged plan', default: 'tele-flm-analog' },
    out: { kind: 'path', arg: 'RUN_DIR', description: 'run directory', default: join('runs', 'growth-vs-scratch') },
    budget: { kind: 'number', min: 0, exclusiveMin: true, description: 'scratch training FLOPs as a multiple of the staged run\'s', default: DEFAULT_EXPERIMENT.budget },
    'scratch-lr': { kind: 'number', min: 0, exclusiveMin: true, description: 'peak LR of the scratch run', defaultText: 'the first stage\'s' },
    threads: { kind: 'int', description: 'intra-op threads' },
    json: { kind: 'boolean', description: 'print JSON' },
  },
  examples: ['growlm experiment growth-vs-scratch --json', 'growlm experiment growth-vs-scratch --plan my.plan.json --budget 2 --out runs/gvs'],
  async run(args) {
    const plan = loadPlan(args.need('plan'));
    const runDir = args.need('out');
    const result = await runExperimentDir(plan, runDir, {
      note, threads: args.optInt('threads'),
      stepLogger: (stage, steps, resumedFrom) => {
        const p = new Progress(steps, true, 10000);
        return (e) => {
          p.update(e.step, `${stage}  loss ${e.loss.toFixed(3)}  ${e.tokens_per_s.toFixed(0)} tok/s  ETA ${formatDuration(((steps - e.step) * e.elapsed_s) / Math.max(1, e.step - resumedFrom))}`);
          if (e.val_loss !== undefined) p.log(`  step ${e.step}: val loss ${e.val_loss.toFixed(4)}`);
        };
      },
    }, { budget: args.num('budget'), scratchLr: args.optNum('scratch-lr') });
    if (args.flag('json')) printJson(result);
    else {
      console.log(`scratch: final val loss ${result.scratch_final_val_loss.toFixed(4)} after ${result.scratch_flops.toExponential(3)} FLOPs`);
      console.log(`staged:  final val loss ${result.staged_final_val_loss.toFixed(4)} after ${result.staged_flops.toExponential(3)} FLOPs`);
      console.log(result.staged_flops_to_reach_scratch === null
        ? 'staged growth did not reach the scratch run\'s final loss'
        : `staged growth reached the scratch run's final loss with ${result.staged_flops_to_reach_scratch.toExponential(3)} FLOPs = ${result.flops_ratio!.toFixed(3)}× scratch`);
      console.log(`report: ${result.report}`);
    }
    return 0;
  },
};
