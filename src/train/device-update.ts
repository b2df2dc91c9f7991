/**
 * The in-graph AdamW update (adamw-graph.ts) run by its own session, with the weights and moments
 * kept as the session's output tensors between steps: each update's outputs are the next step's
 * inputs (of the training graph and of the update), so on a GPU provider (outputs placed on the
 * device, `preferredOutputLocation: 'gpu-buffer'`) they never cross to the host. On the CPU the
 * tensors are ordinary arrays and the host copies (ParamState.data/m/v) are refreshed only when
 * asked (download): before evaluation, checkpoints and the end of a run.
 */
import * as ort from 'onnxruntime-node';
import { type SessionOptions, createSession } from '../runtime/session.js';
import type { AdamWOptions, ParamState } from './adamw.js';
import { buildAdamWGraph, updateInput, updateOutput } from './adamw-graph.js';

/** Where the session's outputs stay: 'cpu' (host arrays) or 'gpu-buffer' (device memory, GPU providers). */
export type TensorLocation = 'cpu' | 'gpu-buffer';

interface Resident { w: ort.Tensor; m: ort.Tensor; v: ort.Tensor }

const KINDS = ['w', 'm', 'v'] as const;

export class DeviceAdamW {
  /** The live tensors, or undefined when the host arrays are the truth (before the first update, after an upload). */
  private resident: Resident[] | undefined;
  /** True when the resident tensors are newer than the host arrays. */
  hostStale = false;

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly params: ParamState[],
    private readonly shapes: number[][],
    readonly location: TensorLocation,
  ) {}

  static async create(params: ParamState[], shapes: number[][], o: AdamWOptions, session: SessionOptions, location: TensorLocation): Promise<DeviceAdamW> {
    const model = buildAdamWGraph(params.map((p, i) => ({ name: p.name, shape: shapes[i]!, lrMult: p.lrMult, decay: p.decay })), o);
    const outputs = params.flatMap((p) => KINDS.map((k) => updateOutput(k, p.name)));
    const s = await createSession(model, { ...session, memPattern: false, ...(location === 'cpu' ? {} : { outputLocation: Object.fromEntries(outputs.map((n) => [n, location])) }) });
    return new DeviceAdamW(s, params, shapes, location);
  }

  private host(i: number): Resident {
    const p = this.params[i]!, dims = this.shapes[i]!;
    return { w: new ort.Tensor('float32', p.data, dims), m: new ort.Tensor('float32', p.m, dims), v: new ort.Tensor('float32', p.v, dims) };
  }

  /** The current weight of parameter i, as a feed for the training graph. */
  weight(i: number): ort.Tensor {
    return this.resident ? this.resident[i]!.w : new ort.Tensor('float32', this.params[i]!.data, this.shapes[i]!);
  }

  /**
   * One update: `grads[i]` is the gradient of parameter i (a device tensor from the training
   * session, or host data), `gradSq` the squared global norm of the gradients as given, `lossScale`
   * the factor the loss was multiplied by before differentiation.
   */
  async step(grads: (ort.Tensor | Float32Array)[], step: number, lr: number, gradSq: number, lossScale = 1): Promise<void> {
    const double = (x: number) => new ort.Tensor('float64', Float64Array.of(x), []);
    const feeds: Record<string, ort.Tensor> = {
      lr: double(lr), step: double(step), loss_scale: double(lossScale), grad_sq: double(gradSq),
    };
    const current = this.params.map((_, i) => this.resident?.[i] ?? this.host(i));
    this.params.forEach((p, i) => {
      const g = grads[i]!;
      feeds[updateInput('w', p.name)] = current[i]!.w;
      feeds[updateInput('m', p.name)] = current[i]!.m;
      feeds[updateInput('v', p.name)] = current[i]!.v;
      feeds[updateInput('g', p.name)] = g instanceof Float32Array ? new ort.Tensor('float32', g, this.shapes[i]!) : g;
    });
    const out = await this.session.run(feeds);
    if (this.resident) for (const r of this.resident) for (const k of KINDS) if (r[k].location !== 'cpu') r[k].dispose();
    this.resident = this.params.map((p) => ({ w: out[updateOutput('w', p.name)]!, m: out[updateOutput('m', p.name)]!, v: out[updateOutput('v', p.name)]! }));
    this.hostStale = true;
  }

  /** Copy the live weights and moments into the host arrays (ParamState.data, .m, .v keep their identity). */
  async download(): Promise<void> {
    if (!this.resident || !this.hostStale) return;
    for (let i = 0; i < this.params.length; i++) {
      const p = this.params[i]!, r = this.resident[i]!;
      p.data.set((await r.w.getData()) as Float32Array);
      p.m.set((await r.m.getData()) as Float32Array);
      p.v.set((await r.v.getData()) as Float32Array);
    }
    this.hostStale = false;
  }

  /** The host arrays were changed (e.g. moments loaded from a checkpoint): the next step uploads them. */
  invalidate(): void {
    if (this.resident) for (const r of this.resident) for (const k of KINDS) if (r[k].location !== 'cpu') r[k].dispose();
    this.resident = undefined;
    this.hostStale = false;
  }

  async release(): Promise<void> {
    this.invalidate();
    await this.session.release();
  }
}
