/**
 * Cached decoding on the KV-cache inference graph (graphs/inference.ts): prefill a batch of prompts
 * (left-padded to the longest), then decode one token per row per step, feeding each step's
 * `present.*` outputs back as the next step's `past_key_values.*`.
 *
 * The weights (and MSG masks) are baked into the session as initializers, unlike the training and
 * evaluation graphs: onnxruntime then folds the concatenated q/k/v weights once and pre-packs the
 * GEMM operands (bench-small decode step 3.1–3.6 ms against 5.4–7.5 with the weights as inputs). The
 * cost is onnxruntime's own copy of the weights; they reach it as in-memory external data, so that
 * the protobuf holds no further copy (docs/onnxruntime.md#the-kv-cache).
 *
 * The cache is kept in JavaScript (batch-cache.ts): a prefill's keys and values become the cache; a
 * decode step feeds the cache with spare columns (masked) as its past and fetches only the new
 * token's keys and values (`new.*`), which are written into the next spare column. onnxruntime-node
 * copies every output into a new ArrayBuffer, so fetching `present.*` at every step cost 0.4–0.9 ms
 * on bench-small (≈ 0.2 ms per MB of cache, 10–20% of a step); on the CPU provider nothing else avoids
 * that copy: pre-allocated `fetches` are filled and then copied again, `preferredOutputLocation:
 * 'cpu-pinned'` was 4–6× slower, and IO binding needs a GPU provider (docs/onnxruntime.md#the-kv-cache).
 */
import * as ort from 'onnxruntime-node';
import { buildCachedDecoder, cacheNames } from '../../graphs/inference.js';
import type { ModelConfig } from '../model/config.js';
import { maskTensors } from '../model/masks.js';
import { paramSpecs } from '../model/params.js';
import type { Weights } from '../model/weights.js';
import { bakeWeights } from '../passes/bake-weights.js';
import { type BatchCache, type CacheShape, SPARE_COLUMNS, appendColumn, emptyCache, fullCache, keepRows, stepMask } from './batch-cache.js';
import { type SessionOptions, RuntimeError, createSession, ortInt64 } from './session.js';

export interface KvSessionOptions extends SessionOptions {
  /** onnxruntime's fused kernels (default) or standard ops only (graphs/inference.ts). */
  fusedKernels?: boolean;
  /**
   * Logits of each row's last position only (default `last`: a prefill computes and copies no
   * logits for the other positions), or of `all` positions (the tests compare them with the
   * full-window decoder).
   */
  logits?: 'all' | 'last';
  /** Cache columns allocated ahead each time the cache fills (default SPARE_COLUMNS); a test sets it low. */
  spareColumns?: number;
}

/** The inputs of one run of the cached graph (all row-major, `batch` rows). */
export interface CachedStep {
  batch: number;
  seq: number;
  /** [batch, seq] */
  ids: BigInt64Array;
  /** [batch, past + seq]: 1 for real tokens, 0 for padding */
  attentionMask: BigInt64Array;
  /** [batch, seq] */
  positions: BigInt64Array;
}

export class KvSession {
  private cache: BatchCache;
  private nextPosition: number[] = [];
  private readonly shape: CacheShape;
  /** The cache outputs, layer by layer, key then value: the whole present cache, or the new tokens' part. */
  private readonly presentNames: string[];
  private readonly newNames: string[];

  private constructor(
    readonly config: ModelConfig,
    private readonly session: ort.InferenceSession,
    /** Whether the graph outputs the logits of every position or only of the last. */
    readonly logits: 'all' | 'last',
    private readonly spare: number,
  ) {
    this.shape = { heads: config.numKvHeads, headDim: config.headDim };
    this.cache = emptyCache(config.numLayers);
    const layers = Array.from({ length: config.numLayers }, (_, i) => i);
    this.presentNames = layers.flatMap((i) => [cacheNames(i).presentKey, cacheNames(i).presentValue]);
    this.newNames = layers.flatMap((i) => [`new.${i}.key`, `new.${i}.value`]);
  }

