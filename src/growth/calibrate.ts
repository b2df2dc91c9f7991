/** Layer-distance calibration for depth placement 'distance' (depth.ts), on a calibration batch. */
import type { ModelConfig } from '../model/config.js';
import type { Weights } from '../model/weights.js';
import type { Batch } from '../data/batch.js';
import { DecoderRunner } from '../runtime/forward.js';
import type { SessionOptions } from '../runtime/session.js';

/** Per layer: 1 − mean over tokens of cos(h_in, h_out), the layer's change of the residual stream. */
export async function layerDistances(c: ModelConfig, w: Weights, b: Batch, session: SessionOptions = {}): Promise<number[]> {
  const runner = await DecoderRunner.create(c, w, ['hidden_states'], session);
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
