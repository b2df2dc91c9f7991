/**
 * Shape and dtype inference over the IR, with symbolic dimensions: a dimension is a number or a
 * product of named sizes ('batch', 'seq', 'batch*seq'). Small int64 tensors that hold shapes are
 * tracked by value too (Shape → Slice → Concat → Reshape), so reshapes with computed targets resolve.
 * Autodiff uses it to reduce broadcast gradients; unknown results are simply absent.
 */
import { type DType, type Dim, type Graph, type Node, type Tensor, MS_DOMAIN, opKey } from './ir.js';
import { GrowlmError } from '../util/errors.js';

export interface ValueType {
  dtype: DType;
  shape: Dim[];
}

export class ShapeError extends GrowlmError {}

// ------------------------------------------------------------ symbolic dimension algebra

interface Mono { coef: number; syms: string[] }

function mono(d: Dim): Mono {
  if (typeof d === 'number') return { coef: d, syms: [] };
  if (d === null) throw new ShapeError('unknown dimension');
  let coef = 1;
  const syms: string[] = [];
  for (const part of d.split('*')) {
    if (/^\d+$/.test(part)) coef *= Number(part);
    else syms.push(part);
  }
  return { coef, syms: syms.sort() };
}

function fromMono(m: Mono): Dim {
  if (m.syms.length === 0) return m.coef;
  return [...(m.coef === 1 ? [] : [String(m.coef)]), ...m.syms].join('*');
}

export function mulDim(a: Dim, b: Dim): Dim {
  const x = mono(a), y = mono(b);
  return fromMono({ coef: x.coef * y.coef, syms: [...x.syms, ...y.syms].sort() });
}

export function divDim(a: Dim, b: Dim): Dim {
  const x = mono(a), y = mono(b);
  const syms = [...x.syms];
  for (const s of y.syms) {
    const i = syms.indexOf(s);
    if (i < 0) throw new ShapeError(`cannot divide ${a} by ${b}`);
    syms.splice(i, 1);
  }
  if (x.coef % y.coef !== 0) throw new ShapeError(`cannot divide ${a} by ${b}`);
  return fromMono({ coef: x.coef / y.coef, syms });
}

export function sameDim(a: Dim, b: Dim): boolean {
  if (a === null || b === null) return false;
  return String(fromMono(mono(a))) === String(fromMono(mono(b)));
}

export function product(dims: Dim[]): Dim {
  return dims.reduce<Dim>((p, d) => mulDim(p, d), 1);
}

/** numpy-style broadcast of shapes. */
export function broadcast(shapes: Dim[][]): Dim[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let d: Dim = 1;
    for (const s of shapes) {
      const x = s[s.length - rank + i];
      if (x === undefined || x === 1) continue;
      if (d === 1) d = x;
      else if (!sameDim(d, x)) throw new ShapeError(`shapes [${shapes.map((s) => s.join(',')).join('] and [')}] do not broadcast`);
    }
    out.push(d);
  }
  return out;
}

// ------------------------------------------------------------ inference

export interface ShapeInfo {
  types: Map<string, ValueType>;
  /** Known contents of small int64 tensors (shapes, axes), symbolically. */
  values: Map<string, Dim[]>;
}

function intAttr(n: Node, name: string, fallback?: number): number {
  const a = n.attrs[name];
  if (a && a.type === 'int') return a.value;
  if (fallback === undefined) throw new ShapeError(`${n.op} node ${n.name}: missing attribute ${name}`);
  return fallback;
}

function intsAttr(n: Node, name: string): number[] | undefined {
  const a = n.attrs[name];
  return a && a.type === 'ints' ? a.value : undefined;
}

const norm = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

const DTYPE_OF_CODE: Record<number, DType> = { 1: 'float32', 6: 'int32', 7: 'int64', 9: 'bool', 10: 'float16', 11: 'float64', 16: 'bfloat16' };

function tensorValues(t: Tensor): Dim[] | undefined {
  if ((t.dtype === 'int64' || t.dtype === 'int32') && t.data.length <= 64) return Array.from(t.data as ArrayLike<number | bigint>, Number);
  return undefined;
}

