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

  static async create(config: ModelConfig, weights: Weights, outputs: Array<'logits' | 'loss' | 'hidden_states'>, opts: SessionOptions = {}): Promise<DecoderRunner> {
    const model = buildDecoder(config, { outputs });
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
    const feeds: Record<string, ort.Tensor> = { ...this.weightFeeds, input_ids: ortInt64(b.inputs, [b.batch, b.seq]) };
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
