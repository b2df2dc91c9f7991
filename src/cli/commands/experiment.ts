import { join } from 'node:path';
import type { Command } from '../command.js';
import { loadPlan } from '../../plan/plan.js';
import { DEFAULT_EXPERIMENT, runExperimentDir } from '../../plan/execute.js';
import { formatMeanStd } from '../../plan/seeds-stats.js';
import { UsageError } from '../errors.js';
import { note, printJson } from '../output.js';
import { Progress, formatDuration } from '../progress.js';

export const experimentCommand: Command = {
  name: 'experiment growth-vs-scratch',
  summary: 'Train the final-size model from scratch and by staged growth; report validation loss against training FLOPs.',
  details: 'Per seed (init, growth and data order): runs the plan into RUN_DIR/seed-S/staged, the last stage\'s model from\nscratch with each --budgets multiple of the staged run\'s training FLOPs (seed-S/scratch-xB), and the first stage\'s model\ntrained on with the FLOPs of the later stages (seed-S/continue). Reports final validation losses (mean ± std over\nseeds; ties when the difference is within the spread), the FLOPs the staged run needs to reach several target losses\nrelative to the 1st budget\'s scratch run and to the continued first stage (below 1: growth saved compute), run.json and\nreport.html. Costs about (1 + sum of budgets + 1) × the staged run per seed. Resumable.',
  options: {
    plan: { kind: 'string', arg: 'PLAN', description: 'staged plan', default: 'tele-flm-analog' },
    out: { kind: 'path', arg: 'RUN_DIR', description: 'run directory', default: join('runs', 'growth-vs-scratch') },
    seeds: { kind: 'int', description: 'seeds', default: DEFAULT_EXPERIMENT.seeds },
    budgets: { kind: 'string', arg: 'LIST', description: 'scratch training FLOPs as multiples of the staged run\'s, comma-separated', default: DEFAULT_EXPERIMENT.budgets.join(',') },
    budget: { kind: 'number', min: 0, exclusiveMin: true, description: 'a single scratch multiple (same as --budgets X)' },
    'scratch-lr': { kind: 'number', min: 0, exclusiveMin: true, description: 'peak LR of the scratch run', defaultText: 'the first stage\'s' },
    threads: { kind: 'int', description: 'intra-op threads' },
    json: { kind: 'boolean', description: 'print JSON' },
  },
  examples: ['growlm experiment growth-vs-scratch --json', 'growlm experiment growth-vs-scratch --plan my.plan.json --seeds 2 --budgets 1,2 --out runs/gvs'],
  async run(args) {
    const plan = loadPlan(args.need('plan'));
    const budgets = args.has('budget') ? [args.num('budget')] : args.need('budgets').split(',').map((x) => Number(x.trim()));
    if (budgets.some((b) => !(b > 0) || !Number.isFinite(b))) throw new UsageError(`--budgets must be positive numbers, got "${args.str('budgets')}"`);
    const result = await runExperimentDir(plan, args.need('out'), {
      note, threads: args.optInt('threads'),
      stepLogger: (stage, steps, resumedFrom) => {
        const p = new Progress(steps, true, 10000);
        return (e) => {
          p.update(e.step, `${stage}  loss ${e.loss.toFixed(3)}  ${e.tokens_per_s.toFixed(0)} tok/s  ETA ${formatDuration(((steps - e.step) * e.elapsed_s) / Math.max(1, e.step - resumedFrom))}`);
          if (e.val_loss !== undefined) p.log(`  step ${e.step}: val loss ${e.val_loss.toFixed(4)}`);
        };
      },
    }, { seeds: args.int('seeds'), budgets, scratchLr: args.optNum('scratch-lr') });
    if (args.flag('json')) printJson(result);
    else {
      const r = result.seeds;
      console.log(`final val loss over ${r.seeds} seed(s) (verdict: staged growth against the baseline; ties within the spread):`);
      console.log(`  staged growth            ${formatMeanStd(r.staged.final_val_loss)}  ${r.staged.flops.toExponential(3)} FLOPs`);
      for (const s of r.scratch) console.log(`  from scratch ×${String(s.budget).padEnd(10)}${formatMeanStd(s.final_val_loss)}  ${s.flops.toExponential(3)} FLOPs  staged ${s.staged_vs}; paired by seed ${formatMeanStd(s.staged_minus)} (${s.staged_vs_paired})`);
      console.log(`  first stage trained on   ${formatMeanStd(r.continue_first_stage.final_val_loss)}  ${r.continue_first_stage.flops.toExponential(3)} FLOPs  staged ${r.continue_first_stage.staged_vs}; paired by seed ${formatMeanStd(r.continue_first_stage.staged_minus)} (${r.continue_first_stage.staged_vs_paired})`);
      console.log('FLOPs to reach a loss, staged / baseline (below 1: growth saved compute):');
      for (const t of r.targets) console.log(`  ${t.target.toFixed(4)}: / scratch ×${r.budgets[0]} ${formatMeanStd(t.staged_over_scratch, 3)} (${t.staged_over_scratch.n} seeds reached)   / first stage trained on ${formatMeanStd(t.staged_over_continue, 3)} (${t.staged_over_continue.n})`);
      console.log(`report: ${result.report}`);
    }
    return 0;
  },
};
