/**
 * Gradients of onnxruntime's fused kernels that growlm's graphs use (not standard ONNX ops):
 * RMSNorm as SimplifiedLayerNormalization, SiLU as com.microsoft QuickGelu (alpha 1), RoPE as
 * com.microsoft RotaryEmbedding, and the attention products (transposes and a scale as flags) as
 * com.microsoft FusedMatMul.
 */
import { MS_DOMAIN as MS, dtypeCode } from '../../onnx/ir.js';
import { float } from '../../onnx/builder.js';
import { floatAttr, intAttr, one, registerGrad } from '../registry.js';

/**
 * RMSNorm y = g ⊙ x · r, r = 1/sqrt(mean(x²) + eps) over the last axis (r is the node's second
 * output). With e = dy ⊙ x and W the normalized width:
 *   dx = r · (dy⊙g) − x · r³ · Σ_row(e ⊙ g) / W,   dg = Σ_rows r ⊙ e.
 * Both sums are matrix-vector products over e (a GEMV each), so the backward makes five
 * elementwise passes over [rows, W] instead of seven for the textbook form through x·r.
 */
registerGrad('SimplifiedLayerNormalization', (ctx, n, dy) => {
  const [x, g] = n.inputs as [string, string];
  const stash = n.outputs[1];
  if (!stash) throw new Error('SimplifiedLayerNormalization needs its inv_std_var output for the gradient');
  if (intAttr(n, 'axis', -1) !== -1 && intAttr(n, 'axis', -1) !== ctx.type(x).shape.length - 1) throw new Error('gradient supports axis = -1 only');
  if (dy[1]) throw new Error('the gradient through inv_std_var is not supported');
  const width = ctx.type(g).shape;
  if (width.length !== 1 || typeof width[0] !== 'number') throw new Error(`SimplifiedLayerNormalization node ${n.name}: the gradient needs a 1-D scale of static size`);
  const W = width[0];
  const b = ctx.b;
  const d = one(dy);
  const xType = ctx.type(x).dtype;
  // the statistic is stored in stash_type (float32 by default): bring it to x's type
  const r = ctx.type(stash).dtype === xType ? stash : b.op('Cast', [stash], { to: dtypeCode(xType) });
  const e = b.op('Reshape', [b.op('Mul', [d, x]), b.int64([-1, W])]);
  const dg = ctx.needs(1) ? b.op('Reshape', [b.op('Gemm', [b.op('Reshape', [r, b.int64([-1, 1])]), e], { transA: 1 }), b.int64([W])]) : null;
  if (!ctx.needs(0)) return [null, dg];
  const q = b.op('Reshape', [b.op('MatMul', [e, b.op('Reshape', [g, b.int64([W, 1])])]), ctx.shapeOf(r)]);
  const c = b.op('Mul', [q, b.op('Mul', [b.op('Mul', [r, r]), b.op('Mul', [r, ctx.scalar(1 / W, r)])])]);
  const dx = b.op('Sub', [b.op('Mul', [b.op('Mul', [d, g]), r]), b.op('Mul', [x, c])]);
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

/**
 * C = α·op(A)·op(B) with op = optional transpose of the last two axes (batch axes broadcast).
 * Each gradient is one FusedMatMul whose flags absorb the transposes, so no Transpose copies:
 * dA = α·g·op(B)ᵀ (or its transpose when A is transposed), dB = α·op(A)ᵀ·g (likewise).
 */
registerGrad(`${MS}.FusedMatMul`, (ctx, n, dy) => {
  const [a, b] = n.inputs as [string, string];
  if (intAttr(n, 'transBatchA', 0) || intAttr(n, 'transBatchB', 0)) throw new Error(`FusedMatMul node ${n.name}: gradient with transBatchA/transBatchB is not supported`);
  if (ctx.type(a).shape.length < 2 || ctx.type(b).shape.length < 2) throw new Error(`FusedMatMul node ${n.name}: gradient of a 1-D operand is not supported`);
  const tA = intAttr(n, 'transA', 0), tB = intAttr(n, 'transB', 0);
  const alpha = floatAttr(n, 'alpha', 1);
  const g = one(dy);
  const mm = (x: string, y: string, transA: number, transB: number) =>
    ctx.b.op('FusedMatMul', [x, y], { transA, transB, alpha: float(alpha) }, { domain: MS });
  // op(A)ᵀ is A when transA, Aᵀ otherwise (likewise B)
  const dA = () => (tA ? mm(b, g, tB, 1) : mm(g, b, 0, 1 - tB));
  const dB = () => (tB ? mm(g, a, 1, tA) : mm(a, g, 1 - tA, 0));
  return [ctx.needs(0) ? ctx.sumTo(dA(), a) : null, ctx.needs(1) ? ctx.sumTo(dB(), b) : null];
});
