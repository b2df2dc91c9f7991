/**
 * A plan or an experiment run into a run directory, end to end: the stages (src/plan/run.ts), sample
 * continuations from the last stage, run.json and report.html.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { sampleContinuations } from '../generate/generate.js';
import { writeReport } from '../report/report.js';
import { RUN_FILE } from '../report/run-record.js';
import { writeFileAtomic } from '../util/atomic.js';
import { acquireDirLock } from '../util/dir-lock.js';
import { runGrowthVsScratchSeeds } from './growth-vs-scratch.js';
import type { Plan } from './plan.js';
import { type BaselineResult, baselineSeries, runBaselines } from './baselines.js';
import { type PlanHooks, type PlanState, planRunRecord, runPlan } from './run.js';

export interface Sample { stage: string; prompt: string; text: string }

export interface PlanRunSummary {
  run_dir: string;
  seconds: number;
  /** The report.html written. */
  report: string;
  stages: Array<{ name: string } & Partial<PlanState['stages'][string]>>;
  samples: Sample[];
  /** The plan's baselines at the staged run's training FLOPs (when it has a `baselines` section). */
  baselines?: BaselineResult[];
}

export interface PlanRunHooks extends PlanHooks {
  /** Called with each sample continuation as it is produced. */
  onSample?(sample: Sample): void;
}

/** Run (or continue) a staged plan in `runDir`, then sample, write run.json and report.html. */
export async function runPlanDir(plan: Plan, runDir: string, hooks: PlanRunHooks): Promise<PlanRunSummary> {
  mkdirSync(runDir, { recursive: true });
  const lock = acquireDirLock(runDir); // one process per run directory
  if (lock.note) hooks.note(`warning: ${lock.note}`);
  try {
    return await runPlanDirLocked(plan, runDir, hooks);
  } finally {
    lock.release();
  }
}

async function runPlanDirLocked(plan: Plan, runDir: string, hooks: PlanRunHooks): Promise<PlanRunSummary> {
  const t0 = performance.now();
  const state = await runPlan(plan, runDir, hooks);
  const baselines = await runBaselines(plan, runDir, hooks);
  const last = plan.stages.at(-1)!;
  const samples: Sample[] = [];
  if (plan.samples?.prompts.length) {
    hooks.note(`samples from ${last.name}:`);
    const s = plan.samples;
    const out = await sampleContinuations(join(runDir, last.name), s.prompts, {
      maxTokens: s.max_tokens ?? 200, temperature: s.temperature ?? 0.8, topK: s.top_k ?? 40, seed: s.seed ?? 0,
    });
    for (const c of out) {
      const sample = { stage: last.name, prompt: c.prompt, text: c.text };
      samples.push(sample);
      hooks.onSample?.(sample);
    }
  }
  const record = planRunRecord(plan, state, samples);
  record.series.push(...baselineSeries(plan, baselines));
  writeFileAtomic(join(runDir, RUN_FILE), [JSON.stringify(record, null, 2) + '\n']);
  const report = writeReport(runDir);
  return {
    run_dir: runDir, seconds: (performance.now() - t0) / 1000, report: report.out,
    stages: plan.stages.map((s) => ({ name: s.name, ...state.stages[s.name] })),
    samples,
    ...(baselines.length ? { baselines } : {}),
  };
}

export interface ExperimentOptions {
  /** Seeds (init, growth and data order) of every series. */
  seeds: number;
  /** Scratch training FLOPs as multiples of the staged run's. */
  budgets: number[];
  /** Peak LR of the scratch run (default: the first stage's). */
  scratchLr?: number;
}

export const DEFAULT_EXPERIMENT: ExperimentOptions = { seeds: 3, budgets: [1, 2, 4] };

/** Growth vs scratch (and vs the first stage trained on) in `runDir` over seeds (resumable), with run.json and report.html. */
export async function runExperimentDir(plan: Plan, runDir: string, hooks: PlanHooks, options: Partial<ExperimentOptions> = {}) {
  const o = { ...DEFAULT_EXPERIMENT, ...options };
  const t0 = performance.now();
  const { result, record } = await runGrowthVsScratchSeeds(plan, runDir, hooks, o.seeds, o.budgets, o.scratchLr);
  writeFileAtomic(join(runDir, RUN_FILE), [JSON.stringify(record, null, 2) + '\n']);
  const report = writeReport(runDir);
  return { ...result, report: report.out, seconds: (performance.now() - t0) / 1000 };
}
