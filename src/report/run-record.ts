/**
 * `run.json`: the record of a staged-plan run or of an experiment, written into a RUN_DIR by the
 * code that runs it and read by `growlm report RUN_DIR`, which renders RUN_DIR/report.html.
 *
 * Layout (all paths relative to RUN_DIR):
 *
 * ```json
 * {
 *   "name": "tiny → small, 3 stages",         // what the run was, shown as the report's title
 *   "kind": "plan",                            // "plan": one staged series; "experiment": several series compared
 *   "created": "2025-01-31T12:00:00.000Z",     // ISO 8601
 *   "description": "optional free text",       // optional, shown under the title
 *   "series": [                                // one per training trajectory, e.g. "staged growth" and "from scratch"
 *     { "label": "staged growth",
 *       "stages": [                            // in training order; each stage is one model directory
 *         { "name": "s1",
 *           "dir": "stages/s1",                // holds metrics.jsonl (one JSON object per optimizer step, see src/train/metrics.ts)
 *           "parameters": 857216,
 *           "config": { "hidden_size": 128, "num_hidden_layers": 4, "intermediate_size": 344, "num_attention_heads": 4 },
 *           "tokens_per_s": 5120.5 }           // measured training throughput, or null (then the report uses metrics.jsonl's last)
 *       ] } ],
 *   "growth": [                                // one per growth between consecutive stages of a series
 *     { "series": "staged growth", "from_stage": "s1", "to_stage": "s2",
 *       "max_abs_logit_diff": 1.2e-6,          // max |logits(grown) − logits(original)| on a probe batch
 *       "max_abs_logit": 3.4,                  // max |logits(original)| on the same batch (the scale of the diff)
 *       "loss_before": 2.31, "loss_after": 2.31,   // loss (nats/token) of the same batch before/after growing
 *       "seconds": 0.8, "method": "msg" } ],   // a figure that was not measured may be null
 *   "samples": [ { "stage": "s3", "prompt": "Once upon", "text": " a time …" } ]   // text = the continuation only
 * }
 * ```
 *
 * In metrics.jsonl, `tokens` and `flops` count from 0 within each stage; the report concatenates a
 * series' stages (each stage's counts offset by the totals of the stages before it).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { configToJson, parameterCount } from '../model/config.js';
import { CONFIG_FILE, readConfigFile } from '../model/model-dir.js';
import { METRICS_FILE } from '../train/metrics.js';
import type { StagedGrowth } from '../growth/record.js';
import { GrowlmError } from '../util/errors.js';

export const RUN_FILE = 'run.json';

export interface StageConfigSummary {
  hidden_size: number;
  num_hidden_layers: number;
  intermediate_size: number;
  num_attention_heads: number;
  [key: string]: unknown;
}

export interface RunStage {
  name: string;
  /** Model directory relative to RUN_DIR, holding metrics.jsonl. */
  dir: string;
  parameters: number;
  config: StageConfigSummary;
  /** Training throughput of this stage (tokens/s), or null when not measured. */
  tokens_per_s: number | null;
}

export interface RunSeries {
  label: string;
  stages: RunStage[];
}

/**
 * A growth between two stages: the part of a StagedGrowth (src/growth/record.ts, the one growth
 * record) the report reads. Readers take null for a figure that was not measured (as NaN); the
 * method is shown as written.
 */
export type RunGrowth = Pick<StagedGrowth, 'series' | 'from_stage' | 'to_stage' | 'max_abs_logit_diff' | 'max_abs_logit' | 'loss_before' | 'loss_after' | 'seconds'> & { method: string };

export interface RunSample {
  stage: string;
  prompt: string;
  /** The continuation (without the prompt). */
  text: string;
}

export interface RunRecord {
  name: string;
  kind: 'plan' | 'experiment';
  /** ISO 8601 time the run was created. */
  created: string;
  description?: string;
  series: RunSeries[];
  growth: RunGrowth[];
  samples: RunSample[];
  /** Experiments over settings and seeds: final validation loss per setting (see settings-chart.ts). */
  settings?: unknown;
  /** experiment sft-size: held-out scores per fine-tuning set size (see sft-size-chart.ts). */
  sft_size?: unknown;
}

export class RunRecordError extends GrowlmError {}

type Json = Record<string, unknown>;

function fail(where: string, what: string): never {
  throw new RunRecordError(`${RUN_FILE}: ${where} ${what}`);
}

function obj(v: unknown, where: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(where, 'must be an object');
  return v as Json;
}

function str(o: Json, k: string, where: string): string {
  if (typeof o[k] !== 'string') fail(`${where}.${k}`, 'must be a string');
  return o[k] as string;
}

function num(o: Json, k: string, where: string, nullable = false): number {
  const v = o[k];
  if (nullable && (v === null || v === undefined)) return NaN;
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(`${where}.${k}`, `must be a finite number${nullable ? ' or null' : ''}`);
  return v as number;
}

