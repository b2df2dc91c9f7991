/** Gradients of data-movement ops: they move the gradient back the way the data came. */
import { type GradContext, intAttr, one, registerGrad } from '../registry.js';

const reshapeBack = (ctx: GradContext, x: string, g: string) => ctx.b.op('Reshape', [g, ctx.shapeOf(x)]);

for (const op of ['Reshape', 'Squeeze', 'Unsqueeze', 'Flatten']) {
  registerGrad(op, (ctx, n, dy) => [reshapeBack(ctx, n.inputs[0]!, one(dy)), ...n.inputs.slice(1).map(() => null)]);
}

registerGrad('Transpose', (ctx, n, dy) => {
  const a = n.attrs.perm;
  const rank = ctx.type(n.inputs[0]!).shape.length;
  const perm = a && a.type === 'ints' ? a.value : [...Array(rank).keys()].reverse();
  const inverse = new Array<number>(perm.length);
  perm.forEach((p, i) => { inverse[p] = i; });
  return [ctx.b.op('Transpose', [one(dy)], { perm: inverse })];
});

registerGrad('Expand', (ctx, n, dy) => [ctx.sumTo(one(dy), n.inputs[0]!), null]);

registerGrad('Split', (ctx, n, dy) => {
  const axis = intAttr(n, 'axis', 0);
  const parts = n.outputs.map((o, i) => dy[i] ?? ctx.zerosLike(o));
  return [ctx.b.op('Concat', parts, { axis }), null];
});

registerGrad('Concat', (ctx, n, dy) => {
  const x0 = ctx.type(n.inputs[0]!);
  const rank = x0.shape.length;
  const axis = (intAttr(n, 'axis', 0) + rank) % rank;
  const sizes = n.inputs.map((x) => ctx.type(x).shape[axis]);
  if (!sizes.every((s) => typeof s === 'number')) throw new Error(`Concat node ${n.name}: gradient needs static sizes along axis ${axis}`);
  return ctx.b.node('Split', [one(dy), ctx.b.int64(sizes as number[])], { axis }, { outputs: n.inputs.length });
});
