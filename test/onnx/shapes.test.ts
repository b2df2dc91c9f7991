import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { MS_DOMAIN } from '../../src/onnx/ir.js';
import { ShapeError, inferShapes } from '../../src/onnx/shapes.js';

describe('shape inference', () => {
  it('leaves the outputs of an op it does not know unknown, and goes on after it', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['batch', 8]);
    const y = b.op('MysteryOp', [x]);
    const z = b.op('Relu', [y]);
    const w = b.op('Relu', [x]);
    const info = inferShapes(b.graph);
    expect(info.types.has(y)).toBe(false);
    expect(info.types.has(z)).toBe(false);
    expect(info.types.get(w)).toEqual({ dtype: 'float32', shape: ['batch', 8] });
  });

  it('dispatches fused kernels by domain: an onnxruntime op name in the default domain is unknown', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2, 3, 4]);
    const w = b.input('w', 'float32', [5, 4]);
    const fused = b.op('FusedMatMul', [x, w], { transB: 1 }, { domain: MS_DOMAIN });
    const plain = b.op('FusedMatMul', [x, w], { transB: 1 });
    const info = inferShapes(b.graph);
    expect(info.types.get(fused)).toEqual({ dtype: 'float32', shape: [2, 3, 5] });
    expect(info.types.has(plain)).toBe(false);
  });

  it('follows shape values through Shape → Gather → Mul → Concat → Reshape', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['batch', 'seq', 16]);
    const s = b.op('Shape', [x]);
    const n = b.op('Mul', [b.op('Gather', [s, b.int64([0])]), b.op('Gather', [s, b.int64([1])])]);
    const y = b.op('Reshape', [x, b.op('Concat', [n, b.int64([-1])], { axis: 0 })]);
    const m = b.op('ReduceMean', [y], { axes: [1], keepdims: 0 });
    const c = b.op('Equal', [m, b.float32(0)]);
    const info = inferShapes(b.graph);
    expect(info.values.get(n)).toEqual(['batch*seq']);
    expect(info.types.get(y)).toEqual({ dtype: 'float32', shape: ['batch*seq', 16] });
    expect(info.types.get(m)).toEqual({ dtype: 'float32', shape: ['batch*seq'] });
    expect(info.types.get(c)).toEqual({ dtype: 'bool', shape: ['batch*seq'] });
  });

  it('names the node of a malformed op', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2, 3]);
    b.op('Concat', [x, x], {}, { name: 'cat' });
    expect(() => inferShapes(b.graph)).toThrow(ShapeError);
    expect(() => inferShapes(b.graph)).toThrow('Concat node cat: missing attribute axis');
  });
});
