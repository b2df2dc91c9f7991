/** Gathers: scatter-add the gradient back into zeros shaped like the data. */
import { intAttr, one, registerGrad } from '../registry.js';

registerGrad('Gather', (ctx, n, dy) => {
  const [data, indices] = n.inputs as [string, string];
  if (intAttr(n, 'axis', 0) !== 0) throw new Error(`Gather node ${n.name}: gradient is implemented for axis 0 only`);
  const idx = ctx.b.op('Unsqueeze', [indices, ctx.b.int64([-1])]);
  return [ctx.b.op('ScatterND', [ctx.zerosLike(data), idx, one(dy)], { reduction: 'add' }), null];
});

registerGrad('GatherElements', (ctx, n, dy) => {
  const [data, indices] = n.inputs as [string, string];
  return [ctx.b.op('ScatterElements', [ctx.zerosLike(data), indices, one(dy)], { axis: intAttr(n, 'axis', 0), reduction: 'add' }), null];
});
