/**
 * Mixed precision: the forward graph computes in float16 or bfloat16 while its float32 inputs (the
 * master weights, masks) and outputs (the loss) stay float32. Autodiff then runs on the result, so
 * the backward follows the forward's types: the gradient of each parameter comes back through the
 * Cast at its input, in float32.
 *
 * Requires: a forward graph whose float values are all float32; the loss computed by
 * SoftmaxCrossEntropyLoss (or listed in `float32Ops`).
 * Does: every node with a float input computes in the half type: a float32 graph input gets one
 * Cast where it is first needed, float32 initializers are stored in the half type, Casts to float32
 * become Casts to the half type. The loss op and everything downstream of it computes in float32
 * (the logits are cast up before the softmax, so the loss and its gradient seed are float32).
 * Ensures: the graph's inputs and outputs have their original names and types; nodes without float
 * values (shapes, token ids) are unchanged; a value that overflows the half type becomes ±inf.
 */
import { GraphBuilder } from '../onnx/builder.js';
import { floatTensor, fromBfloat16Bits, fromFloat16Bits } from '../onnx/half.js';
import { DTYPE_CODE, type Graph, type Node, type Tensor } from '../onnx/ir.js';
import { inferShapes } from '../onnx/shapes.js';

export type HalfDType = 'float16' | 'bfloat16';

export interface MixedPrecisionOptions {
  dtype: HalfDType;
}

/** In float32Islands' `ops`: every op. */
export const ALL_OPS = '*';

/** Ops whose result and everything after it stay float32: the loss. */
export const FLOAT32_FROM: ReadonlySet<string> = new Set(['SoftmaxCrossEntropyLoss']);

const FLOAT = DTYPE_CODE.float32;
const opName = (n: Node) => (n.domain ? `${n.domain}.${n.op}` : n.op);

/** A float32 tensor's values in the half type (stored as its bit patterns). */
function toHalf(t: Tensor, dtype: HalfDType): Tensor {
  return floatTensor(dtype, t.dims, t.data as Float32Array);
}

export function mixedPrecision(source: Graph, o: MixedPrecisionOptions): Graph {
  const info = inferShapes(source);
  const isF32 = (v: string) => v !== '' && info.types.get(v)?.dtype === 'float32';
  const HALF = DTYPE_CODE[o.dtype];
  const g: Graph = { ...source, nodes: [...source.nodes], initializers: new Map(source.initializers), valueInfo: [] };
  const b = new GraphBuilder(g); // its fresh names start past every name in the source
  g.nodes = [];
  const outputs = new Set(source.outputs.map((x) => x.name));
  // where each float value is available in the half type and in float32
  const half = new Map<string, string>(), single = new Map<string, string>();
  const sticky = new Set<string>(); // float32 values downstream of the loss
  for (const i of source.inputs) if (isF32(i.name)) single.set(i.name, i.name);
  for (const [name, t] of source.initializers) if (t.dtype === 'float32') single.set(name, name);

  const asHalf = (v: string): string => {
    let h = half.get(v);
    if (h) return h;
    const init = source.initializers.get(v);
    if (init && single.get(v) === v) h = b.constant(toHalf(init, o.dtype));
    else h = b.op('Cast', [single.get(v)!], { to: HALF }, { outputs: [`${v}/${o.dtype}`] });
    half.set(v, h);
    return h;
  };
  const asSingle = (v: string): string => {
    let s = single.get(v);
    if (s) return s;
    s = b.op('Cast', [half.get(v)!], { to: FLOAT }, { outputs: [`${v}/float32`] });
    single.set(v, s);
    return s;
  };

  for (const n of source.nodes) {
    const floatIns = n.inputs.filter(isF32);
    const floatOuts = n.outputs.filter(isF32);
    if (floatIns.length === 0) {
      // no float inputs (shapes, casts from integers, constants): unchanged; their float outputs are float32
      g.nodes.push(n);
      for (const x of floatOuts) single.set(x, x);
      continue;
    }
    const key = opName(n);
    const inLoss = FLOAT32_FROM.has(key) || floatIns.some((x) => sticky.has(x));
    if (inLoss) {
      g.nodes.push({ ...n, inputs: n.inputs.map((x) => (isF32(x) ? asSingle(x) : x)) });
      for (const x of floatOuts) {
        single.set(x, x);
        sticky.add(x);
      }
      continue;
    }
    // computed in the half type; outputs that are graph outputs get a Cast back under their name
    const renamed = n.outputs.map((x) => (isF32(x) && outputs.has(x) ? `${x}/${o.dtype}` : x));
    const attrs = n.op === 'Cast' && n.attrs.to?.type === 'int' && n.attrs.to.value === FLOAT ? { ...n.attrs, to: { type: 'int' as const, value: HALF } } : n.attrs;
    g.nodes.push({ ...n, attrs, inputs: n.inputs.map((x) => (isF32(x) ? asHalf(x) : x)), outputs: renamed });
    n.outputs.forEach((x, i) => {
      if (!isF32(x)) return;
      half.set(x, renamed[i]!);
      if (renamed[i] !== x) {
        b.op('Cast', [renamed[i]!], { to: FLOAT }, { outputs: [x] });
        single.set(x, x);
      }
    });
  }
  return g;
}

