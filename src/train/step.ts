/**
 * The step API shared by the trainer, growth and fine-tuning: build the training graph once per
 * model shape, then `step(microBatches, lr)` → { loss, gradNorm } with weights and AdamW state kept
 * in memory between calls. Micro-batches accumulate gradients (token-weighted, so k micro-batches
 * equal one big batch); the global gradient norm is clipped; non-finite losses skip the update.
 */
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { TRAIN_SESSION, type TrainGraphOptions, buildTrainGraph, gradOutputName } from './train-graph.js';
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
import { DeviceAdamW } from './device-update.js';
import { DEFAULT_LOSS_SCALING, type LossScalingOptions, LossScaler } from './loss-scale.js';

export class TrainingError extends GrowlmError {}

export interface StepResult {
  loss: number;
  gradNorm: number;
  tokens: number;
  /** True when the update was skipped because the loss or gradients were not finite. */
  skipped: boolean;
  /** Loss scaling: the gradients overflowed at the current scale (skipped; the scale was lowered). */
  overflow?: boolean;
}

/** Free gradients a session left on a device (host arrays go with the garbage). */
function disposeDeviceTensors(ts: readonly (Float32Array | ort.Tensor)[]): void {
  for (const t of ts) if (t instanceof ort.Tensor && t.location !== 'cpu') t.dispose();
}

/** A tensor's float32 data on the host (downloaded when the session left it on a device). */
async function hostData(t: ort.Tensor): Promise<Float32Array> {
  return (t.location === 'cpu' ? t.data : await t.getData()) as Float32Array;
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
  /**
   * Where AdamW runs: 'js' (default: the fused JavaScript loop on the host, measured faster on the
   * CPU) or 'graph' (adamw-graph.ts in onnxruntime, weights and moments left where the session keeps
   * them: on a GPU provider they stay on the device between steps).
   */
  update?: 'js' | 'graph';
  /** Dynamic loss scaling (the training graph then differentiates loss·scale); off by default. */
  lossScaling?: Partial<LossScalingOptions>;
  /** Training-graph variant (e.g. mixed precision); `lossScale` follows `lossScaling`. */
  graph?: Omit<TrainGraphOptions, 'lossScale'>;
}

export type { OptimizerState } from '../model/training-state.js';

export class TrainStep {
  /** Number of optimizer updates applied so far. */
  stepCount = 0;
  skippedSteps = 0;
  private consecutiveSkips = 0;

  private maskFeeds: Record<string, ort.Tensor> = {};
  /** The in-graph update ('graph'), which then owns the live weights and moments. */
  private device: DeviceAdamW | undefined;
  /** Dynamic loss scaling, when on. */
  readonly scaler: LossScaler | undefined;

  private constructor(
    public config: ModelConfig,
    private readonly session: ort.InferenceSession,
    readonly params: ParamState[],
    readonly optimizer: AdamWOptions,
    private readonly maxNonFinite: number,
    private readonly pool: AdamWPool | undefined,
    lossScaling: Partial<LossScalingOptions> | undefined,
  ) {
    this.scaler = lossScaling ? new LossScaler({ ...DEFAULT_LOSS_SCALING, ...lossScaling }) : undefined;
  }

