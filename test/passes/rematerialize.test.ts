import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { addGradients } from '../../src/autodiff/gradient.js';
import { GraphBuilder } from '../../src/onnx/builder.js';
import type { Graph } from '../../src/onnx/ir.js';
import { rematerialize } from '../../src/passes/rematerialize.js';
import { createSession } from '../../src/runtime/session.js';
import { Rng } from '../../src/util/rng.js';

/** s = σ(−a), m = s ⊙ b, loss = Σ m²: the backward reads m, s and b (not −a). */
function training(): { graph: Graph; forwardNodes: number; grads: Map<string, string> } {
  const b = new GraphBuilder('g');
  b.input('a', 'float64', [4, 5]);
  b.input('b', 'float64', [4, 5]);
  const m = b.op('Mul', [b.op('Sigmoid', [b.op('Neg', ['a'])]), 'b'], {}, { name: 'product' });
  b.op('ReduceSum', [b.op('Mul', [m, m])], { keepdims: 0 }, { outputs: ['loss'] });
  b.graph.outputs.push({ name: 'loss', dtype: 'float64', shape: [] });
  const forwardNodes = b.graph.nodes.length;
  const { graph, grads } = addGradients(b.graph, 'loss', ['a', 'b']);
  for (const w of ['a', 'b']) graph.outputs.push({ name: grads.get(w)!, dtype: 'float64', shape: [4, 5] });
  return { graph, forwardNodes, grads };
}

async function run(graph: Graph, feeds: Record<string, Float64Array>, names: string[]): Promise<Float64Array[]> {
  const session = await createSession({ irVersion: 8, opsets: { '': 17 }, producerName: 'test', producerVersion: '0', graph, metadata: {} }, { disabledOptimizers: ['CommonSubexpressionElimination'] });
  const out = await session.run(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor('float64', v, [4, 5])])));
  await session.release();
  return names.map((n) => out[n]!.data as Float64Array);
}

describe('rematerialize', () => {
  it('recomputes a cheap value in the backward when its inputs are kept anyway; the gradients do not change', async () => {
    const { graph, forwardNodes, grads } = training();
    const remat = rematerialize(graph, forwardNodes);
    const forwardProduct = graph.nodes.find((n) => n.name === 'product')!.outputs[0]!;
    const backward = remat.nodes.slice(forwardNodes);
    // m = σ(−a) ⊙ b is recomputed (σ(−a) and b are read by the backward); σ(−a) is not (−a is not)
    expect(backward.filter((n) => n.name.endsWith('/remat')).map((n) => n.name)).toEqual(['product/remat']);
    expect(backward.some((n) => n.inputs.includes(forwardProduct))).toBe(false);
    expect(remat.nodes.slice(0, forwardNodes).every((n, i) => n === graph.nodes[i])).toBe(true);
    // the copy sits before its first reader
    const at = remat.nodes.findIndex((n) => n.name === 'product/remat');
    expect(remat.nodes.findIndex((n) => n.inputs.includes(`${forwardProduct}/remat`))).toBeGreaterThan(at);

    const rng = new Rng(3);
    const feeds = { a: Float64Array.from({ length: 20 }, () => rng.uniform() - 0.5), b: Float64Array.from({ length: 20 }, () => rng.uniform() - 0.5) };
    const names = ['loss', grads.get('a')!, grads.get('b')!];
    const [before, after] = [await run(graph, feeds, names), await run(remat, feeds, names)];
    for (let i = 0; i < names.length; i++) expect([...after[i]!]).toEqual([...before[i]!]);
  });

  it('leaves a value alone when recomputing it would keep an input alive longer', () => {
    const { graph, forwardNodes } = training();
    // only Sigmoid is allowed: σ(−a) is read by the backward, but −a is not
    const kept = rematerialize(graph, forwardNodes, new Set(['Sigmoid'])).nodes;
    expect(kept).toHaveLength(graph.nodes.length);
    expect(kept.every((n, i) => n === graph.nodes[i])).toBe(true);
  });
});
