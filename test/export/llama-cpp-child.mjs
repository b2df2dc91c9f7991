// Runs llama.cpp (node-llama-cpp's prebuilt CPU binary) on GGUF files in a process of its own: a file
// llama.cpp cannot load may abort the whole process. Usage: node llama-cpp-child.mjs REQUEST.json
// REQUEST: { jobs: [{ model, logprobs?: ids, greedy?: { prompt: ids, tokens: n }, texts?: strings, specialTexts?: strings }] }
// Prints one JSON line: { results: [{ logprobs: [position][token], greedy: ids, tokenized: ids[], detokenized: strings,
// specialTokenized: ids[], special: { bos, eos, eot } }] }. Exact settings: F32 KV cache, no flash attention.
import { readFileSync } from 'node:fs';
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';

const { jobs } = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, maxThreads: 1 });

async function run(job) {
  const model = await llama.loadModel({ modelPath: job.model, gpuLayers: 0 });
  const context = await model.createContext({
    contextSize: 256, batchSize: 256, threads: 1, sequences: 1,
    flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32',
  });
  const sequence = context.getSequence();
  const out = { special: { bos: model.tokens.bos, eos: model.tokens.eos, eot: model.tokens.eot } };
  if (job.logprobs) {
    const res = await sequence.controlledEvaluate(job.logprobs.map((t) => [t, { generateNext: { probabilities: true } }]));
    out.logprobs = res.map((r) => {
      const lp = [];
      for (const [tok, p] of r.next.probabilities) lp[tok] = Math.log(p);
      return lp;
    });
    await sequence.clearHistory();
  }
  if (job.greedy) {
    const ids = [];
    for await (const t of sequence.evaluate(job.greedy.prompt, { temperature: 0 })) {
      ids.push(t);
      if (ids.length >= job.greedy.tokens) break;
    }
    out.greedy = ids;
  }
  if (job.texts) {
    out.tokenized = job.texts.map((t) => model.tokenize(t, false));
    out.detokenized = out.tokenized.map((ids) => model.detokenize(ids, false));
  }
  if (job.specialTexts) out.specialTokenized = job.specialTexts.map((t) => model.tokenize(t, true));
  await context.dispose();
  await model.dispose();
  return out;
}

const results = [];
for (const job of jobs) results.push(await run(job));
process.stdout.write(JSON.stringify({ results }) + '\n');
await llama.dispose();