/** The number a half-type bit pattern holds (for tests and checks). */
export function halfValue(dtype: HalfDType, bits: number): number {
  return dtype === 'float16' ? fromFloat16Bits(bits) : fromBfloat16Bits(bits);
}


/**
 * float32 islands: nodes of the listed op types (`op` or `domain.op`) that compute in a half type
 * compute in float32 instead, between Casts, and hand their results on in the half type: for a
 * provider without half kernels for them (onnxruntime's CPU build inserts such Casts itself for
 * float16, not for bfloat16). Values between ops are still rounded to the half type, as they would
 * be after a GPU kernel that accumulates in float32.
 *
 * `ALL_OPS` in `ops` lists every op but Cast.
 *
 * Requires: a graph whose value types can be inferred. Ensures: the same inputs, outputs and value
 * names; only listed nodes with a half-typed float input change.
 */
export function float32Islands(source: Graph, ops: ReadonlySet<string>): Graph {
  if (ops.size === 0) return source;
  const listed = (n: Node) => (ops.has(ALL_OPS) ? n.op !== 'Cast' : ops.has(opName(n)));
  const info = inferShapes(source);
  const halfType = (v: string) => {
    const d = v ? info.types.get(v)?.dtype : undefined;
    return d === 'float16' || d === 'bfloat16' ? d : undefined;
  };
  const g: Graph = { ...source, nodes: [...source.nodes], initializers: new Map(source.initializers) };
  const b = new GraphBuilder(g); // its fresh names start past every name in the source
  g.nodes = [];
  const up = new Map<string, string>();
  for (const n of source.nodes) {
    if (!listed(n) || !n.inputs.some(halfType)) {
      g.nodes.push(n);
      continue;
    }
    const inputs = n.inputs.map((x) => {
      if (!halfType(x)) return x;
      let s = up.get(x);
      if (!s) up.set(x, (s = b.op('Cast', [x], { to: FLOAT }, { outputs: [b.fresh(`${x}/float32`)] })));
      return s;
    });
    const outputs = n.outputs.map((x) => (halfType(x) ? b.fresh(`${x}/float32`) : x));
    g.nodes.push({ ...n, inputs, outputs });
    n.outputs.forEach((x, i) => {
      const t = halfType(x);
      if (!t) return;
      b.op('Cast', [outputs[i]!], { to: DTYPE_CODE[t] }, { outputs: [x] });
      up.set(x, outputs[i]!); // a later island reads the float32 value itself
    });
  }
  return g;
}