/** Reduction axes of a Reduce* node (attribute before opset 18, or second input). */
export function reduceAxes(n: Node, info: ShapeInfo, rank: number): number[] {
  const fromAttr = intsAttr(n, 'axes');
  const fromInput = n.inputs[1] ? info.values.get(n.inputs[1]) : undefined;
  if (n.inputs[1] && !fromInput) throw new ShapeError(`${n.op} node ${n.name}: axes are not constant`);
  const axes = (fromAttr ?? (fromInput as number[] | undefined))?.map((a) => norm(a, rank));
  if (!axes || axes.length === 0) return intAttr(n, 'noop_with_empty_axes', 0) ? [] : [...Array(rank).keys()];
  return axes;
}

/** What a shape rule sees of the node it infers: its input types and values, and a setter for its outputs. */
interface ShapeContext {
  n: Node;
  info: ShapeInfo;
  /** The type of input 0 (known: a node whose first input is unknown keeps unknown outputs). */
  x: ValueType;
  rank: number;
  T(i: number): ValueType | undefined;
  V(i: number): Dim[] | undefined;
  set(i: number, dtype: DType, shape: Dim[], values?: Dim[]): void;
}

/** A shape rule sets the types (and values) of the outputs it can infer; the others stay unknown. */
type ShapeRule = (c: ShapeContext) => void;

/** Rules by op key (opKey: the op type, prefixed with its domain outside the default one), like the gradient rules. */
const SHAPE_RULES = new Map<string, ShapeRule>();

function registerShape(ops: string[], rule: ShapeRule): void {
  for (const op of ops) SHAPE_RULES.set(op, rule);
}

registerShape(['SimplifiedLayerNormalization'], ({ n, x, set }) => {
  // onnxruntime's RMSNorm: y, inv_std_var (reduced axis kept as 1)
  set(0, x.dtype, x.shape);
  if (n.outputs[1]) set(1, DTYPE_OF_CODE[intAttr(n, 'stash_type', 1)] ?? x.dtype, [...x.shape.slice(0, -1), 1]);
});

registerShape(
  ['Neg', 'Sqrt', 'Reciprocal', 'Sigmoid', 'Exp', 'Log', 'Tanh', 'Relu', 'Identity', 'Softmax', 'LogSoftmax', 'Abs', 'Erf', `${MS_DOMAIN}.RotaryEmbedding`, `${MS_DOMAIN}.QuickGelu`],
  ({ x, set }) => set(0, x.dtype, x.shape),
);
registerShape(['Not'], ({ x, set }) => set(0, 'bool', x.shape));

registerShape(['Cast'], ({ n, x, V, set }) => set(0, DTYPE_OF_CODE[intAttr(n, 'to')] ?? 'other', x.shape, V(0)));

