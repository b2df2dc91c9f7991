/**
 * Mean token cross-entropy with an ignore index, written with plain ops:
 * nll = logsumexp(logits) − logits[target]; loss = Σ valid·nll / max(Σ valid, 1).
 */
import type { GraphBuilder } from '../src/onnx/builder.js';

export const IGNORE_INDEX = -100;

/** logits [N, V] float32, targets [N] int64 → { loss: scalar mean, count: scalar number of counted tokens }. */
export function crossEntropy(b: GraphBuilder, logits: string, targets: string, ignoreIndex = IGNORE_INDEX): { loss: string; count: string } {
  const valid = b.op('Not', [b.op('Equal', [targets, b.int64(ignoreIndex)])]);
  const safeTargets = b.op('Where', [valid, targets, b.int64(0)]);
  const picked = b.op('GatherElements', [logits, b.op('Unsqueeze', [safeTargets, b.int64([1])])], { axis: 1 });
  const lse = b.op('ReduceLogSumExp', [logits], { axes: [1], keepdims: 1 });
  const nll = b.op('Squeeze', [b.op('Sub', [lse, picked]), b.int64([1])]);
  const weight = b.op('Cast', [valid], { to: 1 });
  const total = b.op('ReduceSum', [b.op('Mul', [nll, weight])], { keepdims: 0 });
  const count = b.op('ReduceSum', [weight], { keepdims: 0 });
  const loss = b.op('Div', [total, b.op('Max', [count, b.float32(1)])]);
  return { loss, count };
}
