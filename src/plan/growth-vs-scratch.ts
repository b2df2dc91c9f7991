/**
 * growth-vs-scratch over several seeds: per seed (init, growth and data order), the staged plan,
 * the final-size model from scratch at several multiples of the staged run's training FLOPs, and the
 * baseline that does not grow — the first stage's model trained on with the FLOPs of all later
 * stages — both defined as a plan's `baselines` section defines them (baselines.ts: the last
 * stage's schedule kind, so that every series ends with the same decay). Reports final losses (mean ± std, ties) and the
 * FLOPs-to-reach-loss ratio, with its spread, at several target losses.
 *
 * RUN_DIR/seed-<s>/{staged, scratch-x<b>, continue}/; run.json + report.html (curves: seed 0).
 */
import { join } from 'node:path';
import { configToJson, parameterCount } from '../model/config.js';
import { METRICS_FILE, readMetrics } from '../train/metrics.js';
import { type CurvePoint, type ExperimentResult, flopsToReach, growthSummary, validationCurve } from './experiment.js';
import { baselineSpec, trainBaseline } from './baselines.js';
import { type Plan, resolveStageConfig } from './plan.js';
import { type PlanHooks, planRunRecord, runPlan } from './run.js';
import { type MeanStd, type Verdict, meanStd, pairedVerdict, verdict } from './seeds-stats.js';

/** The plan with seed s: first-stage init seed, growth seeds and data order all shifted by s. */
export function seededPlan(plan: Plan, s: number): Plan {
  return {
    ...plan,
    defaults: { ...plan.defaults, data_seed: (plan.defaults?.data_seed ?? 0) + s },
    stages: plan.stages.map((st, i) => ({
      ...st,
      ...(i === 0 ? { seed: (st.seed ?? 0) + s } : {}),
      ...(st.grow ? { grow: { ...st.grow, seed: (st.grow.seed ?? i) + 100 * s } } : {}),
      ...(st.train.data_seed !== undefined ? { train: { ...st.train, data_seed: st.train.data_seed + s } } : {}),
    })),
  };
}

/** Target losses: from the highest first-stage final loss down to the scratch 1× final loss, `n` levels. */
export function targetLosses(high: number, low: number, n = 4): number[] {
  if (n === 1 || !(high > low)) return [low];
  return Array.from({ length: n }, (_, k) => high + ((low - high) * k) / (n - 1));
}

export interface SeedRun {
  seed: number;
  staged: CurvePoint[];
  staged_flops: number;
  first_stage_flops: number;
  scratch: { budget: number; curve: CurvePoint[]; flops: number }[];
  continued: CurvePoint[];
  continue_flops: number;
  growth: ExperimentResult['growth'];
}

export interface SeedsResult {
  seeds: number;
  budgets: number[];
  staged: { flops: number; final_val_loss: MeanStd };
  /**
   * `staged_vs`: final losses compared across seeds (a tie within the two spreads); `staged_minus`:
   * the per-seed difference staged − baseline (both arms share each seed), and its verdict.
   */
  scratch: { budget: number; flops: number; final_val_loss: MeanStd; staged_vs: Verdict; staged_minus: MeanStd; staged_vs_paired: Verdict }[];
  continue_first_stage: { flops: number; final_val_loss: MeanStd; staged_vs: Verdict; staged_minus: MeanStd; staged_vs_paired: Verdict };
  /**
   * Per target loss: staged FLOPs to reach it / scratch-1× FLOPs to reach it (below 1: growth saved
   * compute), and / continue-first-stage FLOPs, over the seeds where both reached it.
   */
  targets: { target: number; staged_over_scratch: MeanStd; staged_over_continue: MeanStd }[];
}

const lastFlops = (dir: string) => readMetrics(join(dir, METRICS_FILE)).entries.at(-1)?.flops ?? 0;

export async function runSeed(plan: Plan, runDir: string, seed: number, budgets: number[], hooks: PlanHooks, scratchLr?: number): Promise<SeedRun> {
  const p = seededPlan(plan, seed);
  const dir = join(runDir, `seed-${seed}`), stagedDir = join(dir, 'staged');
  hooks.note(`— seed ${seed}: staged growth —`);
  const state = await runPlan(p, stagedDir, hooks);
  const stagedDirs = p.stages.map((s) => join(stagedDir, s.name));
  const stagedFlops = stagedDirs.reduce((a, d) => a + lastFlops(d), 0);
  const firstFlops = lastFlops(stagedDirs[0]!);
  const dataDir = join(stagedDir, 'data');
  // the baselines exactly as a plan's "baselines" section defines them (baselines.ts), at seed `seed`
  const scratch = [];
  for (const b of budgets) {
    const spec = baselineSpec(p, 'scratch', join(dir, `scratch-x${b}`), { total: stagedFlops * b, first: firstFlops, stagedDir, seed });
    await trainBaseline(p, scratchLr === undefined ? spec : { ...spec, lr: scratchLr }, dataDir, `${p.stages.at(-1)!.model} from scratch, ${b}× the staged run's training FLOPs`, hooks);
    scratch.push({ budget: b, curve: validationCurve([spec.dir]), flops: lastFlops(spec.dir) });
  }
  const cd = join(dir, 'continue');
  await trainBaseline(p, baselineSpec(p, 'continue_first', cd, { total: stagedFlops, first: firstFlops, stagedDir, seed }), dataDir, `${p.stages[0]!.name} trained on`, hooks);
  return {
    seed, staged: validationCurve(stagedDirs), staged_flops: stagedFlops, first_stage_flops: firstFlops, scratch,
    continued: validationCurve([stagedDirs[0]!, cd]), continue_flops: firstFlops + lastFlops(cd), growth: growthSummary(p, state, stagedDirs),
  };
}

