/**
 * `growlm experiment sft-size`: does a small, well-chosen SFT set do as well as a large one ("less is
 * more")? One base model is pretrained on the builtin corpus plus the facts of the SFT demo set
 * (every question's answer as a sentence, held-out questions included: the base can know the
 * facts, fine-tuning has to teach it to answer), then fine-tuned on subsets of increasing size of the
 * demo set's training questions, chosen at random and by the diversity-aware selection, each run
 * with the same number of optimizer steps of packed rows (the same compute: a small set is seen for
 * more epochs; packing, which the measured runs used, is kept so that they stay reproducible).
 * Every model, the base included, is scored on the same held-out questions — questions never seen
 * in fine-tuning — by answer loss and greedy exact match, per source.
 *
 * RUN_DIR/sft-size.json (the settings), pretrain-text/ (the corpus files; pretrain.json: their sizes), data/ (the tokenized corpus), base/, sft-<mode>-<size>/,
 * eval.jsonl (the held-out questions scored), results.jsonl (one line per model), run.json and
 * report.html. Resumable: finished models and scores are kept.
 *
 * The demo set is built by tools/sft-demo-data.ts (its DIR/train.jsonl, heldout.jsonl, facts.txt).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { prepareDataset } from '../data/prepare.js';
import { type SftSample, readSftFile } from '../data/sft-format.js';
import type { SelectMode, SelectSummary } from '../data/sft-select.js';
import { builtinSources } from '../data/sources.js';
import { type ModelConfig, configToJson, parameterCount } from '../model/config.js';
import { CONFIG_FILE, saveModelDir } from '../model/model-dir.js';
import { initWeights } from '../model/weights.js';
import { METRICS_FILE, readMetrics } from '../train/metrics.js';
import { DEFAULT_TRAIN, trainModelDir } from '../train/train-model-dir.js';
import { type EvaluateSftResult, evaluateSft } from '../sft/evaluate.js';
import { sftModelDir } from '../sft/sft-model-dir.js';
import { RUN_FILE } from '../report/run-record.js';
import { writeReport } from '../report/report.js';
import { writeFileAtomic } from '../util/atomic.js';
import { GrowlmError, InvalidSettingError } from '../util/errors.js';
import { Rng } from '../util/rng.js';

export class SftSizeError extends GrowlmError {
  override name = 'SftSizeError';
}

export const DEMO_DATA_FILES = { train: 'train.jsonl', heldout: 'heldout.jsonl', facts: 'facts.txt' } as const;
export const RESULTS_FILE = 'results.jsonl';
export const EVAL_FILE = 'eval.jsonl';
export const PRETRAIN_FILE = 'pretrain.json';
export const SETTINGS_FILE = 'sft-size.json';

export interface SftSizeOptions {
  runDir: string;
  /** The demo set's folder (tools/sft-demo-data.ts). */
  data: string;
  /** The base model's architecture. */
  base: ModelConfig;
  baseSteps: number;
  baseBatch: number;
  baseSeq: number;
  baseLr: number;
  /** Share of the facts in the pretraining text (the rest: the builtin corpus). */
  factsShare: number;
  /** Builtin corpus bytes used (whole books, in order, until this many; default all). */
  corpusBytes?: number;
  /** Subset sizes; sizes not below the training pool are replaced by the whole pool ("all"). */
  sizes: number[];
  modes: SelectMode[];
  sftSteps: number;
  sftBatch: number;
  sftLr: number;
  /** Held-out questions scored per source (quiz, countries, definitions). */
  evalPerSource: number;
  seed: number;
  threads?: number;
  note(msg: string): void;
}

/** Settings of the full run (≈ 20 min on 2 idle cores) and of --quick (tests: under a minute). */
export const SFT_SIZE_DEFAULTS = {
  baseSteps: 700, baseBatch: 16, baseSeq: 256, baseLr: 3e-3, factsShare: 0.5,
  sizes: [100, 300, 1000, 3000], modes: ['random', 'diverse'] as SelectMode[],
  sftSteps: 250, sftBatch: 8, sftLr: 1e-3, evalPerSource: 40, seed: 0,
};
export const SFT_SIZE_QUICK = {
  ...SFT_SIZE_DEFAULTS, baseSteps: 30, baseBatch: 4, baseSeq: 128, corpusBytes: 300_000, sizes: [20], sftSteps: 6, sftBatch: 4, evalPerSource: 4,
};

