/**
 * Reverse-mode differentiation of an ONNX graph. Given a scalar `loss` and the inputs to
 * differentiate (`wrt`), it appends backward nodes to the graph, walking the forward nodes in
 * reverse and asking each op's registered rule for the gradients of its inputs; gradients of a
 * value used several times are summed. Only float values on a path from `wrt` to `loss` are
 * differentiated: shape computations, masks and integer ops are left alone.
 */
import { GraphBuilder } from '../onnx/builder.js';
import { type DType, type Dim, type Graph, type Node, opKey } from '../onnx/ir.js';
import { type FloatDType, floatTensor, isFloatDType } from '../onnx/half.js';
import { type ShapeInfo, inferAppended, inferShapes, sameDim } from '../onnx/shapes.js';
import { GrowlmError } from '../util/errors.js';
import { type GradContext, gradRule } from './registry.js';
import './rules/index.js';

export class AutodiffError extends GrowlmError {}

export interface GradientResult {
  /** The graph with backward nodes appended (the input graph is not modified). */
  graph: Graph;
  /** wrt name → name of its gradient value. */
  grads: Map<string, string>;
  info: ShapeInfo;
}

const isFloat = (d: DType) => isFloatDType(d);

function cloneGraph(g: Graph): Graph {
  return { ...g, inputs: [...g.inputs], outputs: [...g.outputs], nodes: [...g.nodes], initializers: new Map(g.initializers), valueInfo: [...g.valueInfo] };
}