  static async create(config: ModelConfig, weights: Weights, opts: TrainStepOptions = {}): Promise<TrainStep> {
    const onDevice = opts.update === 'graph' && (opts.session?.provider ?? 'cpu') !== 'cpu';
    // with the in-graph update on a GPU, the gradients stay on the device for the update session
    const gradLocation = onDevice ? { outputLocation: Object.fromEntries(paramSpecs(config).map((p) => [gradOutputName(p.name), 'gpu-buffer' as const])) } : {};
    const graph = buildTrainGraph(config, { ...opts.graph, packed: opts.packed, lossScale: opts.lossScaling !== undefined });
    const session = await createSession(graph, { ...TRAIN_SESSION, ...opts.session, ...gradLocation });
    const params = paramSpecs(config).map((spec) => {
      const t = weights.get(spec.name);
      if (!t) throw new TrainingError(`missing weight ${spec.name}`);
      const data = t.data as Float32Array;
      const group = paramGroup(spec, config);
      if (opts.mupLr === false) group.lrMult = 1;
      return { name: spec.name, data, m: new Float32Array(data.length), v: new Float32Array(data.length), ...group };
    });
    const threads = opts.optimizerThreads ?? opts.session?.threads ?? availableParallelism();
    const optimizer = { ...DEFAULT_ADAMW, ...opts.optimizer };
    const pool = opts.update === 'graph' ? undefined : AdamWPool.create(params, threads);
    const step = new TrainStep(config, session, params, optimizer, opts.maxNonFinite ?? 10, pool, opts.lossScaling);
    if (opts.update === 'graph') {
      const shapes = paramSpecs(config).map((p) => p.shape);
      step.device = await DeviceAdamW.create(params, shapes, optimizer, opts.session ?? {}, onDevice ? 'gpu-buffer' : 'cpu');
    }
    step.setMasks(config);
    return step;
  }

  /** Where AdamW runs (TrainStepOptions.update). */
  get update(): 'js' | 'graph' {
    return this.device ? 'graph' : 'js';
  }

  /**
   * Bring the weights and moments back to the host arrays (weights(), optimizerState() and views
   * handed out earlier): a no-op for the JavaScript update, a download after in-graph updates. Call
   * before evaluating with those views or checkpointing.
   */
  async syncHost(): Promise<void> {
    await this.device?.download();
  }

  private assertHostCurrent(): void {
    if (this.device?.hostStale) throw new TrainingError('the weights on the host are older than the in-graph update\'s: call syncHost() first');
  }

  /** Feed the MSG mask values of `config` (same structure as the graph was built for). */
  setMasks(config: ModelConfig): void {
    this.config = config;
    this.maskFeeds = {};
    for (const [name, t] of maskTensors(config)) this.maskFeeds[name] = ortFloat(t);
  }

  /** The current weights (views of the optimized arrays, no copy). */
  weights(): Weights {
    this.assertHostCurrent();
    const w: Weights = new Map();
    for (const p of paramSpecs(this.config)) {
      const s = this.params.find((x) => x.name === p.name)!;
      w.set(p.name, { dtype: 'float32', dims: p.shape, data: s.data });
    }
    return w;
  }

  optimizerState(): OptimizerState {
    this.assertHostCurrent();
    return { step: this.stepCount, m: new Map(this.params.map((p) => [p.name, p.m])), v: new Map(this.params.map((p) => [p.name, p.v])) };
  }

