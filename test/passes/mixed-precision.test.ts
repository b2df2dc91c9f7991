import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { fromBfloat16Bits, fromFloat16Bits, toBfloat16Bits, toFloat16Bits } from '../../src/onnx/half.js';
import type { Graph } from '../../src/onnx/ir.js';
import { inferShapes } from '../../src/onnx/shapes.js';
import { ALL_OPS, float32Islands, mixedPrecision } from '../../src/passes/mixed-precision.js';
import { createSession } from '../../src/runtime/session.js';
import { Rng } from '../../src/util/rng.js';

const [N, D, C] = [4, 8, 5];

/** x·W → Sigmoid → ·scale (an initializer) → SoftmaxCrossEntropyLoss → mean: a float32 forward with a loss. */
function forward(): Graph {
  const b = new GraphBuilder('g');
  b.input('x', 'float32', [N, D]);
  b.input('w', 'float32', [D, C]);
  b.input('labels', 'int64', [N]);
  const h = b.op('Mul', [b.op('Sigmoid', [b.op('MatMul', ['x', 'w'])]), b.float32(3)]);
  const out = b.output(h, 'h', 'float32', [N, C]); // renames the Mul's output
  const [nll] = b.node('SoftmaxCrossEntropyLoss', [out, 'labels'], { reduction: 'none' }, { outputs: 2 }) as [string, string];
  const count = b.op('Cast', [b.op('Size', ['labels'])], { to: 1 });
  b.output(b.op('Div', [b.op('ReduceSum', [nll], { keepdims: 0 }), count]), 'loss', 'float32', []);
  return b.graph;
}

async function run(graph: Graph, x: Float32Array, w: Float32Array, labels: BigInt64Array) {
  const s = await createSession({ irVersion: 8, opsets: { '': 17 }, producerName: 'test', producerVersion: '0', graph, metadata: {} });
  const out = await s.run({ x: new ort.Tensor('float32', x, [N, D]), w: new ort.Tensor('float32', w, [D, C]), labels: new ort.Tensor('int64', labels, [N]) });
  await s.release();
  return { h: out.h!.data as Float32Array, loss: (out.loss!.data as Float32Array)[0]! };
}

const typeOf = (g: Graph) => inferShapes(g).types;