  static async create(config: ModelConfig, weights: Weights, opts: KvSessionOptions = {}): Promise<KvSession> {
    const { fusedKernels, logits = 'last', spareColumns = SPARE_COLUMNS, ...sessionOpts } = opts;
    const baked = new Map([...paramSpecs(config).map((p) => [p.name, weights.get(p.name)!] as const), ...maskTensors(config)]);
    const session = await createSession(bakeWeights(buildCachedDecoder(config, { fusedKernels, newCacheOutputs: true, logits }), baked), { externalThreshold: 1024, ...sessionOpts });
    return new KvSession(config, session, logits, spareColumns);
  }

  /** Cache columns in use (padding included). */
  get past(): number {
    return this.cache.past;
  }

  /** Rows of the cache (the sequences of the last prefill). */
  get batch(): number {
    return this.cache.rows;
  }

  /** Forget the cache (the next call must be `prefill`). */
  reset(): void {
    this.cache = emptyCache(this.config.numLayers);
    this.nextPosition = [];
  }

  /**
   * One run against a cache the caller keeps (the session's own is left alone), as `prefill` and
   * `decode` do and schedulers that reshape the batch between steps: `past` holds [batch, kv_heads, pastLength, head_dim] per layer,
   * key then value ([] when pastLength is 0); returns logits [batch, seq, vocab] (seq 1 under
   * `logits: 'last'`) and, in the same
   * order, the present cache [batch, kv_heads, pastLength + seq, head_dim] (`outputs: 'present'`)
   * or, at a decode step (seq 1), only the new token's keys and values [batch, kv_heads, 1, head_dim]
   * (`'new'`: onnxruntime then copies no cache out, ≈ 0.2 ms per MB of it).
   */
  async runWith(step: CachedStep, pastLength: number, past: readonly Float32Array[], outputs: 'present' | 'new' = 'present'): Promise<{ logits: Float32Array; present: Float32Array[] }> {
    if (outputs === 'new' && step.seq !== 1) throw new RuntimeError(`cached step: the new keys and values alone are fetched at decode steps (seq 1), not for ${step.seq} tokens`);
    const c = this.config;
    const shape = [step.batch, c.numKvHeads, pastLength, c.headDim];
    const fetched = outputs === 'present' ? this.presentNames : this.newNames;
    const out = await this.session.run(this.feeds(step, pastLength, (i) => {
      const data = past[i];
      return data === undefined ? undefined : new ort.Tensor('float32', data, shape);
    }), ['logits', ...fetched]);
    return { logits: out.logits!.data as Float32Array, present: fetched.map((n) => out[n]!.data as Float32Array) };
  }

  /** The feeds of one run; `cached(i)` gives the past tensor of cache entry i (layer i/2, key then value; none: empty). */
  private feeds(step: CachedStep, pastLength: number, cached: (entry: number) => ort.Tensor | undefined): Record<string, ort.Tensor> {
    const { batch, seq } = step;
    const c = this.config;
    const total = pastLength + seq;
    if (step.ids.length !== batch * seq || step.positions.length !== batch * seq || step.attentionMask.length !== batch * total) {
      throw new RuntimeError(`cached step: expected ${batch}×${seq} ids and positions and a ${batch}×${total} attention mask`);
    }
    for (const p of step.positions) {
      if (!(p >= 0n && p < BigInt(c.maxSeqLen))) throw new RuntimeError(`position ${p} is outside the model's context (max_position_embeddings ${c.maxSeqLen})`);
    }
    const feeds: Record<string, ort.Tensor> = {
      input_ids: ortInt64(step.ids, [batch, seq]),
      attention_mask: ortInt64(step.attentionMask, [batch, total]),
      position_ids: ortInt64(step.positions, [batch, seq]),
    };
    const empty = new Float32Array(0);
    for (let i = 0; i < c.numLayers; i++) {
      const n = cacheNames(i);
      feeds[n.pastKey] = cached(2 * i) ?? new ort.Tensor('float32', empty, [batch, c.numKvHeads, 0, c.headDim]);
      feeds[n.pastValue] = cached(2 * i + 1) ?? new ort.Tensor('float32', empty, [batch, c.numKvHeads, 0, c.headDim]);
    }
    return feeds;
  }

