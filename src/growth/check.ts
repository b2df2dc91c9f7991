/** Measurements on a calibration / held-out batch: layer distances for placement, function checks. */
import type { ModelConfig } from '../model/config.js';
import type { Weights } from '../model/weights.js';
import type { Batch } from '../runtime/batch.js';
import { DecoderRunner } from '../runtime/forward.js';

/** Per layer: 1 − mean over tokens of cos(h_in, h_out), the layer's change of the residual stream. */
export async function layerDistances(c: ModelConfig, w: Weights, b: Batch): Promise<number[]> {
  const runner = await DecoderRunner.create(c, w, ['hidden_states']);
  const hs = (await runner.run(b)).hiddenStates!;
  await runner.release();
  const n = b.batch * b.seq, d = c.hiddenSize;
  const out: number[] = [];
  for (let l = 0; l < c.numLayers; l++) {
    let sum = 0;
    for (let t = 0; t < n; t++) {
      const a = (l * n + t) * d, z = ((l + 1) * n + t) * d;
      let dot = 0, na = 0, nz = 0;
      for (let i = 0; i < d; i++) {
        dot += hs[a + i]! * hs[z + i]!;
        na += hs[a + i]! ** 2;
        nz += hs[z + i]! ** 2;
      }
      sum += dot / Math.sqrt(na * nz || 1);
    }
    out.push(1 - sum / n);
  }
  return out;
}

export interface FunctionCheck {
  max_abs_logit_diff: number;
  max_abs_logit: number;
  loss_before: number;
  loss_after: number;
}

/** Run two models on the same batch and compare their logits and losses. */
export async function compareModels(a: { config: ModelConfig; weights: Weights }, b: { config: ModelConfig; weights: Weights }, batch: Batch): Promise<FunctionCheck> {
  const run = async (m: typeof a) => {
    const r = await DecoderRunner.create(m.config, m.weights, ['logits', 'loss']);
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