/** Broadcasting ops; comparisons give bool, Where the dtype of its branches. */
function broadcasting(dtypeOf: (ins: ValueType[]) => DType): ShapeRule {
  return ({ n, T, V, set }) => {
    const ins = n.inputs.map((_, i) => T(i));
    if (ins.some((t) => !t)) return;
    const types = ins as ValueType[];
    // products of dimensions (int64 [1] × [1]) stay symbolic: batch × seq = 'batch*seq'
    const a = V(0), c = V(1);
    const product = n.op === 'Mul' && a?.length === 1 && c?.length === 1 ? [mulDim(a[0]!, c[0]!)] : undefined;
    set(0, dtypeOf(types), broadcast(types.map((t) => t.shape)), product);
  };
}
registerShape(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum'], broadcasting((ins) => ins[0]!.dtype));
registerShape(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or'], broadcasting(() => 'bool'));
registerShape(['Where'], broadcasting((ins) => ins[1]!.dtype));

registerShape(['MatMul', `${MS_DOMAIN}.FusedMatMul`], ({ n, x, rank, T, set }) => {
  // FusedMatMul: MatMul of the operands with their last two axes swapped when transA/transB
  const y = T(1);
  if (!y || rank < 2 || y.shape.length < 2 || intAttr(n, 'transBatchA', 0) || intAttr(n, 'transBatchB', 0)) return;
  const r = y.shape.length;
  const batch = broadcast([x.shape.slice(0, -2), y.shape.slice(0, -2)]);
  const M = x.shape[intAttr(n, 'transA', 0) ? rank - 1 : rank - 2]!;
  const N = y.shape[intAttr(n, 'transB', 0) ? r - 2 : r - 1]!;
  set(0, x.dtype, [...batch, M, N]);
});

registerShape(['Gemm'], ({ n, x, T, set }) => {
  const y = T(1);
  if (!y) return;
  const M = intAttr(n, 'transA', 0) ? x.shape[1]! : x.shape[0]!;
  const N = intAttr(n, 'transB', 0) ? y.shape[0]! : y.shape[1]!;
  set(0, x.dtype, [M, N]);
});

registerShape(['Gather'], ({ n, x, rank, T, V, set }) => {
  const idx = T(1);
  if (!idx) return;
  const axis = norm(intAttr(n, 'axis', 0), rank);
  const vals = V(0), iv = V(1);
  const values = vals && iv && rank === 1 ? (iv.length ? iv.map((i) => vals[norm(i as number, vals.length)]!) : [vals[norm(iv[0] as number, vals.length)]!]) : undefined;
  set(0, x.dtype, [...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)], idx.shape.length === 0 && values ? values.slice(0, 1) : values);
});

registerShape(['GatherElements'], ({ x, T, set }) => {
  if (T(1)) set(0, x.dtype, T(1)!.shape);
});

registerShape(['ScatterND', 'ScatterElements'], ({ x, set }) => set(0, x.dtype, x.shape));

registerShape(['Shape'], ({ x, rank, set }) => set(0, 'int64', [rank], x.shape));

registerShape(['Reshape'], ({ x, V, set }) => {
  const target = V(1);
  if (!target) return;
  const out = target.map((d, i) => (d === 0 ? x.shape[i]! : d));
  const neg = out.findIndex((d) => d === -1);
  if (neg >= 0) out[neg] = divDim(product(x.shape), product(out.filter((_, i) => i !== neg)));
  set(0, x.dtype, out);
});

registerShape(['Expand'], ({ x, V, set }) => {
  const target = V(1);
  if (target) set(0, x.dtype, broadcast([x.shape, target]));
});

registerShape(['ConstantOfShape'], ({ n, V, set }) => {
  const target = V(0);
  const a = n.attrs.value;
  if (target) set(0, a?.type === 'tensor' ? a.value.dtype : 'float32', target);
});

registerShape(['Range'], ({ x, V, set }) => {
  const [s, l, d] = [V(0), V(1), V(2)];
  if (s && l && d && s[0] === 0 && d[0] === 1) set(0, x.dtype, [l[0]!]);
});

registerShape(['SoftmaxCrossEntropyLoss'], ({ n, x, set }) => {
  const r = n.attrs.reduction;
  const none = r?.type === 'string' && r.value === 'none';
  set(0, x.dtype, none ? [x.shape[0]!, ...x.shape.slice(2)] : []);
  if (n.outputs[1]) set(1, x.dtype, x.shape);
});

registerShape(['Flatten'], ({ n, x, rank, set }) => {
  const axis = norm(intAttr(n, 'axis', 1), rank);
  set(0, x.dtype, [product(x.shape.slice(0, axis)), product(x.shape.slice(axis))]);
});

registerShape(['Transpose'], ({ n, x, rank, set }) => {
  const perm = intsAttr(n, 'perm') ?? [...Array(rank).keys()].reverse();
  set(0, x.dtype, perm.map((p) => x.shape[p]!));
});

registerShape(['Squeeze'], ({ x, rank, V, set }) => {
  const axes = (V(1) as number[] | undefined)?.map((a) => norm(a, rank)) ?? x.shape.flatMap((d, i) => (d === 1 ? [i] : []));
  set(0, x.dtype, x.shape.filter((_, i) => !axes.includes(i)), V(0));
});

registerShape(['Unsqueeze'], ({ x, rank, V, set }) => {
  const axesV = V(1) as number[] | undefined;
  if (!axesV) return;
  const outRank = rank + axesV.length;
  const axes = axesV.map((a) => norm(a, outRank));
  const out: Dim[] = [];
  for (let i = 0, j = 0; i < outRank; i++) out.push(axes.includes(i) ? 1 : x.shape[j++]!);
  set(0, x.dtype, out, V(0));
});

registerShape(['Concat'], ({ n, x, rank, T, V, set }) => {
  const axis = norm(intAttr(n, 'axis'), rank);
  const ins = n.inputs.map((_, i) => T(i));
  if (ins.some((t) => !t)) return;
  const shape = [...x.shape];
  shape[axis] = ins.slice(1).reduce<Dim>((s, t) => (s === null || t!.shape[axis] === null ? null : addDim(s, t!.shape[axis]!)), x.shape[axis]!);
  const vals = n.inputs.map((_, i) => V(i));
  set(0, x.dtype, shape, rank === 1 && vals.every(Boolean) ? vals.flatMap((v) => v!) : undefined);
});

registerShape(['Split'], ({ n, x, rank, V, set }) => {
  const axis = norm(intAttr(n, 'axis', 0), rank);
  const sizes = V(1);
  if (!sizes) return;
  sizes.forEach((s, i) => {
    const shape = [...x.shape];
    shape[axis] = s;
    set(i, x.dtype, shape);
  });
});

registerShape(['Slice'], ({ x, rank, V, set }) => {
  const [starts, ends, axesV, steps] = [V(1), V(2), V(3), V(4)];
  if (!starts || !ends) return;
  const axes = (axesV ?? starts.map((_, i) => i)).map((a) => norm(a as number, rank));
  if (steps && steps.some((s) => s !== 1)) return;
  const shape = [...x.shape];
  const vals = V(0) ? [...V(0)!] : undefined;
  let values: Dim[] | undefined = vals;
  for (let i = 0; i < axes.length; i++) {
    const dim = x.shape[axes[i]!]!;
    const s = starts[i]!, e = ends[i]!;
    if (typeof s !== 'number') return;
    const start = s < 0 && typeof dim === 'number' ? Math.max(0, dim + s) : s;
    let end: Dim;
    if (typeof e === 'number') {
      end = e < 0 ? (typeof dim === 'number' ? dim + e : null) : typeof dim === 'number' ? Math.min(e, dim) : e >= 2 ** 62 ? dim : null;
    } else end = e; // symbolic end (e.g. seq ≤ table length)
    if (end === null) return;
    shape[axes[i]!] = typeof end === 'number' ? Math.max(0, end - start) : start === 0 ? end : null;
    if (values && rank === 1 && typeof end === 'number') values = values.slice(start, end);
    else values = undefined;
  }
  if (shape.some((d) => d === null)) return;
  set(0, x.dtype, shape, values);
});

registerShape(['ReduceMean', 'ReduceSum', 'ReduceLogSumExp', 'ReduceMax', 'ReduceSumSquare', 'ReduceMin', 'ReduceProd'], ({ n, info, x, rank, set }) => {
  const axes = reduceAxes(n, info, rank);
  const keep = intAttr(n, 'keepdims', 1);
  set(0, x.dtype, keep ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i)));
});