describe('half-precision values', () => {
  it('rounds float32 to float16 and bfloat16 bits to nearest even, with overflow to inf', () => {
    expect(toFloat16Bits(1)).toBe(0x3c00);
    expect(toFloat16Bits(-2)).toBe(0xc000);
    expect(toFloat16Bits(65504)).toBe(0x7bff); // the largest float16
    expect(toFloat16Bits(65520)).toBe(0x7c00); // rounds up past it: inf
    expect(toFloat16Bits(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(toFloat16Bits(2 ** -26)).toBe(0); // below half of it
    expect(toFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(toFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
    expect(Number.isNaN(fromFloat16Bits(toFloat16Bits(NaN)))).toBe(true);
    expect(toBfloat16Bits(1)).toBe(0x3f80);
    expect(toBfloat16Bits(1 + 2 ** -8)).toBe(0x3f80); // tie → even
    expect(fromBfloat16Bits(toBfloat16Bits(3e38))).toBe(3.0040552704739098e38); // 0x7f62
    const rng = new Rng(4);
    for (let i = 0; i < 1000; i++) {
      const x = (rng.uniform() - 0.5) * 100;
      expect(Math.abs(fromFloat16Bits(toFloat16Bits(x)) - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -11);
      expect(Math.abs(fromBfloat16Bits(toBfloat16Bits(x)) - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -8);
    }
  });
});

describe('mixedPrecision', () => {
  it('computes in float16 between float32 inputs, loss and outputs, close to the float32 graph', async () => {
    const source = forward();
    const g = mixedPrecision(source, { dtype: 'float16' });
    const types = typeOf(g);
    // inputs and outputs keep their names and types
    expect(g.inputs).toEqual(source.inputs);
    expect(g.outputs).toEqual(source.outputs);
    expect(types.get('h')!.dtype).toBe('float32');
    // the weights are cast once; MatMul, Sigmoid and Mul compute in float16, the loss in float32
    expect(g.nodes.filter((n) => n.op === 'Cast' && n.inputs[0] === 'w')).toHaveLength(1);
    for (const op of ['MatMul', 'Sigmoid', 'Mul']) {
      const n = g.nodes.find((x) => x.op === op)!;
      expect(types.get(n.outputs[0]!)!.dtype, op).toBe('float16');
    }
    const loss = g.nodes.find((x) => x.op === 'SoftmaxCrossEntropyLoss')!;
    expect(types.get(loss.inputs[0]!)!.dtype).toBe('float32');
    expect(types.get(loss.outputs[0]!)!.dtype).toBe('float32');
    const init = [...g.initializers.values()].find((t) => t.dtype === 'float16')!;
    expect(fromFloat16Bits(init.data[0] as number)).toBe(3);
    const rng = new Rng(2);
    const x = Float32Array.from({ length: N * D }, () => rng.uniform() - 0.5);
    const w = Float32Array.from({ length: D * C }, () => rng.uniform() - 0.5);
    const labels = BigInt64Array.from({ length: N }, () => BigInt(rng.int(C)));
    const a = await run(source, x, w, labels), b = await run(g, x, w, labels);
    // onnxruntime's CPU build has no float16 MatMul, Sigmoid or Mul: it wraps them in Casts to
    // float32 and then drops each pair of its Cast and ours, so the whole graph ran in float32
    expect(b.h).toEqual(a.h);
    // as float32 islands, every op's result is rounded to float16 (as after a GPU kernel)
    const c = await run(float32Islands(g, new Set([ALL_OPS])), x, w, labels);
    expect(c.h).not.toEqual(a.h);
    for (let i = 0; i < a.h.length; i++) expect(Math.abs(c.h[i]! - a.h[i]!)).toBeLessThan(3 * 2 ** -10); // |h| ≤ 3: a few float16 ulps
    expect(Math.abs(c.loss - a.loss)).toBeLessThan(1e-2);
  });

  it('overflows to inf where float16 cannot hold a value', async () => {
    const g = mixedPrecision(forward(), { dtype: 'float16' });
    const x = new Float32Array(N * D).fill(300), w = new Float32Array(D * C).fill(300); // x·W = 720,000 > 65504
    const r = await run(g, x, w, new BigInt64Array(N));
    // sigmoid(inf) = 1: the overflow is in the MatMul's float16 output, which the pass does not hide
    const mm = g.nodes.find((n) => n.op === 'MatMul')!;
    g.outputs.push({ name: mm.outputs[0]!, dtype: 'float16', shape: [N, C] });
    const s = await createSession({ irVersion: 8, opsets: { '': 17 }, producerName: 'test', producerVersion: '0', graph: g, metadata: {} });
    const out = await s.run({ x: new ort.Tensor('float32', x, [N, D]), w: new ort.Tensor('float32', w, [D, C]), labels: new ort.Tensor('int64', new BigInt64Array(N), [N]) });
    await s.release();
    expect(fromFloat16Bits((out[mm.outputs[0]!]!.data as Uint16Array)[0]!)).toBe(Infinity);
    expect(r.h[0]).toBe(3);
  });
});

describe('float32Islands', () => {
  it('runs the listed ops in float32 between casts, names and outputs unchanged', async () => {
    const half = mixedPrecision(forward(), { dtype: 'float16' });
    const g = float32Islands(half, new Set(['MatMul']));
    const types = typeOf(g);
    const mm = g.nodes.find((n) => n.op === 'MatMul')!;
    expect(mm.inputs.map((i) => types.get(i)!.dtype)).toEqual(['float32', 'float32']);
    expect(types.get(mm.outputs[0]!)!.dtype).toBe('float32');
    // its consumer still reads float16, under the name the half graph gave the MatMul's output
    const halfMm = half.nodes.find((n) => n.op === 'MatMul')!.outputs[0]!;
    expect(types.get(halfMm)!.dtype).toBe('float16');
    expect(g.outputs).toEqual(half.outputs);
    // every op: only Casts read float16
    const all = float32Islands(half, new Set([ALL_OPS]));
    const allTypes = typeOf(all);
    for (const n of all.nodes) if (n.op !== 'Cast') expect(n.inputs.every((i) => !i || allTypes.get(i)?.dtype !== 'float16'), n.op).toBe(true);
    const rng = new Rng(3);
    const x = Float32Array.from({ length: N * D }, () => rng.uniform() - 0.5);
    const w = Float32Array.from({ length: D * C }, () => rng.uniform() - 0.5);
    const labels = BigInt64Array.from({ length: N }, () => BigInt(rng.int(C)));
    const a = await run(forward(), x, w, labels), b = await run(g, x, w, labels);
    expect(Math.abs(b.loss - a.loss)).toBeLessThan(1e-2);
  });
});
