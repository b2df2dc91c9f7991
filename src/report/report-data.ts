/**
 * What the report shows, computed from a run record and its stages' metrics.jsonl: each series'
 * stages concatenated into one curve (cumulative tokens and training FLOPs), stage boundaries
 * (growth events), and per-stage and per-growth summaries.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { METRICS_FILE, type MetricsEntry, readMetrics } from '../train/metrics.js';
import { type RunGrowth, type RunRecord, type RunStage } from './run-record.js';

/** Most training-loss points drawn per series (longer runs are averaged in buckets). */
export const MAX_TRAIN_POINTS = 1500;

export interface TrainPoint {
  /** Cumulative training tokens. */
  tokens: number;
  loss: number;
}

export interface ValPoint {
  tokens: number;
  /** Cumulative training FLOPs. */
  flops: number;
  loss: number;
  bpb: number | null;
  stage: string;
}

export interface Boundary {
  /** Cumulative tokens and FLOPs where the stage starts. */
  tokens: number;
  flops: number;
  /** e.g. "s1 → s2 (msg)". */
  label: string;
}

export interface StageSummary {
  series: string;
  name: string;
  dir: string;
  parameters: number;
  config: RunStage['config'];
  steps: number;
  /** Tokens and FLOPs trained in this stage. */
  tokens: number;
  flops: number;
  /** Where the stage starts on the series' cumulative axes. */
  startTokens: number;
  startFlops: number;
  seconds: number;
  tokensPerS: number | null;
  /** 'run': from run.json; 'metrics': the last metrics.jsonl entry (run.json had null). */
  tokensPerSFrom: 'run' | 'metrics' | null;
  finalLoss: number | null;
  finalValLoss: number | null;
  finalValBpb: number | null;
  /** Steps whose loss spiked (metrics.jsonl `spike`). */
  spikes: { step: number; loss: number; z: number; firstBatch: number }[];
}

export interface SeriesData {
  label: string;
  train: TrainPoint[];
  val: ValPoint[];
  boundaries: Boundary[];
  stages: StageSummary[];
  totalTokens: number;
  totalFlops: number;
  seconds: number;
}

export type GrowthRow = RunGrowth & {
  /** max |Δlogit| / max |logit|. */
  relative: number;
  paramsBefore: number | null;
  paramsAfter: number | null;
};

export interface ReportData {
  run: RunRecord;
  series: SeriesData[];
  growth: GrowthRow[];
  /** Problems worth showing (missing metrics, unknown stages); the report is written anyway. */
  warnings: string[];
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Average consecutive points into at most `max` buckets (keeps the first and last positions). */
export function decimate(points: TrainPoint[], max = MAX_TRAIN_POINTS): TrainPoint[] {
  if (points.length <= max) return points;
  const per = points.length / max;
  const out: TrainPoint[] = [];
  for (let b = 0; b < max; b++) {
    const lo = Math.floor(b * per), hi = Math.min(points.length, Math.floor((b + 1) * per));
    let t = 0, l = 0;
    for (let i = lo; i < hi; i++) { t += points[i]!.tokens; l += points[i]!.loss; }
    out.push({ tokens: t / (hi - lo), loss: l / (hi - lo) });
  }
  return out;
}

export function buildReportData(runDir: string, run: RunRecord): ReportData {
  const warnings: string[] = [];
  const series: SeriesData[] = run.series.map((s) => {
    const train: TrainPoint[] = [];
    const val: ValPoint[] = [];
    const boundaries: Boundary[] = [];
    const stages: StageSummary[] = [];
    let offTokens = 0, offFlops = 0, seconds = 0;
    s.stages.forEach((st, i) => {
      let entries: MetricsEntry[] = [];
      const path = join(runDir, st.dir, METRICS_FILE);
      if (!existsSync(path)) {
        warnings.push(`${s.label} / ${st.name}: no ${join(st.dir, METRICS_FILE)}`);
      } else {
        const m = readMetrics(path);
        entries = m.entries;
        if (m.skipped) warnings.push(`${s.label} / ${st.name}: skipped ${m.skipped} unreadable line(s) of ${join(st.dir, METRICS_FILE)}`);
        if (entries.length === 0) warnings.push(`${s.label} / ${st.name}: ${join(st.dir, METRICS_FILE)} has no steps`);
      }
      if (i > 0) {
        const g = run.growth.find((x) => x.series === s.label && x.to_stage === st.name);
        const prev = s.stages[i - 1]!.name;
        boundaries.push({ tokens: offTokens, flops: offFlops, label: g ? `${g.from_stage} → ${g.to_stage}${g.method ? ` (${g.method})` : ''}` : `${prev} → ${st.name}` });
      }
      let lastLoss: number | null = null, lastVal: number | null = null, lastBpb: number | null = null;
      for (const e of entries) {
        if (finite(e.loss)) { train.push({ tokens: offTokens + e.tokens, loss: e.loss }); lastLoss = e.loss; }
        if (finite(e.val_loss)) {
          val.push({ tokens: offTokens + e.tokens, flops: offFlops + e.flops, loss: e.val_loss, bpb: finite(e.val_bpb) ? e.val_bpb : null, stage: st.name });
          lastVal = e.val_loss;
          lastBpb = finite(e.val_bpb) ? e.val_bpb : null;
        }
      }
      const last = entries[entries.length - 1];
      const tokens = last?.tokens ?? 0, flops = last?.flops ?? 0, secs = finite(last?.elapsed_s) ? last.elapsed_s : 0;
      const fromMetrics = finite(last?.tokens_per_s) ? last.tokens_per_s : null;
      stages.push({
        series: s.label, name: st.name, dir: st.dir, parameters: st.parameters, config: st.config,
        steps: entries.length, tokens, flops, startTokens: offTokens, startFlops: offFlops, seconds: secs,
        tokensPerS: st.tokens_per_s ?? fromMetrics,
        tokensPerSFrom: st.tokens_per_s !== null ? 'run' : fromMetrics !== null ? 'metrics' : null,
        finalLoss: lastLoss, finalValLoss: lastVal, finalValBpb: lastBpb,
        spikes: entries.flatMap((e) => (e.spike ? [{ step: e.step, loss: e.loss, z: e.spike.z, firstBatch: e.spike.first_batch }] : [])),
      });
      offTokens += tokens;
      offFlops += flops;
      seconds += secs;
    });
    return { label: s.label, train: decimate(train), val, boundaries, stages, totalTokens: offTokens, totalFlops: offFlops, seconds };
  });
  const growth: GrowthRow[] = run.growth.map((g) => {
    const stages = run.series.find((s) => s.label === g.series)!.stages;
    const from = stages.find((s) => s.name === g.from_stage), to = stages.find((s) => s.name === g.to_stage);
    if (!from || !to) warnings.push(`growth ${g.from_stage} → ${g.to_stage}: series "${g.series}" has no stage named "${!from ? g.from_stage : g.to_stage}"`);
    return { ...g, relative: g.max_abs_logit > 0 ? g.max_abs_logit_diff / g.max_abs_logit : NaN, paramsBefore: from?.parameters ?? null, paramsAfter: to?.parameters ?? null };
  });
  const stageNames = new Set(run.series.flatMap((s) => s.stages.map((st) => st.name)));
  for (const sm of run.samples) if (!stageNames.has(sm.stage)) warnings.push(`sample for unknown stage "${sm.stage}"`);
  return { run, series, growth, warnings };
}
