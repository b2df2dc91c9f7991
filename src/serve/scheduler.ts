/**
 * Continuous batching over one cached decoder: every active sequence decodes in ONE batched run of
 * the KV-cache graph per step; waiting requests join between steps (prefilled together as one
 * left-padded batch, their cache merged into the batch: batch-cache.ts) and a finished or cancelled
 * one leaves between steps, so the batch changes size while it runs, as in llama.cpp's server and vLLM.
 *
 * onnxruntime's `session.run` works off the JavaScript thread, so the process keeps answering
 * (health checks, new requests) while a step runs. Each sequence samples with its own seeded Rng and
 * options; its text is streamed with the same stop-string and partial-character rules as `generate`.
 */
import { type GenerationModel, TextStream, findStop, stableText } from '../generate/generate.js';
import { type SamplingOptions, sampleToken, validateSampling } from '../generate/sample.js';
import { GrowlmError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { type BatchCache, type CacheShape, SPARE_COLUMNS, appendRows, emptyCache, fullCache, keepRows } from '../runtime/batch-cache.js';

export class ServeError extends GrowlmError {
  override name = 'ServeError';
}

/** Every slot and every queue place is taken. */
export class QueueFullError extends ServeError {
  override name = 'QueueFullError';
}

export interface SequenceRequest {
  promptIds: number[];
  /** Tokens to generate at most (≥ 1). */
  maxTokens: number;
  sampling: SamplingOptions;
  seed: number;
  /** The text ends before the first of these (OpenAI's `stop`). */
  stop: string[];
  /** Each new piece of text as it becomes final (for streaming). */
  onText?: (piece: string) => void;
  /** Aborting it stops the sequence and frees its slot (a client that went away). */
  signal?: AbortSignal;
}

export interface SequenceResult {
  text: string;
  tokens: number[];
  promptTokens: number;
  /** `stop`: end-of-text or a stop string; `length`: max tokens; `cancelled`: the signal was aborted. */
  finishReason: 'stop' | 'length' | 'cancelled';
}

export interface SchedulerOptions {
  /** Sequences decoded together at most. */
  maxConcurrent: number;
  /** Requests waiting for a slot at most; beyond, `submit` throws QueueFullError. */
  maxQueue: number;
}

interface Sequence {
  req: SequenceRequest;
  resolve(r: SequenceResult): void;
  reject(e: unknown): void;
  rng: Rng;
  tokens: number[];
  stream: TextStream;
  /** Logits of the next token. */
  logits: Float32Array;
  /** Position of the last sampled token (= the real length of the row before it). */
  position: number;
  result?: SequenceResult;
}

type Waiting = Pick<Sequence, 'req' | 'resolve' | 'reject'>;

export class Scheduler {
  private active: Sequence[] = [];
  private waiting: Waiting[] = [];
  private cache: BatchCache;
  private readonly shape: CacheShape;
  private running = false;
  private closed = false;
  /** Tokens generated since start (all sequences). */
  tokensGenerated = 0;
  /** Decode steps run, and the rows they held in all (their mean is the batching achieved). */
  steps = 0;
  stepRows = 0;

  constructor(readonly model: GenerationModel, readonly opts: SchedulerOptions) {
    const c = model.config;
    this.shape = { heads: c.numKvHeads, headDim: c.headDim };
    this.cache = emptyCache(c.numLayers);
  }

  get activeCount(): number {
    return this.active.length;
  }

  get queueLength(): number {
    return this.waiting.length;
  }

  /** Queue one sequence; resolves when it ends. Throws QueueFullError at once when there is no room. */
  submit(req: SequenceRequest): Promise<SequenceResult> {
    if (this.closed) throw new ServeError('the server is shutting down');
    validateSampling(req.sampling);
    if (req.promptIds.length === 0) throw new ServeError('the prompt encodes to no tokens');
    if (this.active.length + this.waiting.length >= this.opts.maxConcurrent + this.opts.maxQueue) {
      throw new QueueFullError(`all ${this.opts.maxConcurrent} slots and ${this.opts.maxQueue} queue places are taken`);
    }
    const done = new Promise<SequenceResult>((resolve, reject) => this.waiting.push({ req, resolve, reject }));
    this.kick();
    return done;
  }

  /** Refuse new requests and wait for the running step to end; sequences still queued or active are cancelled. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w.resolve(cancelled(w.req));
    for (const s of this.active) s.result ??= { ...textOf(this.model, s), finishReason: 'cancelled' };
    while (this.running) await new Promise((r) => setTimeout(r, 5));
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    void this.loop();
  }

  private async loop(): Promise<void> {
    try {
      while (this.active.length > 0 || this.waiting.length > 0) await this.step();
    } catch (e) {
      // a failure of the decoder itself: every active sequence fails with it, the server goes on
      for (const s of this.active.splice(0)) s.reject(e);
      this.cache = emptyCache(this.model.config.numLayers);
    } finally {
      this.running = false;
    }
    if (this.waiting.length > 0) this.kick();
  }

  /** Admit waiting requests, sample one token per sequence, let finished ones leave, run one batched decode step. */
  private async step(): Promise<void> {
    await this.admit();
    for (const s of this.active) if (!s.result) this.sample(s);
    const keep: number[] = [];
    this.active.forEach((s, r) => {
      if (s.result) s.resolve(s.result);
      else keep.push(r);
    });
    if (keep.length < this.active.length) {
      this.cache = keepRows(this.cache, keep, this.shape, SPARE_COLUMNS);
      this.active = keep.map((r) => this.active[r]!);
    }
    if (this.active.length === 0) return;
    await this.decode();
  }

  /** Prefill the waiting requests that fit into free slots, as one left-padded batch, and merge them into the batch. */
  private async admit(): Promise<void> {
    const joining: Waiting[] = [];
    while (this.active.length + joining.length < this.opts.maxConcurrent && this.waiting.length > 0) {
      const w = this.waiting.shift()!;
      if (w.req.signal?.aborted) w.resolve(cancelled(w.req));
      else joining.push(w);
    }
    if (joining.length === 0) return;
    const rows = joining.length;
    const seq = Math.max(...joining.map((w) => w.req.promptIds.length));
    const ids = new BigInt64Array(rows * seq), attentionMask = new BigInt64Array(rows * seq), positions = new BigInt64Array(rows * seq);
    joining.forEach((w, r) => {
      const p = w.req.promptIds, pad = seq - p.length;
      for (let j = 0; j < p.length; j++) {
        ids[r * seq + pad + j] = BigInt(p[j]!);
        attentionMask[r * seq + pad + j] = 1n;
        positions[r * seq + pad + j] = BigInt(j);
      }
    });
    let run;
    try {
      run = await this.model.session.runWith({ batch: rows, seq, ids, attentionMask, positions }, 0, []);
    } catch (e) {
      for (const w of joining) w.reject(e);
      return;
    }
    const V = this.model.config.vocabSize;
    this.cache = appendRows(this.cache, fullCache(rows, seq, attentionMask, run.present), this.shape, SPARE_COLUMNS);
    joining.forEach((w, r) => this.active.push({
      ...w, rng: new Rng(w.req.seed), tokens: [], stream: new TextStream(w.req.onText),
      logits: lastRow(run.logits, r, seq, V, this.model.session.logits), position: w.req.promptIds.length - 1,
    }));
  }

  /** Draw the next token of one sequence; sets its result when it ends. */
  private sample(s: Sequence): void {
    const { req } = s;
    const { tokenizer, config } = this.model;
    if (req.signal?.aborted) { s.result = { ...textOf(this.model, s), finishReason: 'cancelled' }; return; }
    const id = sampleToken(s.logits, req.sampling, s.rng, Math.min(config.vocabSize, tokenizer.vocabSize));
    if (tokenizer.eotId !== undefined && id === tokenizer.eotId) { this.finish(s, 'stop'); return; }
    s.tokens.push(id);
    s.position++;
    this.tokensGenerated++;
    const sofar = tokenizer.decode(s.tokens);
    const at = findStop(sofar, req.stop);
    if (at >= 0) { this.finish(s, 'stop', sofar.slice(0, at)); return; }
    if (s.tokens.length >= req.maxTokens) { this.finish(s, 'length', sofar); return; }
    s.stream.show(stableText(sofar, req.stop));
  }

  private finish(s: Sequence, reason: 'stop' | 'length', text = this.model.tokenizer.decode(s.tokens)): void {
    s.stream.show(text);
    s.result = { text, tokens: s.tokens, promptTokens: s.req.promptIds.length, finishReason: reason };
  }

  private async decode(): Promise<void> {
    const rows = this.active.length, V = this.model.config.vocabSize;
    const { cache, logits } = await this.model.session.step(this.cache, this.active.map((s) => s.tokens.at(-1)!), this.active.map((s) => s.position));
    this.cache = cache;
    this.active.forEach((s, r) => { s.logits = logits.subarray(r * V, (r + 1) * V); });
    this.steps++;
    this.stepRows += rows;
  }
}

/** The logits of row r's last position, from a run's [rows, seq, V] (or [rows, 1, V] when the session outputs the last only). */
function lastRow(logits: Float32Array, r: number, seq: number, V: number, kind: 'all' | 'last'): Float32Array {
  const at = kind === 'last' ? r : r * seq + seq - 1;
  return logits.subarray(at * V, (at + 1) * V);
}

function cancelled(req: SequenceRequest): SequenceResult {
  return { text: '', tokens: [], promptTokens: req.promptIds.length, finishReason: 'cancelled' };
}

function textOf(model: GenerationModel, s: Sequence): Pick<SequenceResult, 'text' | 'tokens' | 'promptTokens'> {
  return { text: model.tokenizer.decode(s.tokens), tokens: s.tokens, promptTokens: s.req.promptIds.length };
}
