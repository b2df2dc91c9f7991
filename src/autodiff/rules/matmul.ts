/**
 * MatMul and Gemm. Gemm gradients use the transA/transB flags instead of Transpose nodes (ORT runs
 * them without copies); the four transpose cases of Gemm are spelled out.
 */
import { float } from '../../onnx/builder.js';
import { type GradContext, floatAttr, intAttr, one, registerGrad } from '../registry.js';

function swapLast(ctx: GradContext, x: string): string {
  const r = ctx.type(x).shape.length;
  const perm = [...Array(r).keys()];
  [perm[r - 2], perm[r - 1]] = [perm[r - 1]!, perm[r - 2]!];
  return ctx.b.op('Transpose', [x], { perm });
}

registerGrad('MatMul', (ctx, n, dy) => {
  const [a, b] = n.inputs as [string, string];
  if (ctx.type(a).shape.length < 2 || ctx.type(b).shape.length < 2) throw new Error(`MatMul node ${n.name}: gradient of 1-D MatMul is not supported`);
  return [
    ctx.needs(0) ? ctx.sumTo(ctx.b.op('MatMul', [one(dy), swapLast(ctx, b)]), a) : null,
    ctx.needs(1) ? ctx.sumTo(ctx.b.op('MatMul', [swapLast(ctx, a), one(dy)]), b) : null,
  ];
});

registerGrad('Gemm', (ctx, n, dy) => {
  const [a, b, c] = n.inputs as [string, string, string | undefined];
  const tA = intAttr(n, 'transA', 0), tB = intAttr(n, 'transB', 0);
  const alpha = floatAttr(n, 'alpha', 1), beta = floatAttr(n, 'beta', 1);
  const g = one(dy);
  const gemm = (x: string, y: string, transA: number, transB: number) =>
    ctx.b.op('Gemm', [x, y], { ...(transA ? { transA } : {}), ...(transB ? { transB } : {}), ...(alpha !== 1 ? { alpha: float(alpha) } : {}) });
  // y = α·op(A)·op(B) + β·C
  const [dA, dB] = (() => {
    if (!tA && !tB) return [() => gemm(g, b, 0, 1), () => gemm(a, g, 1, 0)]; // dA = g·Bᵀ, dB = Aᵀ·g
    if (!tA && tB) return [() => gemm(g, b, 0, 0), () => gemm(g, a, 1, 0)]; //  dA = g·B,  dB = gᵀ·A
    if (tA && !tB) return [() => gemm(b, g, 0, 1), () => gemm(a, g, 0, 0)]; //  dA = B·gᵀ, dB = A·g
    return [() => gemm(b, g, 1, 1), () => gemm(g, a, 1, 1)]; //                  dA = Bᵀ·gᵀ, dB = gᵀ·Aᵀ
  })();
  return [
    ctx.needs(0) ? dA() : null,
    ctx.needs(1) ? dB() : null,
    c && ctx.needs(2) ? ctx.sumTo(beta === 1 ? g : ctx.b.op('Mul', [g, ctx.scalar(beta, g)]), c) : null,
  ];
});
