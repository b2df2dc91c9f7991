/**
 * The SFT demo set: the quiz, countries and definitions items (sources.ts), one item per question
 * (the first of a repeated question is kept: quiz before countries before definitions), split into
 * train and held-out by question — every item with the same relation and subject (e.g. the capital
 * of France, from either source) lands on the same side, decided by a seeded hash of that key — and
 * the facts of all items as pretraining text. Deterministic for its options.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { normalizeText } from '../../src/data/sft-select.js';
import { DEMO_DATA_FILES } from '../../src/plan/sft-size.js';
import { type QaItem, QUIZ_DIR, countryItems, definitionItems, quizItems } from './sources.js';

export interface DemoOptions {
  /** The quiz files' folder; null leaves the quiz out. */
  quizDir?: string | null;
  /** How many definitions (a seeded choice among those with short enough answers), or 'all'. */
  definitions?: number | 'all';
  /** Leave out items whose answer is longer than this (characters). */
  maxAnswerChars?: number;
  /** Fraction of the questions held out. Default 0.1. */
  heldout?: number;
  seed?: number;
}

export interface DemoSet {
  train: QaItem[];
  heldout: QaItem[];
  /** Every item's fact, one a line, in a seeded order. */
  facts: string[];
  manifest: {
    options: Required<Omit<DemoOptions, 'quizDir'>> & { quizDir: string | null };
    sources: Record<string, { items: number; train: number; heldout: number }>;
    quiz: { records: number; skipped_empty: number; pattern_errors: string[] } | null;
    repeated_questions: number;
    too_long_answers: number;
  };
}

function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The split key of an item: its relation and normalised subject. */
export const questionKey = (it: QaItem) => `${it.relation}\u0000${normalizeText(it.subject)}`;

export function buildDemoSet(o: DemoOptions = {}): DemoSet {
  const options = { quizDir: o.quizDir === undefined ? QUIZ_DIR : o.quizDir, definitions: o.definitions ?? 'all', maxAnswerChars: o.maxAnswerChars ?? 200, heldout: o.heldout ?? 0.1, seed: o.seed ?? 0 };
  const quiz = options.quizDir === null ? null : quizItems(options.quizDir);
  let defs = definitionItems();
  let tooLong = 0;
  const short = (xs: QaItem[]) => xs.filter((x) => (x.answer.length <= options.maxAnswerChars ? true : (tooLong++, false)));
  defs = short(defs);
  if (options.definitions !== 'all') {
    const n = options.definitions;
    defs = defs.map((d) => ({ d, h: hash32(`${options.seed}:def:${d.question}`) })).sort((a, b) => a.h - b.h).slice(0, n).map((x) => x.d);
  }
  const all = [...short(quiz?.items ?? []), ...short(countryItems()), ...defs];
  const seen = new Set<string>();
  const items: QaItem[] = [];
  let repeated = 0;
  for (const it of all) {
    const k = normalizeText(it.question);
    if (seen.has(k)) { repeated++; continue; }
    seen.add(k);
    items.push(it);
  }
  const train: QaItem[] = [], heldout: QaItem[] = [];
  const limit = options.heldout * 2 ** 32;
  for (const it of items) (hash32(`${options.seed}:split:${questionKey(it)}`) < limit ? heldout : train).push(it);
  const sources: DemoSet['manifest']['sources'] = {};
  for (const [side, xs] of [['train', train], ['heldout', heldout]] as const) {
    for (const it of xs) {
      const s = (sources[it.source] ??= { items: 0, train: 0, heldout: 0 });
      s.items++;
      s[side]++;
    }
  }
  const facts = items.map((it) => ({ f: it.fact, h: hash32(`${options.seed}:fact:${it.question}`) })).sort((a, b) => a.h - b.h).map((x) => x.f);
  return {
    train, heldout, facts,
    manifest: {
      options, sources,
      quiz: quiz && { records: quiz.records, skipped_empty: quiz.skipped, pattern_errors: quiz.errors },
      repeated_questions: repeated, too_long_answers: tooLong,
    },
  };
}

/** One JSONL line in the messages format, with the item's source. */
export function sftLine(it: QaItem): string {
  return JSON.stringify({ messages: [{ role: 'user', content: it.question }, { role: 'assistant', content: it.answer }], source: it.source });
}

export const MANIFEST_FILE = 'manifest.json';

/** Write DIR/train.jsonl, heldout.jsonl, facts.txt and manifest.json. */
export function writeDemoSet(dir: string, d: DemoSet): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, DEMO_DATA_FILES.train), d.train.map(sftLine).join('\n') + '\n');
  writeFileSync(join(dir, DEMO_DATA_FILES.heldout), d.heldout.map(sftLine).join('\n') + '\n');
  writeFileSync(join(dir, DEMO_DATA_FILES.facts), d.facts.join('\n') + '\n');
  writeFileSync(join(dir, MANIFEST_FILE), JSON.stringify(d.manifest, null, 2) + '\n');
}
