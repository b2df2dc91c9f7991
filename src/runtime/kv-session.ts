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
 * The cache goes through JavaScript between steps: onnxruntime-node copies every output into a new
 * ArrayBuffer. Measured on bench-small (2 threads, medians of alternating runs): a step that outputs
 * its present cache takes 0.4–0.9 ms longer than the same graph without those outputs (0.3 MB of
 * cache at 16 tokens, 4.7 MB at 255), ≈ 0.2 ms per MB, 10–20% of the step. On the CPU provider
 * nothing avoids that copy: pre-allocated `fetches` are filled and then copied again (no faster),
 * `preferredOutputLocation: 'cpu-pinned'` was 4–6× slower, and IO binding needs a GPU provider.
 * A caller that keeps its own cache (the server's scheduler) avoids it: `runWith(…, 'new')` fetches
 * only the new tokens' keys and values (bench-small, batch 8, past 100: 7.1 ms a step against 10.5).
 */
import * as ort from 'onnxruntime-node';
import { buildCachedDecoder, cacheNames } from '../../graphs/inference.js';
import type { ModelConfig } from '../model/config.js';
import { maskTensors } from '../model/masks.js';
import { paramSpecs } from '../model/params.js';
import type { Weights } from '../model/weights.js';
import { bakeWeights } from '../passes/bake-weights.js';
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
  /** Length of the cached sequence (padding included). */
  past = 0;
  batch = 0;
  private cache: Record<string, ort.Tensor> = {};
  private mask = new BigInt64Array(0);
  private nextPosition: number[] = [];

  /** The outputs `run` fetches: logits and the present cache (not the `new.*` keys and values). */
  private readonly fetches: string[];

  private constructor(
    readonly config: ModelConfig,
    private readonly session: ort.InferenceSession,
    /** Whether the graph outputs the logits of every position or only of the last. */
    readonly logits: 'all' | 'last',
  ) {
    this.fetches = session.outputNames.filter((n) => !n.startsWith('new.'));
  }

  static async create(config: ModelConfig, weights: Weights, opts: KvSessionOptions = {}): Promise<KvSession> {
    const { fusedKernels, logits = 'last', ...sessionOpts } = opts;
    const baked = new Map([...paramSpecs(config).map((p) => [p.name, weights.get(p.name)!] as const), ...maskTensors(config)]);
    const session = await createSession(bakeWeights(buildCachedDecoder(config, { fusedKernels, newCacheOutputs: true, logits }), baked), { externalThreshold: 1024, ...sessionOpts });
    return new KvSession(config, session, logits);
  }

  /** Forget the cache (the next call must be `prefill`). */
  reset(): void {
    this.past = 0;
    this.batch = 0;
    this.cache = {};
    this.mask = new BigInt64Array(0);
    this.nextPosition = [];
  }

  /**
   * One run of the graph on explicit inputs against the current cache (empty after `reset`);
   * returns logits [batch, seq, vocab] (seq 1 under `logits: 'last'`) and keeps `present.*` as the cache.
   */
  async run(step: CachedStep): Promise<Float32Array> {
    if (this.past === 0) this.batch = step.batch;
    if (step.batch !== this.batch) throw new RuntimeError(`the cache holds ${this.batch} rows, this step has ${step.batch}`);
    const out = await this.session.run(this.feeds(step, this.past, (n) => this.cache[n]), this.fetches);
    this.cache = out;
    this.past += step.seq;
    return out.logits!.data as Float32Array;
  }

  /**
   * One run against a cache the caller keeps (the session's own is left alone), for schedulers that
   * reshape the batch between steps: `past` holds [batch, kv_heads, pastLength, head_dim] per layer,
   * key then value ([] when pastLength is 0); returns logits [batch, seq, vocab] (seq 1 under
   * `logits: 'last'`) and, in the same
   * order, the present cache [batch, kv_heads, pastLength + seq, head_dim] (`outputs: 'present'`)
   * or only the new tokens' keys and values [batch, kv_heads, seq, head_dim] (`'new'`: onnxruntime
   * then copies no cache out, ≈ 0.2 ms per MB of it).
   */
  async runWith(step: CachedStep, pastLength: number, past: readonly Float32Array[], outputs: 'present' | 'new' = 'present'): Promise<{ logits: Float32Array; present: Float32Array[] }> {
    const c = this.config;
    const shape = [step.batch, c.numKvHeads, pastLength, c.headDim];
    const names = Array.from({ length: c.numLayers }, (_, i) => cacheNames(i));
    const index = new Map(names.flatMap((n, i) => [[n.presentKey, 2 * i], [n.presentValue, 2 * i + 1]] as const));
    const fetched = outputs === 'present' ? names.flatMap((n) => [n.presentKey, n.presentValue]) : names.flatMap((_, i) => [`new.${i}.key`, `new.${i}.value`]);
    const out = await this.session.run(this.feeds(step, pastLength, (n) => {
      const data = past[index.get(n)!];
      return data === undefined ? undefined : new ort.Tensor('float32', data, shape);
    }), ['logits', ...fetched]);
    return { logits: out.logits!.data as Float32Array, present: fetched.map((n) => out[n]!.data as Float32Array) };
  }

  /** The feeds of one run; `cached(presentName)` gives the past tensor for that cache entry (none: empty). */
  private feeds(step: CachedStep, pastLength: number, cached: (presentName: string) => ort.Tensor | undefined): Record<string, ort.Tensor> {
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
      feeds[n.pastKey] = cached(n.presentKey) ?? new ort.Tensor('float32', empty, [batch, c.numKvHeads, 0, c.headDim]);
      feeds[n.pastValue] = cached(n.presentValue) ?? new ort.Tensor('float32', empty, [batch, c.numKvHeads, 0, c.headDim]);
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
    const logits = await this.run({ batch, seq, ids, attentionMask, positions });
    this.mask = attentionMask;
    this.nextPosition = prompts.map((p) => p.length);
    if (this.logits === 'last') return { seq, last: logits };
    return { logits, seq, last: lastPositions(logits, batch, seq, this.config.vocabSize) };
  }

  /** Append one token to each row; returns the logits of those tokens, [rows, vocab]. */
  async decode(tokens: number[]): Promise<Float32Array> {
    const batch = this.batch;
    if (this.past === 0) throw new RuntimeError('decode before prefill');
    if (tokens.length !== batch) throw new RuntimeError(`decode: ${tokens.length} tokens for ${batch} rows`);
    const past = this.past;
    const attentionMask = new BigInt64Array(batch * (past + 1));
    for (let r = 0; r < batch; r++) {
      attentionMask.set(this.mask.subarray(r * past, (r + 1) * past), r * (past + 1));
      attentionMask[r * (past + 1) + past] = 1n;
    }
    const logits = await this.run({
      batch, seq: 1, attentionMask,
      ids: BigInt64Array.from(tokens, BigInt),
      positions: BigInt64Array.from(this.nextPosition, BigInt),
    });
    this.mask = attentionMask;
    this.nextPosition = this.nextPosition.map((p) => p + 1);
    return logits;
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