function arr(o: Json, k: string, where: string, optional = false): unknown[] {
  if (optional && o[k] === undefined) return [];
  if (!Array.isArray(o[k])) fail(`${where}.${k}`, 'must be an array');
  return o[k] as unknown[];
}

/** Validate a parsed run.json; throws a one-line error naming the first bad field. */
export function parseRunRecord(raw: unknown): RunRecord {
  const r = obj(raw, 'the top level');
  const kind = str(r, 'kind', '');
  if (kind !== 'plan' && kind !== 'experiment') fail('.kind', `must be "plan" or "experiment", got ${JSON.stringify(kind)}`);
  const series = arr(r, 'series', '').map((s, i): RunSeries => {
    const w = `.series[${i}]`;
    const so = obj(s, w);
    return {
      label: str(so, 'label', w),
      stages: arr(so, 'stages', w).map((st, j): RunStage => {
        const ww = `${w}.stages[${j}]`;
        const o = obj(st, ww);
        const config = obj(o.config ?? {}, `${ww}.config`) as StageConfigSummary;
        const tps = num(o, 'tokens_per_s', ww, true);
        return { name: str(o, 'name', ww), dir: str(o, 'dir', ww), parameters: num(o, 'parameters', ww), config, tokens_per_s: Number.isNaN(tps) ? null : tps };
      }),
    };
  });
  const labels = new Set(series.map((s) => s.label));
  if (labels.size !== series.length) fail('.series', 'labels must be distinct');
  const growth = arr(r, 'growth', '', true).map((g, i): RunGrowth => {
    const w = `.growth[${i}]`;
    const o = obj(g, w);
    const rec: RunGrowth = {
      series: str(o, 'series', w), from_stage: str(o, 'from_stage', w), to_stage: str(o, 'to_stage', w),
      // figures a writer could not measure may be null (shown as –)
      max_abs_logit_diff: num(o, 'max_abs_logit_diff', w, true), max_abs_logit: num(o, 'max_abs_logit', w, true),
      loss_before: num(o, 'loss_before', w, true), loss_after: num(o, 'loss_after', w, true),
      seconds: num(o, 'seconds', w, true), method: typeof o.method === 'string' ? o.method : '',
    };
    if (!labels.has(rec.series)) fail(`${w}.series`, `names no series ("${rec.series}")`);
    return rec;
  });
  const samples = arr(r, 'samples', '', true).map((s, i): RunSample => {
    const w = `.samples[${i}]`;
    const o = obj(s, w);
    return { stage: str(o, 'stage', w), prompt: str(o, 'prompt', w), text: str(o, 'text', w) };
  });
  return {
    name: str(r, 'name', ''), kind, created: typeof r.created === 'string' ? r.created : '',
    ...(typeof r.description === 'string' ? { description: r.description } : {}),
    series, growth, samples,
    ...(r.settings !== undefined ? { settings: r.settings } : {}),
    ...(r.sft_size !== undefined ? { sft_size: r.sft_size } : {}),
  };
}

export function readRunRecord(runDir: string): RunRecord {
  const path = join(runDir, RUN_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new RunRecordError(`${runDir} is not a run directory (cannot read ${RUN_FILE})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new RunRecordError(`${path}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  return parseRunRecord(json);
}

/**
 * The record of a model directory trained by hand (`growlm train`, no run.json): one series of one
 * stage, the directory itself, from its config.json and metrics.jsonl.
 */
export function runRecordFromModelDir(dir: string): RunRecord {
  const metrics = join(dir, METRICS_FILE);
  if (!existsSync(metrics)) throw new RunRecordError(`${dir} is a model directory without ${METRICS_FILE} (train it first)`);
  const config = readConfigFile(join(dir, CONFIG_FILE));
  const j = configToJson(config);
  const name = basename(resolve(dir));
  return {
    name, kind: 'plan', created: statSync(metrics).mtime.toISOString(),
    description: `model directory ${dir}, trained with growlm train`,
    series: [{
      label: name,
      stages: [{
        name, dir: '.', parameters: parameterCount(config), tokens_per_s: null,
        config: { hidden_size: config.hiddenSize, num_hidden_layers: config.numLayers, intermediate_size: config.intermediateSize, num_attention_heads: config.numHeads, vocab_size: j.vocab_size },
      }],
    }],
    growth: [], samples: [],
  };
}

/** RUN_DIR's run.json, or for a model directory without one the record built from its metrics. */
export function loadRunRecord(dir: string): RunRecord {
  if (!existsSync(join(dir, RUN_FILE)) && existsSync(join(dir, CONFIG_FILE))) return runRecordFromModelDir(dir);
  return readRunRecord(dir);
}
