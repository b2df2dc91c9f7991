/**
 * Mean token cross-entropy with an ignore index: ONNX SoftmaxCrossEntropyLoss per row (ignored rows
 * give 0), summed and divided by the number of counted tokens (at least 1, so a batch of ignored
 * targets gives loss 0 rather than NaN). The node also outputs log_prob, which its gradient rule
 * (src/autodiff/rules/loss.ts) turns into softmax − one-hot in three passes.
 */
import type { GraphBuilder } from '../src/onnx/builder.js';
import { IGNORE_INDEX } from '../src/model/params.js';

/** logits [N, V] float32, targets [N] int64 → { loss: scalar mean, count: scalar number of counted tokens }. */
export function crossEntropy(b: GraphBuilder, logits: string, targets: string, ignoreIndex = IGNORE_INDEX): { loss: string; count: string } {
  const [nll] = b.node('SoftmaxCrossEntropyLoss', [logits, targets], { reduction: 'none', ignore_index: ignoreIndex }, { outputs: 2 }) as [string, string];
  const valid = b.op('Not', [b.op('Equal', [targets, b.int64(ignoreIndex)])]);
  const count = b.op('ReduceSum', [b.op('Cast', [valid], { to: 1 })], { keepdims: 0 });
  const loss = b.op('Div', [b.op('ReduceSum', [nll], { keepdims: 0 }), b.op('Max', [count, b.float32(1)])]);
  return { loss, count };
}