export function addGradients(source: Graph, loss: string, wrt: string[]): GradientResult {
  const graph = cloneGraph(source);
  const info = inferShapes(graph);
  const typeOf = (name: string) => {
    const t = info.types.get(name);
    if (!t) throw new AutodiffError(`autodiff: the shape of "${name}" could not be inferred`);
    return t;
  };
  const floatType = (name: string): FloatDType => {
    const d = typeOf(name).dtype;
    return isFloatDType(d) ? d : 'float32';
  };
  const lossType = typeOf(loss);
  if (lossType.shape.length !== 0 || !isFloat(lossType.dtype)) throw new AutodiffError(`autodiff: loss "${loss}" must be a float scalar`);

  // values that depend on wrt (forward) and that the loss depends on (backward)
  const dependsOnWrt = new Set(wrt);
  for (const n of graph.nodes) {
    if (n.inputs.some((i) => dependsOnWrt.has(i))) {
      for (const o of n.outputs) if (isFloat(info.types.get(o)?.dtype ?? 'other')) dependsOnWrt.add(o);
    }
  }
  const lossNeeds = new Set([loss]);
  const active: Node[] = [];
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const n = graph.nodes[i]!;
    if (!n.outputs.some((o) => lossNeeds.has(o) && dependsOnWrt.has(o))) continue;
    active.push(n);
    for (const x of n.inputs) if (dependsOnWrt.has(x)) lossNeeds.add(x);
  }

  // infer the shapes of backward nodes as they are appended, so rules (sumTo) see the gradient shapes
  const b = new GraphBuilder(graph, { onNode: (n) => inferAppended(n, info, graph) });
  const contributions = new Map<string, string[]>();
  const add = (name: string, g: string) => {
    const list = contributions.get(name);
    if (list) list.push(g);
    else contributions.set(name, [g]);
  };
  const gradOf = (name: string): string | null => {
    const list = contributions.get(name);
    if (!list) return null;
    // a tree of two-input Adds, not one Sum: onnxruntime's CPU Sum runs on one thread (and
    // pairwise anyway), Add on the whole pool (bench-small: 18 sums of [2048, 384] per step)
    let level = list;
    while (level.length > 1) {
      const next: string[] = [];
      for (let i = 0; i < level.length; i += 2) {
        if (i + 1 === level.length) { next.push(level[i]!); continue; }
        next.push(b.op('Add', [level[i]!, level[i + 1]!]));
      }
      level = next;
    }
    contributions.set(name, level);
    return level[0]!;
  };
  /**
   * Runtime value (int64 [1]) of a symbolic dimension, computed from a graph input that carries the
   * symbol: graph inputs live for the whole run anyway, whereas a Shape of a forward activation in
   * the backward would keep that activation alive (measured ≈ 28 MB per layer on bench-small).
   */
  const symbolCache = new Map<string, string | undefined>();
  const symbolValue = (sym: string): string | undefined => {
    if (symbolCache.has(sym)) return symbolCache.get(sym);
    let v: string | undefined;
    for (const input of graph.inputs) {
      const axis = input.shape?.findIndex((d) => d === sym) ?? -1;
      if (axis < 0) continue;
      v = b.op('Slice', [b.op('Shape', [input.name]), b.int64([axis]), b.int64([axis + 1])]);
      break;
    }
    symbolCache.set(sym, v);
    return v;
  };
  const dimCache = new Map<string, string | undefined>();
  const dimValue = (d: Dim): string | undefined => {
    if (typeof d === 'number') return b.int64([d]);
    if (d === null) return undefined;
    if (dimCache.has(d)) return dimCache.get(d);
    let v: string | undefined;
    for (const part of d.split('*')) {
      const f = /^\d+$/.test(part) ? b.int64([Number(part)]) : symbolValue(part);
      if (!f) return undefined;
      v = v ? b.op('Mul', [v, f]) : f;
    }
    dimCache.set(d, v);
    return v;
  };
  const shapeCache = new Map<string, string>();
  let needsMask: boolean[] = [];
  const ctx: GradContext = {
    b,
    type: typeOf,
    needs: (i) => needsMask[i] ?? false,
    shapeOf(x) {
      const s = typeOf(x).shape;
      if (s.every((d) => typeof d === 'number')) return b.int64(s as number[]);
      const dims = s.map(dimValue);
      const key = dims.every((d) => d !== undefined) ? dims.join(',') : x;
      let v = shapeCache.get(key);
      if (!v) shapeCache.set(key, (v = key === x ? b.op('Shape', [x]) : b.op('Concat', dims as string[], { axis: 0 })));
      return v;
    },
    scalar(v, like) {
      return b.constant(floatTensor(floatType(like), [], [v]));
    },
    zerosLike(x) {
      return b.op('ConstantOfShape', [ctx.shapeOf(x)], { value: floatTensor(floatType(x), [1], [0]) });
    },
    sumTo(g, like) {
      const gs = typeOf(g).shape, xs = typeOf(like).shape;
      if (gs.length === xs.length && gs.every((d, i) => sameDim(d, xs[i]!))) return g;
      const lead = gs.length - xs.length;
      const axes: number[] = [];
      for (let i = 0; i < gs.length; i++) {
        const x = i < lead ? undefined : xs[i - lead];
        if (x === undefined || (x === 1 && gs[i] !== 1)) axes.push(i);
      }
      let r = axes.length ? b.op('ReduceSum', [g, b.int64(axes)], { keepdims: 1 }) : g;
      if (lead > 0) r = b.op('Reshape', [r, ctx.shapeOf(like)]);
      return r;
    },
  };

  const seedName = b.fresh('grad_seed');
  b.graph.initializers.set(seedName, floatTensor(lossType.dtype as FloatDType, [], [1]));
  info.types.set(seedName, { dtype: lossType.dtype, shape: [] });
  add(loss, seedName);

  for (const n of active) {
    const dy = n.outputs.map((o) => gradOf(o));
    if (dy.every((g) => g === null)) continue;
    const rule = gradRule(opKey(n));
    if (!rule) {
      throw new AutodiffError(`autodiff: no gradient rule for op ${n.domain ? n.domain + '.' : ''}${n.op} (node "${n.name}")`);
    }
    needsMask = n.inputs.map((x) => lossNeeds.has(x) && dependsOnWrt.has(x));
    let dx: Array<string | null>;
    try {
      dx = b.scope(`grad/${n.name}`, () => rule(ctx, n, dy));
    } catch (e) {
      if (e instanceof GrowlmError) throw e;
      throw new AutodiffError(`autodiff: ${(e as Error).message} (node "${n.name}")`);
    }
    n.inputs.forEach((x, i) => {
      const g = dx[i];
      if (g && needsMask[i]) add(x, g);
    });
  }

  const grads = new Map<string, string>();
  for (const w of wrt) {
    const g = gradOf(w);
    grads.set(w, g ?? ctx.zerosLike(w)); // unused parameter: zero gradient
  }
  return { graph, grads, info };
}