/** The base of the experiment: the given architecture with room for a question and its answer (256 positions). */
export function sftBaseConfig(c: ModelConfig, quick = false): ModelConfig {
  const small = quick ? { hiddenSize: 64, numHeads: 2, numKvHeads: 2, headDim: 32, intermediateSize: 172, numLayers: 2 } : {};
  return { ...c, ...small, maxSeqLen: Math.max(c.maxSeqLen, 256) };
}

export interface SourceScore {
  source: string;
  samples: number;
  answer_loss: number;
  answer_tokens: number;
  exact_match: number;
  generated: number;
}

export interface SftSizeResult {
  /** 'base' for the pretrained model, else the fine-tuned run's directory name. */
  model: string;
  mode: SelectMode | 'all' | null;
  /** Requested subset size (null: the whole pool or the base). */
  size: number | null;
  /** Training samples after selection (and after dropping samples longer than the context). */
  train_samples: number;
  steps: number;
  /** Passes over the selected samples those steps make (steps / packed batches per epoch). */
  epochs: number;
  answer_loss: number;
  exact_match: number;
  sources: SourceScore[];
  selection: SelectSummary | null;
  train_seconds: number;
  eval_seconds: number;
  examples: { question: string; expected: string; got: string; match: boolean }[];
}

function checkData(dir: string): void {
  for (const f of Object.values(DEMO_DATA_FILES)) {
    if (!existsSync(join(dir, f))) throw new SftSizeError(`${dir} has no ${f}: build the SFT demo set first (with tools/sft-demo-data.ts)`);
  }
}

/** Per line of a demo JSONL file (1-based), its "source" field. */
function lineSources(file: string): Map<number, string> {
  const out = new Map<number, string>();
  readFileSync(file, 'utf8').split('\n').forEach((l, i) => {
    if (l.trim() === '') return;
    try {
      const s = (JSON.parse(l) as { source?: unknown }).source;
      out.set(i + 1, typeof s === 'string' ? s : 'other');
    } catch { /* readSftFile reports bad lines */ }
  });
  return out;
}

/** The held-out questions scored: up to `perSource` of each source, a seeded choice, in source order. */
export function evalSamples(heldoutFile: string, perSource: number, seed: number): { source: string; samples: SftSample[] }[] {
  const samples = readSftFile(heldoutFile).samples;
  const kinds = lineSources(heldoutFile);
  const groups = new Map<string, SftSample[]>();
  for (const s of samples) {
    const line = Number(s.source.slice(s.source.lastIndexOf(':') + 1));
    const k = kinds.get(line) ?? 'other';
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(s);
  }
  const rng = new Rng(seed + 31);
  return [...groups.keys()].sort().map((source) => {
    const xs = [...groups.get(source)!];
    for (let i = xs.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [xs[i], xs[j]] = [xs[j]!, xs[i]!];
    }
    return { source, samples: xs.slice(0, perSource) };
  });
}

/** Pretraining text: the builtin books (re-encoded as UTF-8) and the facts repeated to make `share` of the bytes, each pass shuffled. */
export function writePretrainText(dir: string, factsFile: string, share: number, seed: number, corpusBytes = Infinity): { corpus: number; facts: number; repeats: number } {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  let corpus = 0;
  for (const f of builtinSources('gutenberg').files) {
    if (corpus >= corpusBytes) break;
    const text = readFileSync(f.path).toString(f.encoding === 'latin1' ? 'latin1' : 'utf8');
    writeFileSync(join(dir, f.name), text);
    corpus += Buffer.byteLength(text);
  }
  const facts = readFileSync(factsFile, 'utf8').split('\n').filter((l) => l.trim() !== '');
  const factBytes = facts.reduce((a, l) => a + Buffer.byteLength(l) + 1, 0);
  const repeats = Math.max(1, Math.round((corpus * share) / ((1 - share) * factBytes)));
  const rng = new Rng(seed + 17);
  const parts: string[] = [];
  for (let r = 0; r < repeats; r++) {
    const xs = [...facts];
    for (let i = xs.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [xs[i], xs[j]] = [xs[j]!, xs[i]!];
    }
    parts.push(xs.join('\n'));
  }
  writeFileSync(join(dir, 'facts.txt'), parts.join('\n\n') + '\n');
  return { corpus, facts: factBytes * repeats, repeats };
}

