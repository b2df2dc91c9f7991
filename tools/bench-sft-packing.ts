/**
 * Packing vs padding for fine-tuning: the same samples trained one epoch per round, packed several
 * to a row of SEQ positions (block-diagonal mask, positions restarting per sample) or padded one per
 * row to the longest row of each batch; rounds alternate so both see the same machine load. Reports
 * useful (sample) tokens and answer tokens per second. Samples: question/answer pairs about the
 * countries of the countries-list package (dev dependency), short (capitals) and long (descriptions)
 * answers, ChatML, byte tokenizer; the tiny preset with random weights. Prints one JSON object.
 *
 *   npm run build && node dist/tools/bench-sft-packing.js [SAMPLES=256] [ROUNDS=3] [THREADS=2] [SEQ=256] [LONG_EVERY=3]
 *
 * LONG_EVERY: every N-th sample has a long answer (0: only short ones).
 */
import { createRequire } from 'node:module';
import { resolveTemplate } from '../src/data/chat-template.js';
import type { SftSample } from '../src/data/sft-format.js';
import { type PackingMode, epochBatches } from '../src/data/sft-pack.js';
import { answerCount, fitRows, sampleRow, tokenizeConversation } from '../src/data/sft-tokenize.js';
import { ByteTokenizer } from '../src/data/tokenizer.js';
import { loadPreset } from '../src/model/presets.js';
import { initWeights } from '../src/model/weights.js';
import { needsMallocTuning, relaunchWithTunedMalloc } from '../src/runtime/malloc-tuning.js';
import { TrainStep } from '../src/train/step.js';

interface Country { name: string; capital: string; continent: string; currency: string[]; languages: string[]; native: string }

function samples(n: number, longEvery: number): SftSample[] {
  const { countries } = createRequire(import.meta.url)('countries-list') as { countries: Record<string, Country> };
  const out: SftSample[] = [];
  const list = Object.values(countries).filter((c) => c.capital);
  for (let i = 0; out.length < n; i++) {
    const c = list[i % list.length]!;
    const long = longEvery > 0 && i % longEvery === longEvery - 1;
    const q = long ? `Describe ${c.name} in one sentence.` : `What is the capital of ${c.name}?`;
    const a = long ? `${c.name} (${c.native}) lies in ${c.continent}; its capital is ${c.capital}, its currency ${c.currency.join(', ')} and its languages ${c.languages.join(', ')}.` : c.capital;
    out.push({ messages: [{ role: 'user', content: q }, { role: 'assistant', content: a }], source: `countries:${i}` });
  }
  return out;
}

if (needsMallocTuning()) {
  process.exitCode = await relaunchWithTunedMalloc();
} else {
  const [n = 256, rounds = 3, threads = 2, seq = 256, longEvery = 3] = process.argv.slice(2).map(Number);
  const config = { ...loadPreset('tiny'), maxSeqLen: seq };
  const template = resolveTemplate('chatml');
  const tok = new ByteTokenizer();
  const fit = fitRows(samples(n, longEvery).map((s) => sampleRow(tokenizeConversation(template, tok, s.messages, s.source))), seq, 'drop');
  const rows = fit.rows;
  const useful = rows.reduce((a, r) => a + r.inputs.length, 0);
  const answers = rows.reduce((a, r) => a + answerCount(r), 0);
  const order = rows.map((_, i) => i);
  const steps: Record<PackingMode, TrainStep> = {
    pack: await TrainStep.create(config, initWeights(config, 0), { packed: true, session: { threads } }),
    pad: await TrainStep.create(config, initWeights(config, 0), { session: { threads } }),
  };
  const batches = { pack: epochBatches(rows, order, 8, seq, 'pack'), pad: epochBatches(rows, order, 8, seq, 'pad') };
  const positions = (m: PackingMode) => batches[m].reduce((a, b) => a + b.batch * b.seq, 0);
  const times: Record<PackingMode, number[]> = { pack: [], pad: [] };
  for (const m of ['pack', 'pad'] as const) await steps[m].step([batches[m][0]!], 1e-4); // warm-up
  for (let r = 0; r < rounds; r++) {
    for (const m of (r % 2 === 0 ? ['pack', 'pad'] : ['pad', 'pack']) as PackingMode[]) {
      const t0 = performance.now();
      for (const b of batches[m]) await steps[m].step([b], 1e-4);
      times[m].push((performance.now() - t0) / 1000);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const report = (m: PackingMode) => ({
    batches: batches[m].length, positions: positions(m), fill: useful / positions(m),
    seconds: times[m], useful_tokens_per_s: useful / median(times[m]), answer_tokens_per_s: answers / median(times[m]),
  });
  console.log(JSON.stringify({
    samples: rows.length, long_every: longEvery, dropped: fit.dropped, useful_tokens: useful, answer_tokens: answers, seq, threads,
    pack: report('pack'), pad: report('pad'),
    pack_over_pad: median(times.pad) / median(times.pack),
    per_round: times.pack.map((t, i) => times.pad[i]! / t),
  }));
  for (const s of Object.values(steps)) await s.release();
}
