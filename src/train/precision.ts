/**
 * Which ops of a mixed-precision training graph a provider runs in the half type, and which it
 * cannot. Measured on onnxruntime-node 1.30's CPU build (x86-64):
 *  - float16: the build has almost no float16 compute kernels (cpuFloat16Kernels lists them); its
 *    InsertCastTransformer (always on) wraps each such node in Casts to float32 and back and then
 *    drops every pair of its Casts and the graph's own, so a float16 graph runs in float32 on the
 *    CPU. One op registers a float16 kernel that fails at run time: ScatterND with reduction 'add'
 *    (the embedding gradient). Every op therefore runs as a float32 island here: values are rounded
 *    to float16 between ops, as they are after a GPU kernel that accumulates in float32.
 *  - bfloat16: no kernels and no automatic Casts: every op with a bfloat16 input has to be an island.
 * On CUDA every op of the graph has float16 and bfloat16 kernels in onnxruntime's CUDA provider
 * (untested here: no GPU was available).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { ModelConfig } from '../model/config.js';
import { decodeModel, encodeModel } from '../onnx/serialize.js';
import { inferShapes } from '../onnx/shapes.js';
import type { Provider } from '../runtime/session.js';
import { ALL_OPS, type HalfDType } from '../passes/mixed-precision.js';
import { TRAIN_SESSION, buildTrainGraph } from './train-graph.js';

/** The op types a provider computes in float32 islands in a half-precision training graph (either half type). */
export function float32OpsFor(provider: Provider): string[] {
  if (provider !== 'cpu') return [];
  return [ALL_OPS];
}

export interface HalfKernelReport {
  dtype: HalfDType;
  /** Op types onnxruntime ran in the half type. */
  half: string[];
  /**
   * Op types it ran in float32, reading one of the Casts it inserted itself: no float16 kernel (or
   * a function expanded into such ops, as Softmax is), or a neighbour's Cast moved past a shape op.
   */
  insertedCasts: string[];
  /** Op types kept out of the probe as float32 islands. */
  islands: string[];
}

/**
 * Load the float16 training graph of `config` on the CPU and read back the graph onnxruntime
 * optimized: a node reading a value of its InsertedPrecisionFreeCast Casts has no float16 kernel.
 */
export async function cpuFloat16Kernels(config: ModelConfig): Promise<HalfKernelReport> {
  const islands = ['ScatterND']; // fails at run time (see above); everything else as onnxruntime places it
  const model = buildTrainGraph(config, { precision: 'float16', float32Ops: islands, lossScale: true });
  const dir = mkdtempSync(join(tmpdir(), 'growlm-kernels-'));
  try {
    const path = join(dir, 'optimized.onnx');
    const { model: bytes } = encodeModel(model);
    const s = await ort.InferenceSession.create(bytes, {
      executionProviders: ['cpu'], graphOptimizationLevel: 'basic', optimizedModelFilePath: path,
      extra: { optimization: { disable_specified_optimizers: (TRAIN_SESSION.disabledOptimizers ?? []).join(';') } },
    });
    await s.release();
    const optimized = decodeModel(new Uint8Array(readFileSync(path)));
    const key = (n: { op: string; domain: string }) => (n.domain ? `${n.domain}.${n.op}` : n.op);
    const inserted = new Set<string>(), all = new Set<string>(), present = new Set<string>();
    for (const n of optimized.graph.nodes) {
      if (n.op === 'Cast') continue;
      present.add(key(n));
      if (n.inputs.some((i) => i.startsWith('InsertedPrecisionFreeCast_'))) inserted.add(key(n));
    }
    const info = inferShapes(model.graph);
    for (const n of model.graph.nodes) if (n.op !== 'Cast' && n.inputs.some((i) => info.types.get(i)?.dtype === 'float16')) all.add(key(n));
    return { dtype: 'float16', half: [...all].filter((k) => present.has(k) && !inserted.has(k)).sort(), insertedCasts: [...inserted].sort(), islands };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
