/**
 * Forward passes of a decoder: logits, and token-weighted mean loss over a token stream.
 */
import type * as ort from 'onnxruntime-node';
import { buildDecoder } from '../../graphs/decoder.js';
import { lowerCrossEntropy } from '../passes/lower-cross-entropy.js';
import type { ModelConfig } from '../model/config.js';
import { maskTensors } from '../model/masks.js';
import { paramSpecs } from '../model/params.js';
import type { Weights } from '../model/weights.js';
import { type Batch, validateBatch, windows } from '../data/batch.js';
import { type SessionOptions, RuntimeError, createSession, ortFloat, ortInt64 } from './session.js';

export class DecoderRunner {
  private constructor(
    public config: ModelConfig,
    private readonly session: ort.InferenceSession,
    private readonly weightFeeds: Record<string, ort.Tensor>,
  ) {}

  /** `graph.packed`: the runner takes packed rows (Batch.packing). */
  static async create(config: ModelConfig, weights: Weights, outputs: Array<'logits' | 'loss' | 'hidden_states'>, opts: SessionOptions = {}, graph: { packed?: boolean } = {}): Promise<DecoderRunner> {
    const model = buildDecoder(config, { outputs, packed: graph.packed });
    const session = await createSession({ ...model, graph: lowerCrossEntropy(model.graph) }, opts);
    const feeds: Record<string, ort.Tensor> = {};
    for (const p of paramSpecs(config)) feeds[p.name] = ortFloat(weights.get(p.name)!);
    const runner = new DecoderRunner(config, session, feeds);
    runner.setMasks(config);
    return runner;
  }

  /** Feed the MSG mask values of `config` (same structure as the graph was built for). */
  setMasks(config: ModelConfig): void {
    this.config = config;
    for (const [name, t] of maskTensors(config)) this.weightFeeds[name] = ortFloat(t);
  }

  async run(b: Batch): Promise<{ logits?: Float32Array; loss?: number; tokenCount?: number; hiddenStates?: Float32Array }> {
    validateBatch(this.config, b);
    const feeds: Record<string, ort.Tensor> = { ...this.weightFeeds, input_ids: ortInt64(b.inputs, [b.batch, b.seq]), ...packingFeeds(this.session, b) };
    if (this.session.inputNames.includes('targets')) {
      if (!b.targets) throw new RuntimeError('this runner computes the loss: targets are required');
      feeds.targets = ortInt64(b.targets, [b.batch, b.seq]);
    }
    const out = await this.session.run(feeds);
    return {
      logits: out.logits?.data as Float32Array | undefined,
      loss: out.loss ? (out.loss.data as Float32Array)[0] : undefined,
      tokenCount: out.token_count ? (out.token_count.data as Float32Array)[0] : undefined,
      hiddenStates: out.hidden_states?.data as Float32Array | undefined,
    };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** The position_ids / segment_ids feeds of a packed graph (none for a plain one); a plain batch fed to a packed graph, or the reverse, is an error. */
export function packingFeeds(session: ort.InferenceSession, b: Batch): Record<string, ort.Tensor> {
  const packed = session.inputNames.includes('segment_ids');
  if (packed !== (b.packing !== undefined)) throw new RuntimeError(packed ? 'this graph takes packed rows: the batch needs positions and segment ids' : 'this graph does not take packed rows');
  if (!b.packing) return {};
  return { position_ids: ortInt64(b.packing.positions, [b.batch, b.seq]), segment_ids: ortInt64(b.packing.segments, [b.batch, b.seq]) };
}

/** Token-weighted mean loss of a model over a token stream. */
export async function evaluateLoss(runner: DecoderRunner, tokens: ArrayLike<number>, batch: number, seq: number, maxBatches = Infinity): Promise<{ loss: number; tokens: number }> {
  let total = 0, count = 0;
  for (const b of windows(tokens, batch, seq, maxBatches)) {
    const r = await runner.run(b);
    total += r.loss! * r.tokenCount!;
    count += r.tokenCount!;
  }
  if (count === 0) throw new RuntimeError(`not enough tokens for one window of ${seq + 1}`);
  return { loss: total / count, tokens: count };
}
