/**
 * MatMul and Gemm. Gemm gradients use the transA/transB flags instead of Transpose nodes (ORT runs
 * them without copies); the four transpose cases of Gemm are spelled out, except for the weight
 * gradient of a projection (below).
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

/**
 * dW = gᵀ·x for y = x·Wᵀ (W [out, in], the decoder's projections). onnxruntime's GEMM with transA
 * re-transposes blocks of its first operand for every block of columns and measured 250–270
 * GFLOP/s against 320–350 for the same product with that operand transposed once beforehand
 * (bench-small, 2 threads). So the smaller operand is transposed explicitly: x when in < out
 * (dW = (xᵀ·g)ᵀ, and x is shared by projections of the same input), else g. Training sessions
 * turn onnxruntime's GemmTransposeFusion off, which would fold these Transposes back into transA.
 */
const transposed = new WeakMap<object, Map<string, string>>();

function weightGrad(ctx: GradContext, g: string, x: string, w: string, alpha: number): string {
  const inn = ctx.type(x).shape[1], out = ctx.type(w).shape[0];
  // one transpose per value: projections of the same input (gate and up) share xᵀ
  const memo = transposed.get(ctx.b) ?? transposed.set(ctx.b, new Map()).get(ctx.b)!;
  const t = (v: string) => memo.get(v) ?? memo.set(v, ctx.b.op('Transpose', [v], { perm: [1, 0] })).get(v)!;
  const attrs = alpha !== 1 ? { alpha: float(alpha) } : undefined;
  if (typeof inn === 'number' && typeof out === 'number' && inn < out) return t(ctx.b.op('Gemm', [t(x), g], attrs));
  return ctx.b.op('Gemm', [t(g), x], attrs);
}

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
    if (!tA && tB) return [() => gemm(g, b, 0, 0), () => weightGrad(ctx, g, a, b, alpha)]; //  dA = g·B,  dB = gᵀ·A
    if (tA && !tB) return [() => gemm(b, g, 0, 1), () => gemm(a, g, 0, 0)]; //  dA = B·gᵀ, dB = A·g
    return [() => gemm(b, g, 1, 1), () => gemm(g, a, 1, 1)]; //                  dA = Bᵀ·gᵀ, dB = gᵀ·Aᵀ
  })();
  return [
    ctx.needs(0) ? dA() : null,
    ctx.needs(1) ? dB() : null,
    c && ctx.needs(2) ? ctx.sumTo(beta === 1 ? g : ctx.b.op('Mul', [g, ctx.scalar(beta, g)]), c) : null,
  ];
});
