/**
 * Gradients of onnxruntime's fused kernels that growlm's graphs use (not standard ONNX ops):
 * RMSNorm as SimplifiedLayerNormalization, SiLU as com.microsoft QuickGelu (alpha 1), RoPE as
 * com.microsoft RotaryEmbedding.
 */
import { MS_DOMAIN as MS } from '../../onnx/ir.js';
import { intAttr, one, registerGrad } from '../registry.js';

/**
 * RMSNorm y = g ⊙ n, n = x · r, r = 1/sqrt(mean(x²) + eps) (r is the node's second output).
 * dx = r · (dy⊙g − n · mean(dy⊙g⊙n)),  dg = Σ_rows dy ⊙ n.
 */
registerGrad('SimplifiedLayerNormalization', (ctx, n, dy) => {
  const [x, g] = n.inputs as [string, string];
  const stash = n.outputs[1];
  if (!stash) throw new Error('SimplifiedLayerNormalization needs its inv_std_var output for the gradient');
  if (intAttr(n, 'axis', -1) !== -1 && intAttr(n, 'axis', -1) !== ctx.type(x).shape.length - 1) throw new Error('gradient supports axis = -1 only');
  if (dy[1]) throw new Error('the gradient through inv_std_var is not supported');
  const b = ctx.b;
  const d = one(dy);
  const xType = ctx.type(x).dtype;
  // the statistic is stored in stash_type (float32 by default): bring it to x's type
  const r = ctx.type(stash).dtype === xType ? stash : b.op('Cast', [stash], { to: xType === 'float64' ? 11 : 1 });
  const normed = b.op('Mul', [x, r]);
  const dg = ctx.needs(1) ? ctx.sumTo(b.op('Mul', [d, normed]), g) : null;
  if (!ctx.needs(0)) return [null, dg];
  const dn = b.op('Mul', [d, g]);
  const mean = b.op('ReduceMean', [b.op('Mul', [dn, normed])], { axes: [-1], keepdims: 1 });
  const dx = b.op('Mul', [b.op('Sub', [dn, b.op('Mul', [normed, mean])]), r]);
  return [dx, dg];
});

/** y = x · σ(αx): dy/dx = σ(αx) + αx · σ(αx) · (1 − σ(αx)) = s + α·y·(1 − s), reusing the output y. */
registerGrad(`${MS}.QuickGelu`, (ctx, n, dy) => {
  const x = n.inputs[0]!, y = n.outputs[0]!;
  const b = ctx.b;
  const alpha = n.attrs.alpha?.type === 'float' ? n.attrs.alpha.value : 1.702;
  const s = b.op('Sigmoid', [alpha === 1 ? x : b.op('Mul', [x, ctx.scalar(alpha, x)])]);
  const ay = alpha === 1 ? y : b.op('Mul', [y, ctx.scalar(alpha, y)]);
  const slope = b.op('Add', [s, b.op('Mul', [ay, b.op('Sub', [ctx.scalar(1, x), s])])]);
  return [b.op('Mul', [one(dy), slope])];
});

/**
 * RoPE rotates each pair of features by a position-dependent angle θ; a rotation's adjoint is the
 * rotation by −θ, so the input gradient is the same op applied to dy with the sin table negated.
 */
registerGrad(`${MS}.RotaryEmbedding`, (ctx, n, dy) => {
  const [, positions, cos, sin] = n.inputs as [string, string, string, string];
  const dx = ctx.b.op('RotaryEmbedding', [one(dy), positions, cos, ctx.b.op('Neg', [sin])], n.attrs, { domain: MS });
  return [dx, null, null, null];
});
