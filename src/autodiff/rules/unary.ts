/** Gradients of element-wise functions, written with the forward output where that is cheaper. */
import { dtypeCode } from '../../onnx/ir.js';
import { one, registerGrad } from '../registry.js';

registerGrad('Identity', (_ctx, _n, dy) => [one(dy)]);

// d sqrt(x) = dy / (2·y)
registerGrad('Sqrt', (ctx, n, dy) => [ctx.b.op('Div', [ctx.b.op('Mul', [one(dy), ctx.scalar(0.5, one(dy))]), n.outputs[0]!])]);

// d (1/x) = −dy · y²
registerGrad('Reciprocal', (ctx, n, dy) => {
  const y = n.outputs[0]!;
  return [ctx.b.op('Neg', [ctx.b.op('Mul', [one(dy), ctx.b.op('Mul', [y, y])])])];
});

// d σ(x) = dy · y · (1 − y)
registerGrad('Sigmoid', (ctx, n, dy) => {
  const y = n.outputs[0]!;
  return [ctx.b.op('Mul', [one(dy), ctx.b.op('Mul', [y, ctx.b.op('Sub', [ctx.scalar(1, y), y])])])];
});

registerGrad('Exp', (ctx, n, dy) => [ctx.b.op('Mul', [one(dy), n.outputs[0]!])]);

registerGrad('Log', (ctx, n, dy) => [ctx.b.op('Div', [one(dy), n.inputs[0]!])]);

// d tanh(x) = dy · (1 − y²)
registerGrad('Tanh', (ctx, n, dy) => {
  const y = n.outputs[0]!;
  return [ctx.b.op('Mul', [one(dy), ctx.b.op('Sub', [ctx.scalar(1, y), ctx.b.op('Mul', [y, y])])])];
});

registerGrad('Relu', (ctx, n, dy) => {
  const x = n.inputs[0]!;
  return [ctx.b.op('Where', [ctx.b.op('Greater', [x, ctx.scalar(0, x)]), one(dy), ctx.scalar(0, x)])];
});

registerGrad('Cast', (ctx, n, dy) => {
  const t = ctx.type(n.inputs[0]!);
  return [ctx.b.op('Cast', [one(dy)], { to: dtypeCode(t.dtype) })];
});
