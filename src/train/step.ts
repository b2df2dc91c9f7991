/**
 * The step API shared by the trainer, growth and fine-tuning: build the training graph once per
 * model shape, then `step(microBatches, lr)` → { loss, gradNorm } with weights and AdamW state kept
 * in memory between calls. Micro-batches accumulate gradients (token-weighted, so k micro-batches
 * equal one big batch); the global gradient norm is clipped; non-finite losses skip the update.
 */
import { availableParallelism } from 'node:os';
import type * as ort from 'onnxruntime-node';
import { TRAIN_SESSION, buildTrainGraph, gradOutputName } from './train-graph.js';
import type { ModelConfig } from '../model/config.js';
import { maskTensors } from '../model/masks.js';
import type { OptimizerState } from '../model/training-state.js';
import { paramSpecs } from '../model/params.js';
import type { Weights } from '../model/weights.js';
import { type Batch, validateBatch } from '../data/batch.js';
import { type SessionOptions, createSession, ortFloat, ortInt64 } from '../runtime/session.js';
import { packingFeeds } from '../runtime/forward.js';
import { GrowlmError } from '../util/errors.js';
import { AdamWPool } from './adamw-pool.js';
import { type AdamWOptions, DEFAULT_ADAMW, type ParamState, adamwStep, clipFactor, paramGroup } from './adamw.js';

export class TrainingError extends GrowlmError {}

export interface StepResult {
  loss: number;
  gradNorm: number;
  tokens: number;
  /** True when the update was skipped because the loss or gradients were not finite. */
  skipped: boolean;
}

export interface TrainStepOptions {
  optimizer?: Partial<AdamWOptions>;
  session?: SessionOptions;
  /** Stop (throw) after this many consecutive non-finite steps. */
  maxNonFinite?: number;
  /** Apply μP learning-rate multipliers (default true; false: one learning rate for every tensor). */
  mupLr?: boolean;
  /** Threads for the AdamW update (default: the session's threads, else the available cores). */
  optimizerThreads?: number;
  /** Batches are packed rows (Batch.packing): build the graph with position and segment inputs. */
  packed?: boolean;
}

export type { OptimizerState } from '../model/training-state.js';

export class TrainStep {
  /** Number of optimizer updates applied so far. */
  stepCount = 0;
  skippedSteps = 0;
  private consecutiveSkips = 0;

  private maskFeeds: Record<string, ort.Tensor> = {};

  private constructor(
    public config: ModelConfig,
    private readonly session: ort.InferenceSession,
    readonly params: ParamState[],
    readonly optimizer: AdamWOptions,
    private readonly maxNonFinite: number,
    private readonly pool: AdamWPool | undefined,
  ) {}

  static async create(config: ModelConfig, weights: Weights, opts: TrainStepOptions = {}): Promise<TrainStep> {
    const session = await createSession(buildTrainGraph(config, { packed: opts.packed }), { ...TRAIN_SESSION, ...opts.session });
    const params = paramSpecs(config).map((spec) => {
      const t = weights.get(spec.name);
      if (!t) throw new TrainingError(`missing weight ${spec.name}`);
      const data = t.data as Float32Array;
      const group = paramGroup(spec, config);
      if (opts.mupLr === false) group.lrMult = 1;
      return { name: spec.name, data, m: new Float32Array(data.length), v: new Float32Array(data.length), ...group };
    });
    const threads = opts.optimizerThreads ?? opts.session?.threads ?? availableParallelism();
    const pool = AdamWPool.create(params, threads);
    const step = new TrainStep(config, session, params, { ...DEFAULT_ADAMW, ...opts.optimizer }, opts.maxNonFinite ?? 10, pool);
    step.setMasks(config);
    return step;
  }

  /** Feed the MSG mask values of `config` (same structure as the graph was built for). */
  setMasks(config: ModelConfig): void {
    this.config = config;
    this.maskFeeds = {};
    for (const [name, t] of maskTensors(config)) this.maskFeeds[name] = ortFloat(t);
  }

  /** The current weights (views of the optimized arrays, no copy). */
  weights(): Weights {
    const w: Weights = new Map();
    for (const p of paramSpecs(this.config)) {
      const s = this.params.find((x) => x.name === p.name)!;
      w.set(p.name, { dtype: 'float32', dims: p.shape, data: s.data });
    }
    return w;
  }

