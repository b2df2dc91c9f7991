/**
 * The training graph: the decoder's loss, its gradients with respect to every parameter (by
 * src/autodiff), and the squared global gradient norm. The optimizer update runs outside the graph
 * (src/train/adamw.ts): see the note there for why.
 */
import { addGradients } from '../autodiff/gradient.js';
import { GraphBuilder } from '../onnx/builder.js';
import type { Model } from '../onnx/ir.js';
import type { ModelConfig } from '../model/config.js';
import { paramSpecs } from '../model/params.js';
import { lowerCrossEntropy } from '../passes/lower-cross-entropy.js';
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

/** `packed`: the graph takes packed rows (position_ids and segment_ids inputs, see DecoderOptions.packed). */
export function buildTrainGraph(c: ModelConfig, opts: { packed?: boolean } = {}): Model {
  const forward = buildDecoder(c, { outputs: ['loss'], packed: opts.packed });
  const params = paramSpecs(c).map((p) => p.name);
  const { graph, grads } = addGradients(forward.graph, 'loss', params);
  const b = new GraphBuilder(graph);
  const squares: string[] = [];
  for (const p of paramSpecs(c)) {
    const g = b.output(grads.get(p.name)!, gradOutputName(p.name), 'float32', p.shape); // the value is renamed, not copied
    squares.push(b.op('ReduceSumSquare', [g], { keepdims: 0 }));
  }
  b.output(b.op('Sum', squares), 'grad_sq', 'float32', []);
  return { ...forward, graph: pruneGraph(lowerCrossEntropy(rematerialize(graph, forward.graph.nodes.length))) };
}