  /**
   * Start `prompts.length` new sequences (the cache is reset): the prompts are left-padded to the
   * longest (padding keys masked, positions from 0 at each prompt's first token) and run as one
   * batch. Returns the logits of each prompt's last token [rows, vocab] and, under `logits: 'all'`,
   * those of every position [rows, seq, vocab] (seq = the longest prompt; a shorter prompt's tokens
   * are the last of its row).
   */
  async prefill(prompts: number[][]): Promise<{ logits?: Float32Array; seq: number; last: Float32Array }> {
    if (prompts.length === 0 || prompts.some((p) => p.length === 0)) throw new RuntimeError('prefill needs at least one prompt, none of them empty');
    this.reset();
    const batch = prompts.length;
    const seq = Math.max(...prompts.map((p) => p.length));
    const ids = new BigInt64Array(batch * seq);
    const attentionMask = new BigInt64Array(batch * seq);
    const positions = new BigInt64Array(batch * seq);
    prompts.forEach((p, r) => {
      const pad = seq - p.length;
      for (let j = 0; j < p.length; j++) {
        ids[r * seq + pad + j] = BigInt(p[j]!);
        attentionMask[r * seq + pad + j] = 1n;
        positions[r * seq + pad + j] = BigInt(j);
      }
    });
    const run = await this.runWith({ batch, seq, ids, attentionMask, positions }, 0, []); // with no past, the present cache is the prompt's
    const logits = run.logits;
    this.cache = fullCache(batch, seq, attentionMask, run.present);
    this.nextPosition = prompts.map((p) => p.length);
    if (this.logits === 'last') return { seq, last: logits };
    return { logits, seq, last: lastPositions(logits, batch, seq, this.config.vocabSize) };
  }

  /** Append one token to each row; returns the logits of those tokens, [rows, vocab]. */
  async decode(tokens: number[]): Promise<Float32Array> {
    if (this.cache.past === 0) throw new RuntimeError('decode before prefill');
    if (tokens.length !== this.cache.rows) throw new RuntimeError(`decode: ${tokens.length} tokens for ${this.cache.rows} rows`);
    const { cache, logits } = await this.step(this.cache, tokens, this.nextPosition);
    this.cache = cache;
    this.nextPosition = this.nextPosition.map((p) => p + 1);
    return logits;
  }

  /**
   * One decode step against a cache the caller keeps (this session's `decode`, the server's
   * scheduler): token r of row r at position `positions[r]`; its keys and values are written into
   * the cache's next spare column (a cache with none left is first copied into one with the spare
   * columns of this session). Returns the cache written (that one or its copy) and the logits [rows, vocab].
   */
  async step(cache: BatchCache, tokens: readonly number[], positions: readonly number[]): Promise<{ cache: BatchCache; logits: Float32Array }> {
    if (cache.past === cache.cap) cache = keepRows(cache, tokens.map((_, r) => r), this.shape, this.spare);
    const run = await this.runWith({
      batch: cache.rows, seq: 1, attentionMask: stepMask(cache),
      ids: BigInt64Array.from(tokens, BigInt),
      positions: BigInt64Array.from(positions, BigInt),
    }, cache.cap, cache.tensors, 'new');
    appendColumn(cache, run.present, this.shape);
    return { cache, logits: run.logits };
  }

  /** The position the next token of row `r` will take (its real length so far). */
  positionOf(r: number): number {
    return this.nextPosition[r]!;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Rows [b, seq-1, :] of logits [batch, seq, V], as [batch, V]. */
function lastPositions(logits: Float32Array, batch: number, seq: number, V: number): Float32Array {
  if (seq === 1) return logits;
  const out = new Float32Array(batch * V);
  for (let r = 0; r < batch; r++) out.set(logits.subarray((r * seq + seq - 1) * V, (r * seq + seq) * V), r * V);
  return out;
}