/** Infer the outputs of one node from the types and values known so far (nothing for an op without a rule). */
function inferNode(n: Node, info: ShapeInfo): void {
  const set = (i: number, dtype: DType, shape: Dim[], values?: Dim[]) => {
    info.types.set(n.outputs[i]!, { dtype, shape });
    if (values) info.values.set(n.outputs[i]!, values);
  };
  if (n.op === 'Constant') { // the one op without inputs
    const a = n.attrs.value;
    if (a?.type === 'tensor') set(0, a.value.dtype, a.value.dims, tensorValues(a.value));
    return;
  }
  const rule = SHAPE_RULES.get(opKey(n));
  const x = n.inputs[0] === undefined ? undefined : info.types.get(n.inputs[0]);
  if (!rule || !x) return; // unknown op or unknown input: outputs stay unknown
  rule({
    n,
    info,
    x,
    rank: x.shape.length,
    T: (i) => (n.inputs[i] === undefined ? undefined : info.types.get(n.inputs[i]!)),
    V: (i) => (n.inputs[i] ? info.values.get(n.inputs[i]!) : undefined),
    set,
  });
}

function addDim(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  return null;
}

/** Infer types of every value of `g`; graph inputs and initializers seed it. */
export function inferShapes(g: Graph): ShapeInfo {
  const info: ShapeInfo = { types: new Map(), values: new Map() };
  for (const i of g.inputs) if (i.shape && i.shape.every((d) => d !== null)) info.types.set(i.name, { dtype: i.dtype, shape: i.shape });
  for (const [name, t] of g.initializers) seedInitializer(info, name, t);
  for (const n of g.nodes) inferNode(n, info);
  return info;
}

function seedInitializer(info: ShapeInfo, name: string, t: Tensor): void {
  info.types.set(name, { dtype: t.dtype, shape: t.dims });
  const v = tensorValues(t);
  if (v) info.values.set(name, v);
}

/** Infer one more node appended to `g` (used while autodiff appends nodes and constants). */
export function inferAppended(n: Node, info: ShapeInfo, g: Graph): void {
  for (const i of n.inputs) {
    const t = g.initializers.get(i);
    if (t && !info.types.has(i)) seedInitializer(info, i, t);
  }
  inferNode(n, info);
}