  optimizerState(): OptimizerState {
    return { step: this.stepCount, m: new Map(this.params.map((p) => [p.name, p.m])), v: new Map(this.params.map((p) => [p.name, p.v])) };
  }

  loadOptimizerState(s: OptimizerState): void {
    for (const p of this.params) {
      const m = s.m.get(p.name), v = s.v.get(p.name);
      if (!m || !v || m.length !== p.m.length || v.length !== p.v.length) throw new TrainingError(`optimizer state does not match parameter ${p.name}`);
      p.m.set(m);
      p.v.set(v);
    }
    this.stepCount = s.step;
  }

  private async forwardBackward(b: Batch): Promise<ort.InferenceSession.OnnxValueMapType> {
    validateBatch(this.config, b);
    if (!b.targets) throw new TrainingError('training batches need targets');
    const feeds: Record<string, ort.Tensor> = {
      ...this.maskFeeds,
      input_ids: ortInt64(b.inputs, [b.batch, b.seq]),
      targets: ortInt64(b.targets, [b.batch, b.seq]),
      ...packingFeeds(this.session, b),
    };
    for (const p of this.params) feeds[p.name] = ortFloat({ dtype: 'float32', dims: this.dims(p.name), data: p.data });
    return this.session.run(feeds);
  }

  private dimsCache = new Map<string, number[]>();
  private dims(name: string): number[] {
    let d = this.dimsCache.get(name);
    if (!d) {
      d = paramSpecs(this.config).find((p) => p.name === name)!.shape;
      this.dimsCache.set(name, d);
    }
    return d;
  }

  /** Gradients and loss of the micro-batches, token-weighted, without updating anything. */
  async gradients(micro: Batch[]): Promise<{ loss: number; tokens: number; grads: Float32Array[]; gradNorm: number }> {
    if (micro.length === 0) throw new TrainingError('step needs at least one batch');
    if (micro.length === 1) {
      const out = await this.forwardBackward(micro[0]!);
      return {
        loss: (out.loss!.data as Float32Array)[0]!,
        tokens: (out.token_count!.data as Float32Array)[0]!,
        grads: this.params.map((p) => out[gradOutputName(p.name)]!.data as Float32Array),
        gradNorm: Math.sqrt((out.grad_sq!.data as Float32Array)[0]!),
      };
    }
    const results: ort.InferenceSession.OnnxValueMapType[] = [];
    for (const b of micro) results.push(await this.forwardBackward(b));
    const counts = results.map((r) => (r.token_count!.data as Float32Array)[0]!);
    const total = counts.reduce((a, b) => a + b, 0);
    const weightsOf = counts.map((c) => (total > 0 ? c / total : 1 / counts.length));
    let loss = 0;
    results.forEach((r, i) => { loss += weightsOf[i]! * (r.loss!.data as Float32Array)[0]!; });
    let sq = 0;
    const grads = this.params.map((p) => {
      const acc = new Float32Array(p.data.length);
      results.forEach((r, i) => {
        const g = r[gradOutputName(p.name)]!.data as Float32Array;
        const w = weightsOf[i]!;
        for (let j = 0; j < acc.length; j++) acc[j]! += w * g[j]!;
      });
      for (let j = 0; j < acc.length; j++) sq += acc[j]! * acc[j]!;
      return acc;
    });
    return { loss, tokens: total, grads, gradNorm: Math.sqrt(sq) };
  }

  /** One optimizer step over the given micro-batches at learning rate `lr`. */
  async step(micro: Batch[], lr: number): Promise<StepResult> {
    const { loss, tokens, grads, gradNorm } = await this.gradients(micro);
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
      this.skippedSteps++;
      if (++this.consecutiveSkips >= this.maxNonFinite) {
        throw new TrainingError(`loss or gradients were not finite for ${this.consecutiveSkips} consecutive steps (lower the learning rate?)`);
      }
      return { loss, gradNorm, tokens, skipped: true };
    }
    this.consecutiveSkips = 0;
    this.stepCount++;
    const scale = clipFactor(gradNorm, this.optimizer.clipNorm);
    if (this.pool) await this.pool.step(grads, this.stepCount, lr, this.optimizer, scale);
    else adamwStep(this.params, grads, this.stepCount, lr, this.optimizer, scale);
    return { loss, gradNorm, tokens, skipped: false };
  }

  async release(): Promise<void> {
    await this.pool?.terminate();
    await this.session.release();
  }
}
