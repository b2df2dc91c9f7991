import { join } from 'node:path';
import type { Command } from '../command.js';
import { loadPlan } from '../../plan/plan.js';
import { runGrowthVsScratch } from '../../plan/experiment.js';
import { writeReport } from '../../report/report.js';
import { RUN_FILE } from '../../report/run-record.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { note, printJson } from '../output.js';
import { Progress, formatDuration } from '../progress.js';

export const experimentCommand: Command = {
  name: 'experiment growth-vs-scratch',
  summary: 'Train the final-size model from scratch and by staged growth; report validation loss against training FLOPs.',
  details: 'Runs the plan into RUN_DIR/staged, then the last stage\'s model from scratch into RUN_DIR/scratch with --budget\ntimes the staged run\'s training FLOPs, and reports the FLOPs the staged run needed to reach the scratch run\'s final\nvalidation loss (flops_ratio < 1: growth saved compute), the loss at each growth, run.json and report.html. Resumable.',
  options: {
    plan: { type: 'string', arg: 'PLAN', description: 'staged plan', default: 'tele-flm-analog' },
    out: { type: 'string', arg: 'RUN_DIR', description: 'run directory (default: runs/growth-vs-scratch)' },
    budget: { type: 'string', arg: 'X', description: 'scratch training FLOPs as a multiple of the staged run\'s', default: '1.5' },
    'scratch-lr': { type: 'string', arg: 'X', description: 'peak LR of the scratch run (default: the first stage\'s)' },
    threads: { type: 'string', arg: 'N', description: 'intra-op threads' },
    json: { type: 'boolean', description: 'print JSON' },
  },
  async run(args) {
    const plan = loadPlan(args.need('plan'));
    const runDir = args.str('out') ?? join('runs', 'growth-vs-scratch');
    const t0 = performance.now();
    const { result, record } = await runGrowthVsScratch(plan, runDir, {
      note, threads: args.has('threads') ? args.int('threads') : undefined,
      stepLogger: (stage, steps, resumedFrom) => {
        const p = new Progress(steps, true, 10000);
        return (e) => {
          p.update(e.step, `${stage}  loss ${e.loss.toFixed(3)}  ${e.tokens_per_s.toFixed(0)} tok/s  ETA ${formatDuration(((steps - e.step) * e.elapsed_s) / Math.max(1, e.step - resumedFrom))}`);
          if (e.val_loss !== undefined) p.log(`  step ${e.step}: val loss ${e.val_loss.toFixed(4)}`);
        };
      },
    }, args.num('budget', 1.5), args.has('scratch-lr') ? args.num('scratch-lr') : undefined);
    writeFileAtomic(join(runDir, RUN_FILE), [JSON.stringify(record, null, 2) + '\n']);
    const report = writeReport(runDir);
    if (args.flag('json')) printJson({ ...result, report: report.out, seconds: (performance.now() - t0) / 1000 });
    else {
      console.log(`scratch: final val loss ${result.scratch_final_val_loss.toFixed(4)} after ${result.scratch_flops.toExponential(3)} FLOPs`);
      console.log(`staged:  final val loss ${result.staged_final_val_loss.toFixed(4)} after ${result.staged_flops.toExponential(3)} FLOPs`);
      console.log(result.staged_flops_to_reach_scratch === null
        ? 'staged growth did not reach the scratch run\'s final loss'
        : `staged growth reached the scratch run's final loss with ${result.staged_flops_to_reach_scratch.toExponential(3)} FLOPs = ${result.flops_ratio!.toFixed(3)}× scratch`);
      console.log(`report: ${report.out}`);
    }
    return 0;
  },
};