/** What the models of a run directory depend on (sizes and modes may be added to a finished run). */
export function runSettings(o: SftSizeOptions) {
  return {
    data: resolve(o.data), base: configToJson(o.base), base_steps: o.baseSteps, base_batch: o.baseBatch, base_seq: o.baseSeq, base_lr: o.baseLr,
    facts_share: o.factsShare, corpus_bytes: o.corpusBytes ?? null, sft_steps: o.sftSteps, sft_batch: o.sftBatch, sft_lr: o.sftLr, eval_per_source: o.evalPerSource, seed: o.seed,
  };
}

/** Refuse a run directory made with other settings (its models and scores would be mixed with the new ones). */
function checkSettings(o: SftSizeOptions): void {
  const file = join(o.runDir, SETTINGS_FILE);
  const now = runSettings(o);
  if (existsSync(file)) {
    const before = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    const diff = Object.keys(now).filter((k) => JSON.stringify(before[k]) !== JSON.stringify((now as Record<string, unknown>)[k]));
    if (diff.length > 0) throw new SftSizeError(`${o.runDir} holds an sft-size run made with other settings (${diff.join(', ')}): choose another run directory`);
  } else writeFileAtomic(file, [JSON.stringify(now, null, 2) + '\n']);
}

function trainedTo(dir: string, steps: number): boolean {
  return existsSync(join(dir, CONFIG_FILE)) && existsSync(join(dir, METRICS_FILE)) && (readMetrics(join(dir, METRICS_FILE)).entries.at(-1)?.step ?? 0) >= steps;
}

/** Score one model on the evaluation groups: per source, and over all (answer loss weighted by answer tokens). */
export async function scoreModel(dir: string, groups: { source: string; samples: SftSample[] }[], threads?: number): Promise<{ answer_loss: number; exact_match: number; sources: SourceScore[]; seconds: number; examples: SftSizeResult['examples'] }> {
  const sources: SourceScore[] = [];
  const examples: SftSizeResult['examples'] = [];
  let seconds = 0;
  for (const g of groups) {
    if (g.samples.length === 0) continue;
    const r: EvaluateSftResult = await evaluateSft(dir, g.samples, { threads, keepPredictions: 2 });
    seconds += r.seconds;
    sources.push({ source: g.source, samples: r.samples, answer_loss: r.answer_loss, answer_tokens: r.answer_tokens, exact_match: r.exact_match, generated: r.generated });
    examples.push(...r.predictions.map((p) => ({ question: p.question, expected: p.expected, got: p.got, match: p.match })));
  }
  const tokens = sources.reduce((a, s) => a + s.answer_tokens, 0);
  const generated = sources.reduce((a, s) => a + s.generated, 0);
  return {
    answer_loss: sources.reduce((a, s) => a + s.answer_loss * s.answer_tokens, 0) / tokens,
    exact_match: sources.reduce((a, s) => a + s.exact_match * s.generated, 0) / generated,
    sources, seconds, examples,
  };
}

/** The fine-tuning runs: every mode at every size below the pool, then the whole pool once. */
export function sftRuns(sizes: number[], modes: SelectMode[], pool: number): { name: string; mode: SelectMode | 'all'; size: number | null }[] {
  const below = [...new Set(sizes)].filter((s) => s < pool).sort((a, b) => a - b);
  return [...below.flatMap((size) => modes.map((mode) => ({ name: `sft-${mode}-${size}`, mode, size }))), { name: 'sft-all', mode: 'all' as const, size: null }];
}

