/**
 * Fine-tuning data, from a JSONL file to training rows: read and check the samples, hold some out
 * for validation, select the training set, render each conversation with the chat template and
 * tokenize it with its answer tokens marked, and fit the rows to the context. Every sample that is
 * left out is counted by reason in the summary; nothing is written here.
 */
import type { ChatTemplate } from '../data/chat-template.js';
import { type SftSample, readSftFile } from '../data/sft-format.js';
import { type SelectMode, type SelectSummary, selectSamples } from '../data/sft-select.js';
import { type LongPolicy, type SftRow, answerCount, fitRows, sampleRow, tokenizeConversation } from '../data/sft-tokenize.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { InvalidSettingError } from '../util/errors.js';
import { Rng } from '../util/rng.js';

export interface SftDataOptions {
  /** The JSONL file of samples. */
  data: string;
  /** Skip (and count) unusable lines instead of stopping at the first. */
  skipBadLines: boolean;
  /** Held-out samples for validation: a JSONL file (default: `valFraction` of `data`). */
  valData?: string;
  /** Fraction of `data` held out when there is no `valData` (default 0.05, at most `maxValSamples`; 0: none). */
  valFraction: number;
  maxValSamples: number;
  select: SelectMode;
  maxSamples?: number;
  /** What to do with samples longer than the context. */
  long: LongPolicy;
  seed: number;
}

export const DEFAULT_SFT_DATA: Omit<SftDataOptions, 'data'> = {
  skipBadLines: false, valFraction: 0.05, maxValSamples: 200, select: 'random', long: 'error', seed: 0,
};

export interface SftDataSummary {
  file: string;
  /** Non-blank lines read. */
  lines: number;
  /** Usable samples read. */
  samples: number;
  /** Lines skipped, by reason (skipBadLines). */
  skipped: Record<string, number>;
  skipped_examples: string[];
  held_out: number;
  selection: SelectSummary;
  template: string;
  end_of_turn: string;
  /** Samples longer than the context (training and held out), and what became of them. */
  too_long: number;
  truncated: number;
  dropped: number;
  train_samples: number;
  train_tokens: number;
  /** Trained targets (answer tokens, with each turn's end marker). */
  answer_tokens: number;
  /** The longest sample, in input positions. */
  longest: number;
}

export interface SftData {
  rows: SftRow[];
  valRows: SftRow[];
  summary: SftDataSummary;
}

/** Split off the held-out samples (seeded, before selection, so every selection is validated on the same ones). */
function holdOut(samples: SftSample[], count: number, seed: number): { train: SftSample[]; val: SftSample[] } {
  if (count === 0) return { train: samples, val: [] };
  const rng = new Rng(seed + 7919);
  const picked = new Set<number>();
  while (picked.size < count) picked.add(rng.int(samples.length));
  return { train: samples.filter((_, i) => !picked.has(i)), val: samples.filter((_, i) => picked.has(i)) };
}

/** Tokenized rows of conversations (answer tokens marked). */
export function conversationRows(samples: readonly SftSample[], template: ChatTemplate, tokenizer: Tokenizer): SftRow[] {
  return samples.map((s) => sampleRow(tokenizeConversation(template, tokenizer, s.messages, s.source)));
}

export function prepareSftData(o: SftDataOptions, template: ChatTemplate, tokenizer: Tokenizer, seq: number): SftData {
  if (!(o.valFraction >= 0 && o.valFraction < 1)) throw new InvalidSettingError('valFraction', `the held-out fraction must be in [0, 1), got ${o.valFraction}`);
  const read = readSftFile(o.data, { skipBad: o.skipBadLines });
  let train = read.samples;
  let val: SftSample[] = [];
  let skipped = { ...read.skipped };
  const examples = [...read.examples];
  if (o.valData !== undefined) {
    const v = readSftFile(o.valData, { skipBad: o.skipBadLines });
    val = v.samples;
    for (const [k, n] of Object.entries(v.skipped)) skipped = { ...skipped, [`${k} (held-out file)`]: n };
    examples.push(...v.examples);
  } else {
    const count = Math.min(o.maxValSamples, Math.floor(train.length * o.valFraction));
    ({ train, val } = holdOut(train, count, o.seed));
  }
  const selection = selectSamples(train, { mode: o.select, maxSamples: o.maxSamples, seed: o.seed });
  const fit = fitRows(conversationRows(selection.samples, template, tokenizer), seq, o.long);
  const fitVal = fitRows(conversationRows(val, template, tokenizer), seq, o.long);
  if (fit.rows.length === 0) throw new InvalidSettingError('long', `no training sample fits the context of ${seq} tokens (${fit.dropped} dropped)`);
  const summary: SftDataSummary = {
    file: o.data, lines: read.lines, samples: read.samples.length, skipped, skipped_examples: examples.slice(0, 5),
    held_out: fitVal.rows.length, selection: selection.summary,
    template: template.origin, end_of_turn: template.endOfTurn,
    too_long: fit.tooLong + fitVal.tooLong, truncated: fit.truncated + fitVal.truncated, dropped: fit.dropped + fitVal.dropped,
    train_samples: fit.rows.length,
    train_tokens: fit.rows.reduce((a, r) => a + r.inputs.length, 0),
    answer_tokens: fit.rows.reduce((a, r) => a + answerCount(r), 0),
    longest: Math.max(fit.longest, fitVal.longest),
  };
  return { rows: fit.rows, valRows: fitVal.rows, summary };
}
