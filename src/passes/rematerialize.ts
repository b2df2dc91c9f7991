/**
 * Rematerialization: a cheap elementwise forward value that the backward reads is recomputed in the
 * backward (a copy of its node, placed just before its first backward reader) when everything it is
 * computed from is kept for the backward anyway. The forward value then dies as soon as the forward
 * is done with it, so the peak, which is where the backward starts, holds one tensor fewer.
 *
 * In the decoder this recomputes silu(gate) and silu(gate) ⊙ up for the FFN backward from gate and
 * up, which that backward keeps anyway: two [tokens, ffn] tensors per layer fewer at the peak, for
 * two elementwise passes per layer.
 *
 * The copies are identical to the forward nodes: a runtime's common-subexpression elimination
 * would merge them back (onnxruntime's is turned off for training sessions, see TRAIN_SESSION).
 */
import type { Graph, Node } from '../onnx/ir.js';

/** Ops cheap enough to recompute (one pass over their output), keyed `domain.op` or `op`. */
export const CHEAP_ELEMENTWISE: ReadonlySet<string> = new Set(['Mul', 'Sigmoid', 'com.microsoft.QuickGelu']);

const key = (n: Node) => (n.domain ? `${n.domain}.${n.op}` : n.op);
const hasSubgraph = (n: Node) => Object.values(n.attrs).some((a) => a.type === 'graph');

/**
 * `g.nodes[0 .. backwardStart)` is the forward, the rest the backward (addGradients appends the
 * backward after the forward).
 */
export function rematerialize(g: Graph, backwardStart: number, ops: ReadonlySet<string> = CHEAP_ELEMENTWISE): Graph {
  const forward = g.nodes.slice(0, backwardStart);
  const backward = g.nodes.slice(backwardStart);
  if (backward.some(hasSubgraph)) return g; // reads inside subgraphs are not tracked here
  const always = new Set([...g.inputs.map((i) => i.name), ...g.initializers.keys()]);
  const outputs = new Set(g.outputs.map((o) => o.name));
  // how often the backward reads each value
  const reads = new Map<string, number>();
  const count = (x: string, by: number) => x && reads.set(x, (reads.get(x) ?? 0) + by);
  for (const m of backward) for (const i of m.inputs) count(i, 1);
  const readByBackward = (x: string) => (reads.get(x) ?? 0) > 0;

  // latest forward node first: a recomputed value may itself be recomputed from a recomputed one
  for (let f = forward.length - 1; f >= 0; f--) {
    const n = forward[f]!;
    if (!ops.has(key(n)) || n.outputs.length !== 1 || hasSubgraph(n)) continue;
    const out = n.outputs[0]!;
    if (!readByBackward(out) || outputs.has(out)) continue;
    if (!n.inputs.every((i) => !i || always.has(i) || readByBackward(i))) continue;
    const again = `${out}/remat`;
    const first = backward.findIndex((m) => m.inputs.includes(out));
    for (let j = first; j < backward.length; j++) {
      const m = backward[j]!;
      if (m.inputs.includes(out)) backward[j] = { ...m, inputs: m.inputs.map((i) => (i === out ? again : i)) };
    }
    count(again, reads.get(out)!);
    reads.delete(out);
    for (const i of n.inputs) count(i, 1);
    backward.splice(first, 0, { ...n, name: `${n.name}/remat`, outputs: [again] });
  }
  return { ...g, nodes: [...forward, ...backward] };
}
