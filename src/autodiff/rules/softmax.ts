/** Softmax family (opset ≥ 13 semantics: normalized along one axis). */
import { intAttr, one, registerGrad } from '../registry.js';

// dx = y ⊙ (dy − Σ dy ⊙ y)
registerGrad('Softmax', (ctx, n, dy) => {
  const y = n.outputs[0]!;
  const axis = ctx.b.int64([intAttr(n, 'axis', -1)]);
  const dot = ctx.b.op('ReduceSum', [ctx.b.op('Mul', [one(dy), y]), axis], { keepdims: 1 });
  return [ctx.b.op('Mul', [y, ctx.b.op('Sub', [one(dy), dot])])];
});

// dx = dy − exp(y) · Σ dy
registerGrad('LogSoftmax', (ctx, n, dy) => {
  const y = n.outputs[0]!;
  const axis = ctx.b.int64([intAttr(n, 'axis', -1)]);
  const total = ctx.b.op('ReduceSum', [one(dy), axis], { keepdims: 1 });
  return [ctx.b.op('Sub', [one(dy), ctx.b.op('Mul', [ctx.b.op('Exp', [y]), total])])];
});