function readResults(file: string): SftSizeResult[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as SftSizeResult);
}

export async function runSftSize(o: SftSizeOptions): Promise<{ results: SftSizeResult[]; pool: number; seconds: number; report: string; base: { parameters: number; steps: number; val_loss: number | null; text: { corpus: number; facts: number; repeats: number } } }> {
  const t0 = performance.now();
  checkData(o.data);
  if (o.sizes.some((s) => !(Number.isSafeInteger(s) && s >= 1))) throw new InvalidSettingError('sizes', `subset sizes must be whole numbers ≥ 1, got ${o.sizes.join(', ')}`);
  if (o.modes.length === 0) throw new InvalidSettingError('modes', 'give at least one selection mode');
  if (!(o.factsShare > 0 && o.factsShare < 1)) throw new InvalidSettingError('factsShare', `the facts' share must be in (0, 1), got ${o.factsShare}`);
  const trainFile = join(o.data, DEMO_DATA_FILES.train);
  const pool = readSftFile(trainFile).samples.length;
  const groups = evalSamples(join(o.data, DEMO_DATA_FILES.heldout), o.evalPerSource, o.seed);
  mkdirSync(o.runDir, { recursive: true });
  checkSettings(o);
  writeFileSync(join(o.runDir, EVAL_FILE), groups.flatMap((g) => g.samples.map((s) => JSON.stringify({ messages: s.messages, source: g.source }))).join('\n') + '\n');

  // the base
  const baseDir = join(o.runDir, 'base'), dataDir = join(o.runDir, 'data');
  const textFile = join(o.runDir, PRETRAIN_FILE);
  if (!trainedTo(baseDir, o.baseSteps) || !existsSync(textFile)) {
    const text = writePretrainText(join(o.runDir, 'pretrain-text'), join(o.data, DEMO_DATA_FILES.facts), o.factsShare, o.seed, o.corpusBytes);
    writeFileAtomic(textFile, [JSON.stringify(text) + '\n']);
    o.note(`pretraining text: ${(text.corpus / 1e6).toFixed(1)} MB of the builtin corpus + the facts × ${text.repeats} (${(text.facts / 1e6).toFixed(1)} MB)`);
    rmSync(dataDir, { recursive: true, force: true });
    await prepareDataset({ inputs: [join(o.runDir, 'pretrain-text')], tokenizer: 'byte', outDir: dataDir, force: true });
    rmSync(baseDir, { recursive: true, force: true });
    o.note(`base: ${parameterCount(o.base).toLocaleString('en-US')} parameters, ${o.baseSteps} steps of ${o.baseBatch} × ${o.baseSeq} bytes at LR ${o.baseLr}`);
    saveModelDir(baseDir, { config: o.base, weights: initWeights(o.base, o.seed) });
    await trainModelDir(baseDir, dataDir, {
      ...DEFAULT_TRAIN, steps: o.baseSteps, batch: o.baseBatch, seq: o.baseSeq, lr: o.baseLr, schedule: 'cosine', warmup: Math.round(o.baseSteps * 0.03),
      minLrRatio: 0.1, evalEvery: Math.max(1, Math.round(o.baseSteps / 5)), evalBatches: 8, checkpointEvery: 0, seed: o.seed, session: { threads: o.threads },
    });
  } else o.note('base: trained (reused)');
  const text = JSON.parse(readFileSync(textFile, 'utf8')) as ReturnType<typeof writePretrainText>;
  const baseMetrics = readMetrics(join(baseDir, METRICS_FILE)).entries;
  const baseVal = baseMetrics.filter((e) => typeof e.val_loss === 'number').at(-1)?.val_loss ?? null;

  const resultsFile = join(o.runDir, RESULTS_FILE);
  const results = readResults(resultsFile);
  const save = () => writeFileAtomic(resultsFile, [results.map((r) => JSON.stringify(r)).join('\n') + '\n']);
  if (!results.some((r) => r.model === 'base')) {
    o.note('scoring the base on the held-out questions…');
    const s = await scoreModel(baseDir, groups, o.threads);
    results.push({ model: 'base', mode: null, size: null, train_samples: 0, steps: 0, epochs: 0, answer_loss: s.answer_loss, exact_match: s.exact_match, sources: s.sources, selection: null, train_seconds: 0, eval_seconds: s.seconds, examples: s.examples });
    save();
  }
  for (const run of sftRuns(o.sizes, o.modes, pool)) {
    if (results.some((r) => r.model === run.name)) continue;
    const dir = join(o.runDir, run.name);
    rmSync(dir, { recursive: true, force: true });
    o.note(`${run.name}: fine-tuning ${o.sftSteps} steps on ${run.size ?? 'all'} selected samples${run.mode === 'all' ? '' : ` (${run.mode})`}`);
    const t1 = performance.now();
    let perEpoch = 1;
    const r = await sftModelDir({
      model: baseDir, out: dir, data: trainFile, valFraction: 0, select: run.mode === 'all' ? 'random' : run.mode, maxSamples: run.size ?? undefined,
      seed: o.seed, steps: o.sftSteps, batch: o.sftBatch, packing: 'pack', lr: o.sftLr, long: 'drop', checkpointEvery: 0, session: { threads: o.threads },
    }, () => {}, (st) => { perEpoch = st.batchesPerEpoch; });
    const trainSeconds = (performance.now() - t1) / 1000;
    const s = await scoreModel(dir, groups, o.threads);
    results.push({
      model: run.name, mode: run.mode, size: run.size, train_samples: r.summary.train_samples, steps: r.steps, epochs: r.steps / Math.max(1, perEpoch),
      answer_loss: s.answer_loss, exact_match: s.exact_match, sources: s.sources, selection: r.summary.selection, train_seconds: trainSeconds, eval_seconds: s.seconds, examples: s.examples,
    });
    save();
    o.note(`  held-out answer loss ${s.answer_loss.toFixed(4)}, exact match ${(100 * s.exact_match).toFixed(1)}%`);
  }
  writeFileAtomic(join(o.runDir, RUN_FILE), [JSON.stringify(sftSizeRunRecord(o, results, pool), null, 2) + '\n']);
  const report = writeReport(o.runDir);
  return { results, pool, seconds: (performance.now() - t0) / 1000, report: report.out, base: { parameters: parameterCount(o.base), steps: o.baseSteps, val_loss: baseVal, text } };
}

