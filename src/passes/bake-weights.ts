/** Turn weight inputs into initializers, giving a self-contained model (for export and inspection). */
import type { Model, Tensor } from '../onnx/ir.js';

export function bakeWeights(m: Model, weights: Map<string, Tensor>): Model {
  const initializers = new Map(m.graph.initializers);
  for (const [name, t] of weights) initializers.set(name, t);
  return {
    ...m,
    graph: { ...m.graph, inputs: m.graph.inputs.filter((i) => !weights.has(i.name)), initializers },
  };
}
