/** Gradients of reductions: broadcast the output gradient back over the reduced axes. */
import type { Node } from '../../onnx/ir.js';
import { type ShapeInfo, product, reduceAxes } from '../../onnx/shapes.js';
import { type GradContext, intAttr, one, registerGrad } from '../registry.js';

/** dy with the reduced axes restored as size-1 axes, and the axes. */
function keepDims(ctx: GradContext, n: Node, dy: string): { g: string; axes: number[] } {
  const x = ctx.type(n.inputs[0]!);
  const info: ShapeInfo = { types: new Map(), values: new Map() };
  if (n.inputs[1]) {
    const t = ctx.b.graph.initializers.get(n.inputs[1]);
    if (!t) throw new Error(`${n.op} node ${n.name}: axes must be a constant for autodiff`);
    info.values.set(n.inputs[1], Array.from(t.data as BigInt64Array, Number));
  }
  const axes = reduceAxes(n, info, x.shape.length);
  const g = intAttr(n, 'keepdims', 1) || axes.length === 0 ? dy : ctx.b.op('Unsqueeze', [dy, ctx.b.int64(axes)]);
  return { g, axes };
}

const expandTo = (ctx: GradContext, g: string, x: string) => ctx.b.op('Expand', [g, ctx.shapeOf(x)]);

registerGrad('ReduceSum', (ctx, n, dy) => [expandTo(ctx, keepDims(ctx, n, one(dy)).g, n.inputs[0]!), null]);

registerGrad('ReduceMean', (ctx, n, dy) => {
  const x = n.inputs[0]!;
  const { g, axes } = keepDims(ctx, n, one(dy));
  const count = product(axes.map((a) => ctx.type(x).shape[a]!));
  if (typeof count !== 'number') throw new Error(`ReduceMean node ${n.name}: gradient needs static reduced sizes`);
  return [expandTo(ctx, ctx.b.op('Mul', [g, ctx.scalar(1 / count, g)]), x), null];
});

registerGrad('ReduceSumSquare', (ctx, n, dy) => {
  const x = n.inputs[0]!;
  const { g } = keepDims(ctx, n, one(dy));
  return [ctx.b.op('Mul', [ctx.b.op('Mul', [g, ctx.scalar(2, g)]), x]), null];
});

// d logsumexp(x) = dy · exp(x − y)
registerGrad('ReduceLogSumExp', (ctx, n, dy) => {
  const x = n.inputs[0]!;
  const { g } = keepDims(ctx, n, one(dy));
  const { g: y } = keepDims(ctx, n, n.outputs[0]!);
  return [ctx.b.op('Mul', [g, ctx.b.op('Exp', [ctx.b.op('Sub', [x, y])])]), null];
});
