/**
 * The training graph: the decoder's loss, its gradients with respect to every parameter (by
 * src/autodiff), and the squared global gradient norm. The optimizer update runs outside the graph
 * (src/train/adamw.ts): see the note there for why.
 */
import { addGradients } from '../autodiff/gradient.js';
import { GraphBuilder } from '../onnx/builder.js';
import type { Graph, Model } from '../onnx/ir.js';
import type { ModelConfig } from '../model/config.js';
import { paramSpecs } from '../model/params.js';
import { lowerCrossEntropy } from '../passes/lower-cross-entropy.js';
import { type HalfDType, float32Islands, mixedPrecision } from '../passes/mixed-precision.js';
import { pruneGraph } from '../passes/prune.js';
import { rematerialize } from '../passes/rematerialize.js';
import type { SessionOptions } from '../runtime/session.js';
import { buildDecoder } from '../../graphs/decoder.js';

export const gradOutputName = (param: string) => `grad:${param}`;

/**
 * How a session must run the training graph: onnxruntime's GemmTransposeFusion would fold the
 * weight gradients' deliberate transposes back into slower transA GEMMs (src/autodiff/rules/
 * matmul.ts), and its common-subexpression elimination would merge the recomputed FFN values back
 * into the forward ones (src/passes/rematerialize.ts). The memory pattern is off (see
 * SessionOptions.memPattern for the measurement).
 */
export const TRAIN_SESSION: SessionOptions = { memPattern: false, disabledOptimizers: ['GemmTransposeFusion', 'CommonSubexpressionElimination'] };

export interface TrainGraphOptions {
  /** The graph takes packed rows (position_ids and segment_ids inputs, see DecoderOptions.packed). */
  packed?: boolean;
  /**
   * Differentiate loss·`loss_scale` (a scalar input) instead of the loss: the gradients and
   * `grad_sq` come out scaled (dynamic loss scaling, src/train/loss-scale.ts); `loss` stays unscaled.
   */
  lossScale?: boolean;
  /** Compute the forward (and so the backward) in a half type, float32 master weights and loss (src/passes/mixed-precision.ts). */
  precision?: Precision;
  /** With a half precision: op types computed in float32 (a provider's missing half kernels, see halfKernelGaps). */
  float32Ops?: readonly string[];
}

export type Precision = 'float32' | HalfDType;

export function buildTrainGraph(c: ModelConfig, opts: TrainGraphOptions = {}): Model {
  const built = buildDecoder(c, { outputs: ['loss'], packed: opts.packed });
  const half = opts.precision && opts.precision !== 'float32' ? opts.precision : undefined;
  const forward = half ? { ...built, graph: mixedPrecision(built.graph, { dtype: half }) } : built;
  const params = paramSpecs(c).map((p) => p.name);
  let objective = 'loss';
  if (opts.lossScale) {
    const fb = new GraphBuilder(forward.graph);
    objective = fb.op('Mul', ['loss', fb.input('loss_scale', 'float32', [])]);
  }
  const { graph, grads } = addGradients(forward.graph, objective, params);
  const b = new GraphBuilder(graph);
  const squares: string[] = [];
  for (const p of paramSpecs(c)) {
    const g = b.output(grads.get(p.name)!, gradOutputName(p.name), 'float32', p.shape); // the value is renamed, not copied
    squares.push(b.op('ReduceSumSquare', [g], { keepdims: 0 }));
  }
  b.output(b.op('Sum', squares), 'grad_sq', 'float32', []);
  const islands = half && opts.float32Ops?.length ? (x: Graph) => float32Islands(x, new Set(opts.float32Ops)) : (x: Graph) => x;
  return { ...forward, graph: pruneGraph(islands(lowerCrossEntropy(rematerialize(graph, forward.graph.nodes.length)))) };
}
