/**
 * Dead-node elimination: drop nodes none of whose outputs reaches a graph output, and the
 * initializers nothing reads any more. onnxruntime keeps such nodes and runs them (measured: the
 * gradient of the constant causal mask, a [1,1,S,S] reduction per layer, ran on every step).
 */
import type { Graph } from '../onnx/ir.js';

/** Names a subgraph (If/Loop/Scan body) reads from the scope around it. */
function outerReads(g: Graph): string[] {
  const local = new Set([...g.inputs.map((i) => i.name), ...g.initializers.keys(), ...g.nodes.flatMap((n) => n.outputs)]);
  const reads = g.nodes.flatMap((n) => [...n.inputs, ...subgraphReads(n.attrs)]);
  return [...g.outputs.map((o) => o.name), ...reads].filter((x) => x && !local.has(x));
}

function subgraphReads(attrs: Graph['nodes'][number]['attrs']): string[] {
  return Object.values(attrs).flatMap((a) => (a.type === 'graph' ? outerReads(a.value) : []));
}

export function pruneGraph(g: Graph): Graph {
  const live = new Set(g.outputs.map((o) => o.name));
  const kept: boolean[] = new Array(g.nodes.length).fill(false);
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    if (!n.outputs.some((o) => live.has(o))) continue;
    kept[i] = true;
    for (const x of [...n.inputs, ...subgraphReads(n.attrs)]) if (x) live.add(x);
  }
  const initializers = new Map([...g.initializers].filter(([name]) => live.has(name)));
  return { ...g, nodes: g.nodes.filter((_, i) => kept[i]), initializers };
}
