/** The function-preservation check: the old and the grown model on the same batch. */
import type { ModelConfig } from '../model/config.js';
import type { Weights } from '../model/weights.js';
import type { Batch } from '../data/batch.js';
import { DecoderRunner } from '../runtime/forward.js';
import type { SessionOptions } from '../runtime/session.js';
import { Rng } from '../util/rng.js';

export interface FunctionCheck {
  max_abs_logit_diff: number;
  max_abs_logit: number;
  loss_before: number;
  loss_after: number;
}

/** Run two models on the same batch and compare their logits and losses. */
export async function compareModels(a: { config: ModelConfig; weights: Weights }, b: { config: ModelConfig; weights: Weights }, batch: Batch, session: SessionOptions = {}): Promise<FunctionCheck> {
  const run = async (m: typeof a) => {
    const r = await DecoderRunner.create(m.config, m.weights, ['logits', 'loss'], session);
    const out = await r.run(batch);
    await r.release();
    return out;
  };
  const x = await run(a), y = await run(b);
  let diff = 0, max = 0;
  for (let i = 0; i < x.logits!.length; i++) {
    diff = Math.max(diff, Math.abs(x.logits![i]! - y.logits![i]!));
    max = Math.max(max, Math.abs(x.logits![i]!));
  }
  return { max_abs_logit_diff: diff, max_abs_logit: max, loss_before: x.loss!, loss_after: y.loss! };
}

/** Seeded random tokens: the check batch when no held-out data is given (the result says so). */
export function randomBatch(vocab: number, seq: number, batch = 4): Batch {
  const rng = new Rng(1234);
  const n = batch * seq;
  return {
    inputs: BigInt64Array.from({ length: n }, () => BigInt(rng.int(vocab))),
    targets: BigInt64Array.from({ length: n }, () => BigInt(rng.int(vocab))),
    batch, seq,
  };
}
