// llama.cpp decode baseline for `growlm bench generate` (node-llama-cpp's prebuilt CPU library, no
// network, nothing compiled): greedy generation on a GGUF file at batch 1 with one thread count, in a
// process of its own (a GGUF llama.cpp cannot load may abort the process).
//
//   node tools/llama-cpp-decode-bench.mjs MODEL.gguf PROMPT_IDS(comma-separated) NEW_TOKENS THREADS [WARMUP_S=0]
//
// Untimed generations for at least WARMUP_S seconds (one at least), then one measured: prefill_ms = the prompt's evaluation up to the first
// generated token; decode_tokens_per_s = NEW_TOKENS decode steps (tokens 2 … NEW_TOKENS + 1) per
// second, the steps growlm's figure counts. F32 KV cache and no flash attention (llama.cpp's exact
// settings, INTEROP notes: the F16 cache and flash attention change the logits). Prints one JSON line.
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';

const [modelPath, idsArg, newArg, threadsArg, warmupArg = '0'] = process.argv.slice(2);
const prompt = idsArg.split(',').map(Number);
const newTokens = Number(newArg), threads = Number(threadsArg);
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, maxThreads: threads });
const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
const context = await model.createContext({
  contextSize: prompt.length + newTokens + 8, batchSize: prompt.length, threads, sequences: 1,
  flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32',
});
const sequence = context.getSequence();

async function generate() {
  const tokens = [];
  const t0 = performance.now();
  let t1 = t0;
  for await (const t of sequence.evaluate(prompt, { temperature: 0 })) {
    tokens.push(t);
    if (tokens.length === 1) t1 = performance.now();
    if (tokens.length > newTokens) break;
  }
  const t2 = performance.now();
  await sequence.clearHistory();
  return { prefill_ms: t1 - t0, decode_tokens_per_s: newTokens / ((t2 - t1) / 1000), tokens: tokens.slice(0, newTokens) };
}

const warmUntil = performance.now() + Number(warmupArg) * 1000;
do await generate(); while (performance.now() < warmUntil);
const r = await generate();
process.stdout.write(JSON.stringify({ engine: 'llama.cpp', threads, ...r }) + '\n');
await context.dispose();
await model.dispose();
await llama.dispose();
