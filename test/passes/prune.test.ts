import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { emptyGraph } from '../../src/onnx/ir.js';
import { pruneGraph } from '../../src/passes/prune.js';

describe('pruneGraph', () => {
  it('drops nodes and initializers that no graph output depends on, keeps the rest in order', () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', 'float32', [2]);
    const used = b.op('Mul', [x, b.float32(2)]);
    const dead = b.op('Add', [used, b.float32(5)]);
    b.op('Neg', [dead]);
    b.output(b.op('Relu', [used]), 'y', 'float32', [2]);
    const before = b.graph.nodes.map((n) => n.op);
    const g = pruneGraph(b.graph);
    expect(before).toEqual(['Mul', 'Add', 'Neg', 'Relu']);
    expect(g.nodes.map((n) => n.op)).toEqual(['Mul', 'Relu']);
    expect(g.initializers.size).toBe(1); // the constant 2, not 5
    expect(b.graph.nodes).toHaveLength(4); // the input graph is not modified
  });

  it('keeps values a subgraph reads from the enclosing scope', () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', 'float32', [2]);
    const cond = b.input('c', 'bool', []);
    const outer = b.op('Neg', [x]); // read only inside the branches
    const branch = (name: string) => {
      const sub = emptyGraph(name);
      sub.nodes.push({ op: 'Identity', domain: '', name: `${name}_id`, inputs: [outer], outputs: [`${name}_out`], attrs: {} });
      sub.outputs.push({ name: `${name}_out`, dtype: 'float32', shape: [2] });
      return sub;
    };
    b.node('If', [cond], { then_branch: { type: 'graph', value: branch('then') }, else_branch: { type: 'graph', value: branch('else') } }, { outputs: ['y'] });
    b.graph.outputs.push({ name: 'y', dtype: 'float32', shape: [2] });
    expect(pruneGraph(b.graph).nodes.map((n) => n.op)).toEqual(['Neg', 'If']);
  });
});
