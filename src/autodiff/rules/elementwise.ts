/** Gradients of broadcasting arithmetic: Add, Sub, Mul, Div, Neg, Sum, Where, Pow. */
import { type GradContext, one, registerGrad } from '../registry.js';

registerGrad('Add', (ctx, n, dy) => [ctx.sumTo(one(dy), n.inputs[0]!), ctx.sumTo(one(dy), n.inputs[1]!)]);

registerGrad('Sum', (ctx, n, dy) => n.inputs.map((x) => ctx.sumTo(one(dy), x)));

registerGrad('Sub', (ctx, n, dy) => [
  ctx.needs(0) ? ctx.sumTo(one(dy), n.inputs[0]!) : null,
  ctx.needs(1) ? ctx.sumTo(ctx.b.op('Neg', [one(dy)]), n.inputs[1]!) : null,
]);

registerGrad('Mul', (ctx, n, dy) => {
  const [a, b] = n.inputs as [string, string];
  return [
    ctx.needs(0) ? ctx.sumTo(ctx.b.op('Mul', [one(dy), b]), a) : null,
    ctx.needs(1) ? ctx.sumTo(ctx.b.op('Mul', [one(dy), a]), b) : null,
  ];
});

registerGrad('Div', (ctx, n, dy) => {
  const [a, b] = n.inputs as [string, string];
  const da = ctx.b.op('Div', [one(dy), b]);
  return [
    ctx.needs(0) ? ctx.sumTo(da, a) : null,
    // d(a/b)/db = -(a/b)/b
    ctx.needs(1) ? ctx.sumTo(ctx.b.op('Neg', [ctx.b.op('Mul', [da, n.outputs[0]!])]), b) : null,
  ];
});

registerGrad('Neg', (ctx, _n, dy) => [ctx.b.op('Neg', [one(dy)])]);

registerGrad('Where', (ctx, n, dy) => {
  const [cond, a, b] = n.inputs as [string, string, string];
  const zero = ctx.scalar(0, one(dy));
  return [
    null,
    ctx.needs(1) ? ctx.sumTo(ctx.b.op('Where', [cond, one(dy), zero]), a) : null,
    ctx.needs(2) ? ctx.sumTo(ctx.b.op('Where', [cond, zero, one(dy)]), b) : null,
  ];
});

/** x^p: d/dx = p·x^(p−1); d/dp = x^p·ln x. */
registerGrad('Pow', (ctx: GradContext, n, dy) => {
  const [x, p] = n.inputs as [string, string];
  const b = ctx.b;
  return [
    ctx.needs(0) ? ctx.sumTo(b.op('Mul', [one(dy), b.op('Mul', [p, b.op('Pow', [x, b.op('Sub', [p, ctx.scalar(1, p)])])])]), x) : null,
    ctx.needs(1) ? ctx.sumTo(b.op('Mul', [one(dy), b.op('Mul', [n.outputs[0]!, b.op('Log', [x])])]), p) : null,
  ];
});
