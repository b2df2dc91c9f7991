/**
 * Decode speed at batch 1: prefill a prompt, then greedy-decode new tokens one at a time, on the
 * KV-cache session and on the uncached full-window decoder (which recomputes the whole window for
 * every token). Rounds alternate the two and the medians are reported. The engine alone: no
 * tokenizer, the next token is the argmax.
 */
import type { ModelConfig } from '../model/config.js';
import type { Weights } from '../model/weights.js';
import { DecoderRunner } from '../runtime/forward.js';
import { KvSession } from '../runtime/kv-session.js';
import type { Provider } from '../runtime/session.js';
import { GrowlmError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { argmax } from './sample.js';

export interface DecodeBenchOptions {
  promptTokens?: number;
  newTokens?: number;
  rounds?: number;
  threads?: number;
  provider?: Provider;
  /** onnxruntime's fused kernels (default) or the standard-op graph. */
  fusedKernels?: boolean;
  /** Let onnxruntime's idle threads spin (SessionOptions.spinning). */
  spinning?: boolean;
}

export interface DecodeBenchResult {
  prompt_tokens: number;
  new_tokens: number;
  threads: number | null;
  /** Cached: the prompt's prefill, ms. */
  prefill_ms: number;
  /** Cached: new tokens per second of decoding after the prefill. */
  decode_tokens_per_s: number;
  /** Uncached full-window decoder, same prompt and tokens: new tokens per second (prompt included in the first step). */
  uncached_decode_tokens_per_s: number;
  /** Whether both paths chose the same greedy tokens in every round (near-ties of random weights may flip). */
  same_greedy_tokens: boolean;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/** `promptTokens` random token ids (seeded), the prompt of the generation benchmarks. */
export function benchPrompt(config: ModelConfig, promptTokens: number, newTokens: number): number[] {
  if (promptTokens + newTokens > config.maxSeqLen) {
    throw new GrowlmError(`${promptTokens} prompt + ${newTokens} new tokens do not fit the context (max_position_embeddings ${config.maxSeqLen})`);
  }
  const rng = new Rng(1);
  return Array.from({ length: promptTokens }, () => Math.floor(rng.uniform() * config.vocabSize));
}

/** One timed greedy generation on the KV-cache session: the prompt's prefill, then `newTokens` decode steps. */
export async function cachedRound(kv: KvSession, prompt: number[], newTokens: number): Promise<{ prefillMs: number; tokensPerS: number; tokens: number[] }> {
  const t0 = performance.now();
  let logits = (await kv.prefill([prompt])).last;
  const t1 = performance.now();
  const tokens: number[] = [];
  for (let i = 0; i < newTokens; i++) {
    const id = argmax(logits);
    tokens.push(id);
    logits = await kv.decode([id]);
  }
  const t2 = performance.now();
  return { prefillMs: t1 - t0, tokensPerS: newTokens / ((t2 - t1) / 1000), tokens };
}

export async function benchDecode(config: ModelConfig, weights: Weights, opts: DecodeBenchOptions = {}): Promise<DecodeBenchResult> {
  const promptTokens = opts.promptTokens ?? 128;
  const newTokens = opts.newTokens ?? 64;
  const rounds = opts.rounds ?? 3;
  const prompt = benchPrompt(config, promptTokens, newTokens);
  const V = config.vocabSize;
  const kv = await KvSession.create(config, weights, { threads: opts.threads, provider: opts.provider, fusedKernels: opts.fusedKernels, spinning: opts.spinning });
  const full = await DecoderRunner.create(config, weights, ['logits'], { threads: opts.threads, provider: opts.provider });
  const prefill: number[] = [], cached: number[] = [], uncached: number[] = [];
  let same = true;
  try {
    for (let r = 0; r <= rounds; r++) { // round 0 warms up
      const { prefillMs, tokensPerS, tokens: produced } = await cachedRound(kv, prompt, newTokens);
      const t2 = performance.now();
      const context = prompt.slice();
      for (let i = 0; i < newTokens; i++) {
        const out = await full.run({ inputs: BigInt64Array.from(context, BigInt), batch: 1, seq: context.length });
        context.push(argmax(out.logits!.subarray((context.length - 1) * V)));
      }
      const t3 = performance.now();
      same &&= context.slice(promptTokens).every((id, i) => id === produced[i]);
      if (r === 0) continue;
      prefill.push(prefillMs);
      cached.push(tokensPerS);
      uncached.push(newTokens / ((t3 - t2) / 1000));
    }
  } finally {
    await kv.release();
    await full.release();
  }
  return {
    prompt_tokens: promptTokens, new_tokens: newTokens, threads: opts.threads ?? null,
    prefill_ms: median(prefill), decode_tokens_per_s: median(cached), uncached_decode_tokens_per_s: median(uncached), same_greedy_tokens: same,
  };
}
