/**
 * Text generation from a model directory: encode the prompt with the tokenizer the model was
 * trained with, prefill it into the KV-cache inference graph (graphs/inference.ts), then decode one
 * token per step against the cache, sampling each next token from the last position's logits.
 *
 * When the context fills (past + 1 > max_position_embeddings), the window slides: the cache is
 * dropped and the last ¾ of the context is prefilled again (positions from 0), so the model keeps
 * most of its context and the recomputation happens once every ¼ context, not every token.
 *
 * The uncached full-window path (`nextLogits`, `generateUncached`) stays as the reference the cached
 * one is tested against. `openModel` / `generate` / `sampleContinuations` are the interface.
 */
import { type ModelConfig, parameterCount } from '../model/config.js';
import { loadModelDir } from '../model/model-dir.js';
import { DecoderRunner } from '../runtime/forward.js';
import type { Provider } from '../runtime/session.js';
import { KvSession } from '../runtime/kv-session.js';
import { type Tokenizer, type TokenizerMeta, loadTokenizer } from '../data/tokenizer.js';
import { GrowlmError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { DEFAULT_SAMPLING, type SamplingOptions, applyRepetitionPenalty, sampleToken, validateRepetitionPenalty, validateSampling } from './sample.js';

/** Tokens `generate` produces at most unless told otherwise. */
export const DEFAULT_MAX_TOKENS = 200;

export class GenerateError extends GrowlmError {}

/** The tokenizer given is not the one the model was trained with. */
export class TokenizerMismatchError extends GenerateError {
  override name = 'TokenizerMismatchError';
  constructor(readonly spec: string, given: string, recordedKind: string, recordedVocab: number, dir: string) {
    super(`tokenizer ${spec} (${given}) is not the ${recordedKind} tokenizer (vocab ${recordedVocab}) that ${dir} was trained with`);
  }
}

/** The model records no tokenizer and none was given. */
export class NoTokenizerError extends GenerateError {
  override name = 'NoTokenizerError';
  constructor(readonly dir: string) {
    super(`${dir} has no recorded tokenizer: train it first or give a tokenizer (byte, gpt2 or a tokenizer.json path)`);
  }
}

/** A model opened for generation: one cached-decoding session, reused for every prompt (one generation at a time). */
export interface GenerationModel {
  readonly dir: string;
  readonly config: ModelConfig;
  readonly tokenizer: Tokenizer;
  readonly parameters: number;
  /** The KV-cache session generation runs on. */
  readonly session: KvSession;
  /**
   * Run the full-window decoder (no cache) on one window of token ids; returns the logits of its
   * last position. The reference path: its session is created on first use.
   */
  nextLogits(window: ArrayLike<number>): Promise<Float32Array>;
  release(): Promise<void>;
}

export interface OpenOptions {
  /** Tokenizer spec (`byte`, `gpt2`, or a tokenizer.json path) for a model that has none recorded. */
  tokenizer?: string;
  /** Intra-op threads for onnxruntime. */
  threads?: number;
  /** Execution provider (default cpu). */
  provider?: Provider;
  /**
   * Let onnxruntime's idle threads spin between kernels (SessionOptions.spinning; default off). A
   * decode step is ≈ 100 kernels, most of them small: on an idle machine spinning made bench-small
   * decoding ≈ 1.4× faster, on a busy one up to 2× slower (docs/onnxruntime.md#the-kv-cache).
   */
  spinning?: boolean;
}

export interface GenerateOptions extends Partial<SamplingOptions> {
  /** Tokens to generate at most (default 200); fewer when the tokenizer's end-of-text id is sampled. */
  maxTokens?: number;
  /** Seed of the sampler (default 0); the same seed, model and options give the same text. */
  seed?: number;
  /** Called with each new piece of text as it is produced (for streaming). */
  onText?: (piece: string) => void;
  /** Stop when the text contains one of these strings; the text ends before it (OpenAI's `stop`). */
  stop?: string[];
  /**
   * Repetition penalty (CTRL, as Hugging Face applies it): the logit of every token already in the
   * context (prompt and generated) is divided by it when positive, multiplied when negative.
   * 1 (default) = none; > 1 discourages repeats.
   */
  repetitionPenalty?: number;
}

export interface GenerateResult {
  /** The generated continuation (without the prompt, without an end-of-text token). */
  text: string;
  /** The generated token ids (without an end-of-text token; with a stop string's tokens, which `text` leaves out). */
  tokens: number[];
  /** Generated tokens per second of decoding (prompt encoding and session creation excluded). */
  tokensPerS: number;
  promptTokens: number;
  stopReason: 'max_tokens' | 'eot' | 'stop';
  seconds: number;
}

const sameTokenizer = (a: Record<string, unknown>, b: Record<string, unknown>) =>
  a.kind === b.kind && a.vocab_size === b.vocab_size && (a.sha256 === undefined || b.sha256 === undefined || a.sha256 === b.sha256);

/** The tokenizer a model was trained with (recorded in its config by `train`), or the one given. */
export async function modelTokenizer(dir: string, config: ModelConfig, spec?: string): Promise<Tokenizer> {
  const recorded = config.tokenizer;
  if (spec !== undefined) {
    const tok = await loadTokenizer(spec);
    const meta = tok.meta() as unknown as Record<string, unknown>;
    if (recorded && !sameTokenizer(recorded, meta)) {
      throw new TokenizerMismatchError(spec, `${meta.kind}, vocab ${meta.vocab_size}`, String(recorded.kind), Number(recorded.vocab_size), dir);
    }
    return tok;
  }
  if (!recorded) throw new NoTokenizerError(dir);
  return loadTokenizer(recorded as unknown as TokenizerMeta, dir);
}

export async function openModel(dir: string, opts: OpenOptions = {}): Promise<GenerationModel> {
  const { config, weights } = loadModelDir(dir);
  const tokenizer = await modelTokenizer(dir, config, opts.tokenizer);
  const session = await KvSession.create(config, weights, { threads: opts.threads, provider: opts.provider, spinning: opts.spinning });
  const V = config.vocabSize;
  let runner: Promise<DecoderRunner> | undefined;
  return {
    dir, config, tokenizer, parameters: parameterCount(config), session,
    async nextLogits(window) {
      runner ??= (() => {
        const m = loadModelDir(dir);
        return DecoderRunner.create(m.config, m.weights, ['logits'], { threads: opts.threads, provider: opts.provider });
      })();
      const seq = window.length;
      const inputs = new BigInt64Array(seq);
      for (let i = 0; i < seq; i++) inputs[i] = BigInt(window[i]!);
      const { logits } = await (await runner).run({ inputs, batch: 1, seq });
      return logits!.subarray((seq - 1) * V, seq * V);
    },
    async release() {
      await session.release();
      if (runner) await (await runner).release();
    },
  };
}

/** Next-token logits for a context that grows by one token between calls. */
type LogitsSource = (context: number[]) => Promise<Float32Array>;

/** The window of the context kept when it slides: its last ¾ (see the module comment). */
export function slideKeep(maxSeqLen: number): number {
  return maxSeqLen - Math.floor(maxSeqLen / 4);
}

/** Cached: prefill the context (or the window it slid to), then one decode step per new token. */
function cachedLogits(model: GenerationModel): LogitsSource {
  const { session, config } = model;
  let start = 0;
  let fresh = true;
  return async (context) => {
    if (!fresh && context.length - start !== session.positionOf(0) + 1) throw new Error('cached generation: the context must grow by one token per step');
    if (!fresh && context.length - start <= config.maxSeqLen) return session.decode([context[context.length - 1]!]);
    fresh = false;
    if (context.length - start > config.maxSeqLen) start = context.length - slideKeep(config.maxSeqLen);
    return (await session.prefill([context.slice(start)])).last;
  };
}

/** Uncached: the full-window decoder on the last ≤ max_position_embeddings tokens, every step. */
function uncachedLogits(model: GenerationModel): LogitsSource {
  const max = model.config.maxSeqLen;
  return (context) => model.nextLogits(context.length > max ? context.slice(context.length - max) : context);
}

/** Encode a prompt and check it against the model; throws a one-line error for unusable prompts. */
export function encodePrompt(model: GenerationModel, prompt: string): number[] {
  if (prompt.length === 0) throw new GenerateError('the prompt is empty');
  const ids = model.tokenizer.encode(prompt);
  if (ids.length === 0) throw new GenerateError('the prompt encodes to no tokens');
  for (let i = 0; i < ids.length; i++) {
    if (!(ids[i]! >= 0 && ids[i]! < model.config.vocabSize)) {
      throw new GenerateError(`the prompt's token ${i} (id ${ids[i]}) is outside the model's vocabulary (size ${model.config.vocabSize}): the model and its tokenizer do not match`);
    }
  }
  return ids;
}

/** Index of the first stop string in `text` (-1 if none). */
export function findStop(text: string, stops: readonly string[]): number {
  let at = -1;
  for (const s of stops) {
    const i = text.indexOf(s);
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  return at;
}

/**
 * The part of the text generated so far that is safe to print: without a trailing incomplete
 * character (U+FFFD from a partial UTF-8 sequence, completed by a later token) and without a
 * trailing piece that could be the start of a stop string.
 */
export function stableText(text: string, stops: readonly string[]): string {
  let end = text.length;
  while (end > 0 && text[end - 1] === '\uFFFD') end--;
  let hold = 0;
  for (const s of stops) {
    for (let k = Math.min(s.length - 1, end); k > hold; k--) {
      if (text.startsWith(s.slice(0, k), end - k)) { hold = k; break; }
    }
  }
  return text.slice(0, end - hold);
}

/** Prints what each new stable text adds to what was printed before. */
export class TextStream {
  private emitted = '';

  constructor(private readonly sink?: (piece: string) => void) {}

  show(stable: string): void {
    if (!this.sink) return;
    // A tokenizer whose decoding of a prefix changes when more tokens follow: print nothing more
    // that could contradict what was already printed.
    if (stable.length > this.emitted.length && stable.startsWith(this.emitted)) {
      this.sink(stable.slice(this.emitted.length));
      this.emitted = stable;
    }
  }
}

const generating = new WeakSet<GenerationModel>();

export async function generate(model: GenerationModel, prompt: string, opts: GenerateOptions = {}): Promise<GenerateResult> {
  // the cache belongs to one sequence
  if (generating.has(model)) throw new GenerateError(`${model.dir} is already generating: one generation at a time per opened model`);
  generating.add(model);
  try {
    return await generateWith(model, prompt, opts, cachedLogits(model));
  } finally {
    generating.delete(model);
  }
}

/** @internal Generation on the uncached full-window path: the reference `generate` is tested against. */
export async function generateUncached(model: GenerationModel, prompt: string, opts: GenerateOptions = {}): Promise<GenerateResult> {
  return generateWith(model, prompt, opts, uncachedLogits(model));
}

async function generateWith(model: GenerationModel, prompt: string, opts: GenerateOptions, next: LogitsSource): Promise<GenerateResult> {
  const sampling: SamplingOptions = {
    temperature: opts.temperature ?? DEFAULT_SAMPLING.temperature,
    topK: opts.topK ?? DEFAULT_SAMPLING.topK,
    topP: opts.topP ?? DEFAULT_SAMPLING.topP,
  };
  validateSampling(sampling);
  const maxTokens = opts.maxTokens ?? DEFAULT_MAX_TOKENS;
  if (!Number.isSafeInteger(maxTokens) || maxTokens < 1) throw new GenerateError(`max tokens must be an integer ≥ 1, got ${maxTokens}`);
  const penalty = opts.repetitionPenalty ?? 1;
  validateRepetitionPenalty(penalty);
  const stops = opts.stop ?? [];
  if (stops.some((s) => typeof s !== 'string' || s.length === 0)) throw new GenerateError('stop strings must be non-empty');
  const promptIds = encodePrompt(model, prompt);
  const rng = new Rng(opts.seed ?? 0);
  const { config, tokenizer } = model;
  // Sample only ids the tokenizer can decode (a model's vocabulary may be padded beyond it).
  const n = Math.min(config.vocabSize, tokenizer.vocabSize);
  const eot = tokenizer.eotId;
  const context = promptIds.slice();
  const seen = new Set(context);
  const out: number[] = [];
  const stream = new TextStream(opts.onText);
  let stopReason: GenerateResult['stopReason'] = 'max_tokens';
  let text: string | undefined;
  const t0 = performance.now();
  for (let i = 0; i < maxTokens; i++) {
    let logits = await next(context);
    if (penalty !== 1) logits = applyRepetitionPenalty(logits, seen, penalty);
    const id = sampleToken(logits, sampling, rng, n);
    if (eot !== undefined && id === eot) { stopReason = 'eot'; break; }
    context.push(id);
    seen.add(id);
    out.push(id);
    if (stops.length === 0 && !opts.onText) continue;
    const sofar = tokenizer.decode(out);
    // the whole text, every step: a decoding may change at its end as tokens complete characters
    const at = findStop(sofar, stops);
    if (at >= 0) { text = sofar.slice(0, at); stopReason = 'stop'; break; }
    stream.show(stableText(sofar, stops));
  }
  const seconds = (performance.now() - t0) / 1000;
  text ??= tokenizer.decode(out);
  stream.show(text);
  return { text, tokens: out, tokensPerS: seconds > 0 ? out.length / seconds : 0, promptTokens: promptIds.length, stopReason, seconds };
}

export interface GenerateTextResult extends GenerateResult {
  /** The tokenizer used (`byte`, `gpt2`, `tokenizer.json`). */
  tokenizer: string;
}

/** Open a model directory, continue one prompt, release the model. */
export async function generateText(dir: string, prompt: string, opts: GenerateOptions & OpenOptions = {}): Promise<GenerateTextResult> {
  const model = await openModel(dir, opts);
  try {
    return { ...(await generate(model, prompt, opts)), tokenizer: model.tokenizer.kind };
  } finally {
    await model.release();
  }
}

export interface ContinuationOptions extends Omit<GenerateOptions, 'onText'>, OpenOptions {}

export interface Continuation extends GenerateResult {
  prompt: string;
}

/**
 * Sample one continuation per prompt from a model directory (for run reports): the model is opened
 * once; prompt i is sampled with seed `seed + i` (default seed 0, so a report is reproducible).
 * Defaults: 100 tokens, temperature 0.8, top-k 40.
 */
export async function sampleContinuations(modelDir: string, prompts: string[], opts: ContinuationOptions = {}): Promise<Continuation[]> {
  const model = await openModel(modelDir, opts);
  try {
    const results: Continuation[] = [];
    for (let i = 0; i < prompts.length; i++) {
      const r = await generate(model, prompts[i]!, { maxTokens: 100, ...opts, seed: (opts.seed ?? 0) + i });
      results.push({ prompt: prompts[i]!, ...r });
    }
    return results;
  } finally {
    await model.release();
  }
}