/** The points of the report's size curve (see src/report/sft-size-chart.ts). */
export function sftSizePoints(results: readonly SftSizeResult[], pool: number) {
  return results.map((r) => ({
    model: r.model, mode: r.mode ?? 'base', size: r.model === 'base' ? 0 : r.size ?? pool, train_samples: r.train_samples,
    answer_loss: r.answer_loss, exact_match: r.exact_match,
    sources: r.sources.map((s) => ({ source: s.source, answer_loss: s.answer_loss, exact_match: s.exact_match, samples: s.samples })),
  }));
}

function sftSizeRunRecord(o: SftSizeOptions, results: SftSizeResult[], pool: number) {
  const stage = { name: 'base', dir: 'base', parameters: parameterCount(o.base), config: configToJson(o.base), tokens_per_s: null };
  return {
    name: `SFT data size: random vs diverse subsets of ${pool} questions`,
    kind: 'experiment' as const,
    created: new Date().toISOString(),
    description: `Base: ${parameterCount(o.base).toLocaleString('en-US')} parameters pretrained ${o.baseSteps} steps on the builtin corpus plus the demo set's facts; each fine-tune ${o.sftSteps} steps of ${o.sftBatch} packed rows at LR ${o.sftLr}; scored on ${results[0]?.sources.reduce((a, s) => a + s.samples, 0) ?? 0} held-out questions.`,
    series: [{ label: 'base (pretraining)', stages: [stage] }],
    growth: [], samples: [],
    sft_size: { pool, points: sftSizePoints(results, pool) },
  };
}
