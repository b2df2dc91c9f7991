/**
 * Text generation from a model directory: encode the prompt with the tokenizer the model was
 * trained with, then repeatedly run the decoder on the last ≤ max_position_embeddings tokens and
 * sample the next token from the last position's logits.
 *
 * There is no KV cache yet: every step recomputes the whole window (O(window) work per token). A
 * later KV-cache export replaces the inside of `generate`; `openModel` / `generate` /
 * `sampleContinuations` are the interface callers use and stay as they are.
 */
import { type ModelConfig, parameterCount } from '../model/config.js';
import { loadModelDir } from '../model/model-dir.js';
import { DecoderRunner } from '../runtime/forward.js';
import type { Provider } from '../runtime/session.js';
import { type Tokenizer, type TokenizerMeta, loadTokenizer } from '../data/tokenizer.js';
import { GrowlmError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { DEFAULT_SAMPLING, type SamplingOptions, sampleToken, validateSampling } from './sample.js';

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

/** A model opened for generation: one decoder session, reused for every step and every prompt. */
export interface GenerationModel {
  readonly dir: string;
  readonly config: ModelConfig;
  readonly tokenizer: Tokenizer;
  readonly parameters: number;
  /** Run the decoder on one window of token ids; returns the logits of its last position. */
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
}

export interface GenerateOptions extends Partial<SamplingOptions> {
  /** Tokens to generate at most (default 200); fewer when the tokenizer's end-of-text id is sampled. */
  maxTokens?: number;
  /** Seed of the sampler (default 0); the same seed, model and options give the same text. */
  seed?: number;
  /** Called with each new piece of text as it is produced (for streaming). */
  onText?: (piece: string) => void;
}

export interface GenerateResult {
  /** The generated continuation (without the prompt, without an end-of-text token). */
  text: string;
  /** The generated token ids (same exclusions as `text`). */
  tokens: number[];
  /** Generated tokens per second of decoding (prompt encoding and session creation excluded). */
  tokensPerS: number;
  promptTokens: number;
  stopReason: 'max_tokens' | 'eot';
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
  const runner = await DecoderRunner.create(config, weights, ['logits'], { threads: opts.threads, provider: opts.provider });
  const V = config.vocabSize;
  return {
    dir, config, tokenizer, parameters: parameterCount(config),
    async nextLogits(window) {
      const seq = window.length;
      const inputs = new BigInt64Array(seq);
      for (let i = 0; i < seq; i++) inputs[i] = BigInt(window[i]!);
      const { logits } = await runner.run({ inputs, batch: 1, seq });
      return logits!.subarray((seq - 1) * V, seq * V);
    },
    release: () => runner.release(),
  };
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

/**
 * Decodes the growing list of generated ids into text pieces that are safe to print: text that
 * ends in an incomplete character (U+FFFD from a partial UTF-8 sequence) is held back until the
 * next token completes it.
 */
class TextStream {
  private emitted = '';

  constructor(private readonly tokenizer: Tokenizer, private readonly sink?: (piece: string) => void) {}

  push(ids: number[], final = false): string {
    const text = this.tokenizer.decode(ids);
    if (!this.sink) return text;
    let stable = text;
    if (!final) while (stable.endsWith('\uFFFD')) stable = stable.slice(0, -1);
    // A tokenizer whose decoding of a prefix changes when more tokens follow: print nothing more
    // that could contradict what was already printed.
    if (stable.length > this.emitted.length && stable.startsWith(this.emitted)) {
      this.sink(stable.slice(this.emitted.length));
      this.emitted = stable;
    }
    return text;
  }
}

export async function generate(model: GenerationModel, prompt: string, opts: GenerateOptions = {}): Promise<GenerateResult> {
  const sampling: SamplingOptions = {
    temperature: opts.temperature ?? DEFAULT_SAMPLING.temperature,
    topK: opts.topK ?? DEFAULT_SAMPLING.topK,
    topP: opts.topP ?? DEFAULT_SAMPLING.topP,
  };
  validateSampling(sampling);
  const maxTokens = opts.maxTokens ?? DEFAULT_MAX_TOKENS;
  if (!Number.isSafeInteger(maxTokens) || maxTokens < 1) throw new GenerateError(`max tokens must be an integer ≥ 1, got ${maxTokens}`);
  const promptIds = encodePrompt(model, prompt);
  const rng = new Rng(opts.seed ?? 0);
  const { config, tokenizer } = model;
  // Sample only ids the tokenizer can decode (a model's vocabulary may be padded beyond it).
  const n = Math.min(config.vocabSize, tokenizer.vocabSize);
  const eot = tokenizer.eotId;
  const context = promptIds.slice();
  const out: number[] = [];
  const stream = new TextStream(tokenizer, opts.onText);
  let stopReason: GenerateResult['stopReason'] = 'max_tokens';
  const t0 = performance.now();
  for (let i = 0; i < maxTokens; i++) {
    const window = context.length > config.maxSeqLen ? context.slice(context.length - config.maxSeqLen) : context;
    const logits = await model.nextLogits(window);
    const id = sampleToken(logits, sampling, rng, n);
    if (eot !== undefined && id === eot) { stopReason = 'eot'; break; }
    context.push(id);
    out.push(id);
    if (opts.onText) stream.push(out);
  }
  const seconds = (performance.now() - t0) / 1000;
  const text = stream.push(out, true);
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
