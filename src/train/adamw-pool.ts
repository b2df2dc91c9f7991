/**
 * AdamW on several threads: worker threads update some tensors while the main thread updates the
 * rest (tensors are split by size, so every thread gets about the same number of parameters): the
 * cores onnxruntime uses for the graph are idle during the update. bench-small, 12M parameters,
 * 2 cores: 64 → 36 ms (alternating with the one-thread update, minimum of 22 runs), bit-identical.
 *
 * Sharing: onnxruntime-node refuses SharedArrayBuffer inputs, so the weights the graph reads stay
 * ordinary arrays owned by the main thread (their identity never changes: views handed out by
 * TrainStep.weights() stay valid). A worker's tensors keep their moments in SharedArrayBuffers and
 * a shared copy of their weights (+4 bytes per parameter of the workers' share): the main thread
 * copies those weights in before the update and out after it, which measured faster than having the
 * worker return weight changes for the main thread to apply (36 vs 51 ms on bench-small). Gradients
 * move to the worker and back without a copy (ArrayBuffer transfer).
 */
import { Worker } from 'node:worker_threads';
import { type AdamWOptions, type ParamState, type TensorUpdate, adamwTensor, tensorUpdate } from './adamw.js';

/** Below this many parameters one thread is as fast (thread hand-off costs ~0.1–0.5 ms). */
export const POOL_MIN_PARAMS = 1_000_000;

interface WorkerTensors {
  worker: Worker;
  /** Indices into params, and the shared weight copies (same order). */
  indices: number[];
  weights: Float32Array[];
}

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const adamwTensor = ${adamwTensor.toString()};
let tensors = [];
parentPort.on('message', (msg) => {
  if (msg.type === 'init') { tensors = msg.tensors; return; }
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i];
    adamwTensor(t.w, t.m, t.v, msg.grads[i], msg.updates[i]);
  }
  // the gradients go back to be freed with the main thread's garbage: this isolate's collector
  // rarely runs, and would hold ~a step's worth of them (measured +45 MB peak RSS on bench-small)
  parentPort.postMessage(msg.grads, msg.grads.map((g) => g.buffer));
});
`;

const sharedCopy = (a: Float32Array): Float32Array => {
  const s = new Float32Array(new SharedArrayBuffer(a.byteLength));
  s.set(a);
  return s;
};

/** Whether `a` owns its whole ArrayBuffer (so transferring it moves nothing else). */
const ownsBuffer = (a: Float32Array) => a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && !(a.buffer instanceof SharedArrayBuffer);

export class AdamWPool {
  private constructor(
    private readonly params: ParamState[],
    private readonly mainIndices: number[],
    private readonly workers: WorkerTensors[],
  ) {}

  /**
   * A pool for `threads` threads (the main thread included), or undefined where one thread is
   * enough. The moments of the tensors given to workers are moved into shared memory (p.m and p.v
   * are replaced by shared arrays with the same contents).
   */
  static create(params: ParamState[], threads: number, minParams = POOL_MIN_PARAMS): AdamWPool | undefined {
    const total = params.reduce((s, p) => s + p.data.length, 0);
    if (threads < 2 || total < minParams || params.length < 2) return undefined;
    // largest first onto the least loaded thread
    const loads = Array.from({ length: threads }, () => ({ n: 0, indices: [] as number[] }));
    const order = params.map((_, i) => i).sort((a, b) => params[b]!.data.length - params[a]!.data.length);
    for (const i of order) {
      const least = loads.reduce((a, b) => (b.n < a.n ? b : a));
      least.n += params[i]!.data.length;
      least.indices.push(i);
    }
    const workers = loads.slice(1).filter((l) => l.indices.length > 0).map((l) => {
      const worker = new Worker(WORKER_SOURCE, { eval: true });
      worker.unref(); // an idle pool never keeps the process alive
      const weights = l.indices.map((i) => sharedCopy(params[i]!.data));
      for (const i of l.indices) {
        const p = params[i]!;
        p.m = sharedCopy(p.m);
        p.v = sharedCopy(p.v);
      }
      worker.postMessage({ type: 'init', tensors: l.indices.map((i, j) => ({ w: weights[j], m: params[i]!.m, v: params[i]!.v })) });
      return { worker, indices: l.indices, weights };
    });
    return new AdamWPool(params, loads[0]!.indices, workers);
  }

  /** One AdamW step on every tensor; `grads` may be transferred away (detached) by this call. */
  async step(grads: Float32Array[], step: number, lr: number, o: AdamWOptions, gradScale: number): Promise<void> {
    const update = (i: number): TensorUpdate => tensorUpdate(this.params[i]!, step, lr, o, gradScale);
    const done = this.workers.map((w) => {
      w.indices.forEach((i, j) => w.weights[j]!.set(this.params[i]!.data));
      const gs = w.indices.map((i) => (ownsBuffer(grads[i]!) ? grads[i]! : grads[i]!.slice()));
      return new Promise<void>((resolve, reject) => {
        const onError = (e: Error) => reject(e);
        w.worker.once('error', onError);
        w.worker.once('message', () => {
          w.worker.off('error', onError);
          resolve();
        });
        w.worker.ref();
        w.worker.postMessage({ type: 'step', grads: gs, updates: w.indices.map(update) }, gs.map((g) => g.buffer as ArrayBuffer));
      });
    });
    for (const i of this.mainIndices) {
      const p = this.params[i]!;
      adamwTensor(p.data, p.m, p.v, grads[i]!, update(i));
    }
    try {
      await Promise.all(done);
    } finally {
      for (const w of this.workers) w.worker.unref();
    }
    for (const w of this.workers) w.indices.forEach((i, j) => this.params[i]!.data.set(w.weights[j]!));
  }

  async terminate(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}
