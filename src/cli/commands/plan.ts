import { join } from 'node:path';
import type { Command } from '../command.js';
import { presetNames } from '../../model/presets.js';
import { runPlanDir } from '../../plan/execute.js';
import { type Plan, PlanInterruptedError, loadPlan } from '../../plan/plan.js';
import { formatPlanSummary, summarizePlan } from '../../plan/show.js';
import { argsAfter, note, printJson, shellQuote } from '../output.js';
import { Progress, formatDuration } from '../progress.js';

/** A plan, or a preset shown as a one-stage plan. */
function planOrPreset(spec: string): Plan {
  if (presetNames().includes(spec)) return { name: spec, stages: [{ name: spec, model: spec, train: {} }], baseDir: '.' };
  return loadPlan(spec);
}

export const planShowCommand: Command = {
  name: 'plan show',
  summary: 'Print parameters, training FLOPs per token and training memory per stage of a plan (or a preset).',
  positionals: [{ name: 'PLAN', description: 'a .plan.json file, a plan name in models/ (tele-flm, tele-flm-analog, growth-demo) or a preset', required: true }],
  options: { json: { kind: 'boolean', description: 'print JSON' } },
  examples: ['growlm plan show tele-flm', 'growlm plan show analog-1t --json'],
  async run(args) {
    const plan = planOrPreset(args.positionals[0]!);
    const rows = summarizePlan(plan);
    if (args.flag('json')) printJson({ plan: plan.name, stages: rows });
    else console.log(formatPlanSummary(plan, rows));
    return 0;
  },
};

export const planRunCommand: Command = {
  name: 'plan run',
  summary: 'Run a staged plan: prepare data, train, grow (function-preserving), train … with a checkpoint per stage; resumable.',
  details: 'Everything goes to RUN_DIR (default runs/<plan name>): data/, one model directory per stage, plan-state.json,\nrun.json and report.html. Running the same command again after an interruption continues where it stopped.\nCtrl-C (SIGINT) finishes the training step under way, writes a checkpoint and prints the command that resumes;\na second Ctrl-C exits at once.',
  positionals: [{ name: 'PLAN', description: 'a .plan.json file or a plan name in models/', required: true }],
  options: {
    out: { kind: 'path', arg: 'RUN_DIR', description: 'run directory', defaultText: 'runs/<plan name>' },
    threads: { kind: 'int', description: 'intra-op threads' },
    'no-baselines': { kind: 'boolean', description: 'skip the plan\'s "baselines" (train only its stages)' },
    json: { kind: 'boolean', description: 'print a JSON summary; progress lines only' },
  },
  examples: ['growlm plan run tele-flm-analog --out runs/demo', 'growlm plan run my.plan.json --json'],
  async run(args) {
    const loaded = loadPlan(args.positionals[0]!);
    const plan: Plan = args.flag('no-baselines') ? { ...loaded, baselines: undefined } : loaded;
    const runDir = args.str('out') ?? join('runs', plan.name);
    const json = args.flag('json');
    const t0 = performance.now();
    note(`plan ${plan.name}: ${plan.stages.length} stages → ${runDir}`);
    // Ctrl-C: the training under way finishes its step and checkpoints; a second one exits at once
    const stop = new AbortController();
    const onSigint = (): void => {
      if (stop.signal.aborted) process.exit(130);
      stop.abort();
    };
    process.on('SIGINT', onSigint);
    const summary = await runPlanDir(plan, runDir, {
      note,
      signal: stop.signal,
      threads: args.optInt('threads'),
      stepLogger: (stage, steps, resumedFrom) => {
        const progress = new Progress(steps, true, json ? 15000 : 5000);
        return (e) => {
          const eta = ((steps - e.step) * e.elapsed_s) / Math.max(1, e.step - resumedFrom);
          progress.update(e.step, `${stage}  loss ${e.loss.toFixed(3)}  ${e.tokens_per_s.toFixed(0)} tok/s  ETA ${formatDuration(eta)}`);
          if (e.val_loss !== undefined) progress.log(`  step ${e.step}: val loss ${e.val_loss.toFixed(4)} (${e.val_bpb!.toFixed(3)} bits/byte)`);
        };
      },
      onSample: json ? undefined : (s) => console.log(`\n> ${s.prompt}${s.text}\n`),
    }).catch((e: unknown) => {
      if (!(e instanceof PlanInterruptedError)) throw e;
      note(`${e.message}; resume with: growlm plan run ${argsAfter(process.argv, ['plan', 'run']).map(shellQuote).join(' ')}`);
      if (json) printJson({ interrupted: true, part: e.part, step: e.step, run_dir: runDir });
      return undefined;
    }).finally(() => process.off('SIGINT', onSigint));
    if (!summary) return 130;
    summary.seconds = (performance.now() - t0) / 1000;
    if (json) printJson(summary);
    else console.log(`done in ${formatDuration(summary.seconds)}; report: ${summary.report}`);
    return 0;
  },
};
