import { join } from 'node:path';
import type { Command } from '../command.js';
import { sampleContinuations } from '../../generate/generate.js';
import { presetNames } from '../../model/presets.js';
import { type Plan, loadPlan } from '../../plan/plan.js';
import { baselineSeries, runBaselines } from '../../plan/baselines.js';
import { type PlanHooks, planRunRecord, runPlan } from '../../plan/run.js';
import { formatPlanSummary, summarizePlan } from '../../plan/show.js';
import { writeReport } from '../../report/report.js';
import { RUN_FILE } from '../../report/run-record.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { note, printJson } from '../output.js';
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
  options: { json: { type: 'boolean', description: 'print JSON' } },
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
  details: 'Everything goes to RUN_DIR (default runs/<plan name>): data/, one model directory per stage, plan-state.json,\nrun.json and report.html. Running the same command again after an interruption continues where it stopped.',
  positionals: [{ name: 'PLAN', description: 'a .plan.json file or a plan name in models/', required: true }],
  options: {
    out: { type: 'string', arg: 'RUN_DIR', description: 'run directory (default: runs/<plan name>)' },
    threads: { type: 'string', arg: 'N', description: 'intra-op threads' },
    'no-baselines': { type: 'boolean', description: 'skip the plan\'s "baselines" (train only its stages)' },
    json: { type: 'boolean', description: 'print a JSON summary; progress lines only' },
  },
  async run(args) {
    const loaded = loadPlan(args.positionals[0]!);
    const plan: Plan = args.flag('no-baselines') ? { ...loaded, baselines: undefined } : loaded;
    const runDir = args.str('out') ?? join('runs', plan.name);
    const json = args.flag('json');
    const t0 = performance.now();
    note(`plan ${plan.name}: ${plan.stages.length} stages → ${runDir}`);
    const hooks = {
      note,
      threads: args.has('threads') ? args.int('threads') : undefined,
      stepLogger: (stage: string, steps: number, resumedFrom: number) => {
        const progress = new Progress(steps, true, json ? 15000 : 5000);
        return (e) => {
          const eta = ((steps - e.step) * e.elapsed_s) / Math.max(1, e.step - resumedFrom);
          progress.update(e.step, `${stage}  loss ${e.loss.toFixed(3)}  ${e.tokens_per_s.toFixed(0)} tok/s  ETA ${formatDuration(eta)}`);
          if (e.val_loss !== undefined) progress.log(`  step ${e.step}: val loss ${e.val_loss.toFixed(4)} (${e.val_bpb!.toFixed(3)} bits/byte)`);
        };
      },
    } satisfies PlanHooks;
    const state = await runPlan(plan, runDir, hooks);
    const baselines = await runBaselines(plan, runDir, hooks);
    const last = plan.stages.at(-1)!;
    const samples: { stage: string; prompt: string; text: string }[] = [];
    if (plan.samples?.prompts.length) {
      note(`samples from ${last.name}:`);
      const s = plan.samples;
      const out = await sampleContinuations(join(runDir, last.name), s.prompts, {
        maxTokens: s.max_tokens ?? 200, temperature: s.temperature ?? 0.8, topK: s.top_k ?? 40, seed: s.seed ?? 0,
      });
      for (const c of out) {
        samples.push({ stage: last.name, prompt: c.prompt, text: c.text });
        if (!json) console.log(`\n> ${c.prompt}${c.text}\n`);
      }
    }
    const record = planRunRecord(plan, state, samples);
    record.series.push(...baselineSeries(plan, baselines));
    writeFileAtomic(join(runDir, RUN_FILE), [JSON.stringify(record, null, 2) + '\n']);
    const report = writeReport(runDir);
    const summary = {
      run_dir: runDir, seconds: (performance.now() - t0) / 1000, report: report.out,
      stages: plan.stages.map((s) => ({ name: s.name, ...state.stages[s.name] })),
      samples,
      ...(baselines.length ? { baselines } : {}),
    };
    if (json) printJson(summary);
    else console.log(`done in ${formatDuration(summary.seconds)}; report: ${report.out}`);
    return 0;
  },
};