  loadOptimizerState(s: OptimizerState): void {
    this.assertHostCurrent();
    for (const p of this.params) {
      const m = s.m.get(p.name), v = s.v.get(p.name);
      if (!m || !v || m.length !== p.m.length || v.length !== p.v.length) throw new TrainingError(`optimizer state does not match parameter ${p.name}`);
      p.m.set(m);
      p.v.set(v);
    }
    this.stepCount = s.step;
    this.device?.invalidate(); // the next update starts from the host arrays
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
    if (this.scaler) feeds.loss_scale = new ort.Tensor('float32', Float32Array.of(this.scaler.scale), []);
    this.params.forEach((p, i) => {
      feeds[p.name] = this.device ? this.device.weight(i) : ortFloat({ dtype: 'float32', dims: this.dims(p.name), data: p.data });
    });
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

  /**
   * Gradients and loss of the micro-batches, token-weighted, without updating anything. With loss
   * scaling the gradients are those of loss·scale (`gradNorm` is unscaled, `gradSq` is not).
   */
  async gradients(micro: Batch[]): Promise<{ loss: number; tokens: number; grads: Float32Array[]; gradNorm: number; gradSq: number }> {
    const r = await this.rawGradients(micro);
    const grads = await Promise.all(r.grads.map(async (g) => (g instanceof Float32Array ? g : hostData(g))));
    disposeDeviceTensors(r.grads);
    return { ...r, grads };
  }

  /** As gradients(), leaving a single micro-batch's gradients where the session put them. */
  private async rawGradients(micro: Batch[]): Promise<{ loss: number; tokens: number; grads: (Float32Array | ort.Tensor)[]; gradNorm: number; gradSq: number }> {
    if (micro.length === 0) throw new TrainingError('step needs at least one batch');
    const scale = this.scaler?.scale ?? 1;
    if (micro.length === 1) {
      const out = await this.forwardBackward(micro[0]!);
      const gradSq = (out.grad_sq!.data as Float32Array)[0]!;
      return {
        loss: (out.loss!.data as Float32Array)[0]!,
        tokens: (out.token_count!.data as Float32Array)[0]!,
        grads: this.params.map((p) => out[gradOutputName(p.name)]!),
        gradNorm: Math.sqrt(gradSq) / scale,
        gradSq,
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
    const grads: Float32Array[] = [];
    for (const p of this.params) {
      const acc = new Float32Array(p.data.length);
      for (let i = 0; i < results.length; i++) {
        const g = await hostData(results[i]![gradOutputName(p.name)]!);
        const w = weightsOf[i]!;
        for (let j = 0; j < acc.length; j++) acc[j]! += w * g[j]!;
      }
      disposeDeviceTensors(results.map((r) => r[gradOutputName(p.name)]!));
      for (let j = 0; j < acc.length; j++) sq += acc[j]! * acc[j]!;
      grads.push(acc);
    }
    return { loss, tokens: total, grads, gradNorm: Math.sqrt(sq) / scale, gradSq: sq };
  }

  /** One optimizer step over the given micro-batches at learning rate `lr`. */
  /** Milliseconds of the last step: forward + backward (with the gradients' way to where the update runs), and the update. */
  lastTimings = { gradientsMs: 0, updateMs: 0 };

  async step(micro: Batch[], lr: number): Promise<StepResult> {
    const lossScale = this.scaler?.scale ?? 1;
    const t0 = performance.now();
    const { loss, tokens, grads, gradNorm, gradSq } = this.device ? await this.rawGradients(micro) : await this.gradients(micro);
    const t1 = performance.now();
    this.lastTimings = { gradientsMs: t1 - t0, updateMs: 0 };
    const finite = Number.isFinite(loss) && Number.isFinite(gradNorm);
    // a finite loss with overflowing scaled gradients is the loss scale's doing: skip and shrink it
    const scaled = this.scaler && Number.isFinite(loss) ? this.scaler.record(finite) : undefined;
    if (!finite) {
      disposeDeviceTensors(grads);
      this.skippedSteps++;
      if (scaled === 'overflow') return { loss, gradNorm, tokens, skipped: true, overflow: true };
      if (++this.consecutiveSkips >= this.maxNonFinite) {
        throw new TrainingError(`loss or gradients were not finite for ${this.consecutiveSkips} consecutive steps (lower the learning rate?)`);
      }
      return { loss, gradNorm, tokens, skipped: true };
    }
    this.consecutiveSkips = 0;
    this.stepCount++;
    if (this.device) {
      await this.device.step(grads, this.stepCount, lr, gradSq, lossScale);
      disposeDeviceTensors(grads);
    } else {
      const scale = clipFactor(gradNorm, this.optimizer.clipNorm) / lossScale;
      const host = grads as Float32Array[];
      if (this.pool) await this.pool.step(host, this.stepCount, lr, this.optimizer, scale);
      else adamwStep(this.params, host, this.stepCount, lr, this.optimizer, scale);
    }
    this.lastTimings.updateMs = performance.now() - t1;
    return { loss, gradNorm, tokens, skipped: false };
  }

  async release(): Promise<void> {
    await this.pool?.terminate();
    await this.device?.release();
    await this.session.release();
  }
}