export function summarizeSeeds(runs: SeedRun[], budgets: number[], levels = 4): SeedsResult {
  const fin = (c: CurvePoint[]) => c.at(-1)!.val_loss;
  const staged = meanStd(runs.map((r) => fin(r.staged)));
  const cont = meanStd(runs.map((r) => fin(r.continued)));
  const s1 = meanStd(runs.map((r) => fin(r.scratch[0]!.curve)));
  // the highest loss every curve passes below: the first stage's final loss (on the staged curve)
  const firstEnd = Math.max(...runs.map((r) => r.staged.filter((p) => p.flops <= r.first_stage_flops).at(-1)?.val_loss ?? fin(r.staged)));
  const ratio = (a: CurvePoint[], b: CurvePoint[], t: number) => {
    const x = flopsToReach(a, t), y = flopsToReach(b, t);
    return x === null || y === null || y === 0 ? NaN : x / y;
  };
  return {
    seeds: runs.length, budgets,
    staged: { flops: meanStd(runs.map((r) => r.staged_flops)).mean, final_val_loss: staged },
    scratch: budgets.map((b, i) => {
      const f = meanStd(runs.map((r) => fin(r.scratch[i]!.curve)));
      const d = meanStd(runs.map((r) => fin(r.staged) - fin(r.scratch[i]!.curve)));
      return { budget: b, flops: meanStd(runs.map((r) => r.scratch[i]!.flops)).mean, final_val_loss: f, staged_vs: verdict(staged, f), staged_minus: d, staged_vs_paired: pairedVerdict(d) };
    }),
    continue_first_stage: (() => {
      const d = meanStd(runs.map((r) => fin(r.staged) - fin(r.continued)));
      return { flops: meanStd(runs.map((r) => r.continue_flops)).mean, final_val_loss: cont, staged_vs: verdict(staged, cont), staged_minus: d, staged_vs_paired: pairedVerdict(d) };
    })(),
    targets: targetLosses(firstEnd, s1.mean, levels).map((t) => ({
      target: t,
      staged_over_scratch: meanStd(runs.map((r) => ratio(r.staged, r.scratch[0]!.curve, t))),
      staged_over_continue: meanStd(runs.map((r) => ratio(r.staged, r.continued, t))),
    })),
  };
}

/**
 * The experiment over `seeds` seeds and scratch `budgets` (multiples of the staged FLOPs; the first is
 * the reference of the ratios). `legacy`: seed 0's result in the single-seed layout's fields.
 */
export async function runGrowthVsScratchSeeds(plan: Plan, runDir: string, hooks: PlanHooks, seeds: number, budgets: number[], scratchLr?: number) {
  const runs: SeedRun[] = [];
  for (let s = 0; s < seeds; s++) runs.push(await runSeed(plan, runDir, s, budgets, hooks, scratchLr));
  const summary = summarizeSeeds(runs, budgets);
  const r0 = runs[0]!, sc = r0.scratch[0]!;
  const reach = flopsToReach(r0.staged, sc.curve.at(-1)!.val_loss);
  const legacy: ExperimentResult = {
    staged_flops: r0.staged_flops, scratch_flops: sc.flops, scratch_final_val_loss: sc.curve.at(-1)!.val_loss, staged_final_val_loss: r0.staged.at(-1)!.val_loss,
    staged_flops_to_reach_scratch: reach, flops_ratio: reach === null ? null : reach / sc.flops, growth: r0.growth,
  };
  const p0 = seededPlan(plan, 0);
  const base = planRunRecord(p0, { plan: plan.name, stages: {} }, []);
  const last = resolveStageConfig(plan, plan.stages.at(-1)!), first = resolveStageConfig(plan, plan.stages[0]!);
  const stage = (name: string, dir: string, c: typeof last) => ({ name, dir, parameters: parameterCount(c), config: configToJson(c), tokens_per_s: null });
  const record = {
    ...base, name: `${plan.name}: growth vs scratch (${seeds} seed${seeds > 1 ? 's' : ''})`, kind: 'experiment' as const,
    series: [
      { label: 'staged growth', stages: base.series[0]!.stages.map((s) => ({ ...s, dir: join('seed-0', 'staged', s.dir) })) },
      ...budgets.map((b) => ({ label: `from scratch ×${b}`, stages: [stage('scratch', join('seed-0', `scratch-x${b}`), last)] })),
      { label: 'first stage trained on', stages: [stage(plan.stages[0]!.name, join('seed-0', 'staged', plan.stages[0]!.name), first), stage('continue', join('seed-0', 'continue'), first)] },
    ],
    growth: [],
    settings: [
      { label: 'staged growth', mean: summary.staged.final_val_loss.mean, std: summary.staged.final_val_loss.std, n: seeds, verdict: 'reference' },
      ...summary.scratch.map((s) => ({ label: `from scratch ×${s.budget}`, mean: s.final_val_loss.mean, std: s.final_val_loss.std, n: seeds, verdict: verdict(s.final_val_loss, summary.staged.final_val_loss) })),
      { label: 'first stage trained on', mean: summary.continue_first_stage.final_val_loss.mean, std: summary.continue_first_stage.final_val_loss.std, n: seeds, verdict: verdict(summary.continue_first_stage.final_val_loss, summary.staged.final_val_loss) },
    ],
    result: { ...legacy, seeds: summary },
  };
  return { result: { ...legacy, seeds: summary }, record };
}
