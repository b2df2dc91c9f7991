// Loss spikes: the z-score detector, and the trainer marking the step (and its first batch) in
// metrics.jsonl, the same whether or not the run was resumed in between; the report lists them.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Batch } from '../../src/data/batch.js';
import { parseConfig } from '../../src/model/config.js';
import { saveModelDir } from '../../src/model/model-dir.js';
import { initWeights } from '../../src/model/weights.js';
import { SPIKE_MIN_WINDOW, SPIKE_WINDOW, lossSpikeZ } from '../../src/train/metrics.js';
import { DEFAULT_SCHEDULE } from '../../src/train/schedule.js';
import { type TrainerOptions, latestCheckpoint, train } from '../../src/train/trainer.js';

describe('lossSpikeZ', () => {
  const flat = (n: number) => Array.from({ length: n }, (_, i) => 3 + 0.01 * Math.sin(i));
  it('flags a loss more than 4 standard deviations above the window mean, with its z-score', () => {
    const w = [1, 2, 3, 4, 5, 1, 2, 3, 4, 5]; // mean 3, sd √2
    expect(lossSpikeZ(w, 3 + 4.1 * Math.SQRT2)).toBeCloseTo(4.1, 10);
    expect(lossSpikeZ(w, 3 + 3.9 * Math.SQRT2)).toBeUndefined();
    expect(lossSpikeZ(w, -100)).toBeUndefined(); // a drop is no spike
  });
  it('no verdict on a short or flat window or a non-finite loss; only the last SPIKE_WINDOW losses count', () => {
    expect(lossSpikeZ(flat(SPIKE_MIN_WINDOW - 1), 100)).toBeUndefined();
    expect(lossSpikeZ(flat(SPIKE_MIN_WINDOW), 100)).toBeGreaterThan(4);
    expect(lossSpikeZ(Array(20).fill(2), 100)).toBeUndefined();
    expect(lossSpikeZ(flat(20), NaN)).toBeUndefined();
    // a huge old value outside the window does not mask a spike
    expect(lossSpikeZ([1e6, ...flat(SPIKE_WINDOW)], 4)).toBeGreaterThan(4);
  });
});

describe('the trainer logs loss spikes', () => {
  const config = parseConfig({ vocab_size: 32, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 8 });
  const batchOf = (f: (i: number) => number): Batch => {
    const ids = Array.from({ length: 2 * 9 }, (_, i) => f(i) % 32);
    const inputs = new BigInt64Array(16), targets = new BigInt64Array(16);
    for (let b = 0; b < 2; b++) for (let t = 0; t < 8; t++) { inputs[b * 8 + t] = BigInt(ids[b * 9 + t]!); targets[b * 8 + t] = BigInt(ids[b * 9 + t + 1]!); }
    return { inputs, targets, batch: 2, seq: 8 };
  };
  // the same batch every step (the loss falls smoothly), except the one drawn at index 47: other tokens
  const easy = batchOf((i) => i % 4), odd = batchOf((i) => (i * 7 + 3) * 5 + 11);
  const sampler = () => {
    let n = 0;
    return { next: () => (n++ === 47 ? odd : easy), state: () => n, restore: (s: unknown) => { n = s as number; } };
  };
  const opts = (stopAt?: number): TrainerOptions => ({
    steps: 56, accumulate: 1, schedule: { ...DEFAULT_SCHEDULE, kind: 'constant', peakLr: 1e-2, total: 56 }, optimizer: {},
    evalEvery: 0, evalBatches: 1, evalBatchSize: 1, evalSeq: 8, checkpointEvery: 4, keepCheckpoints: 2, session: { threads: 1 }, maxNonFinite: 10,
    ...(stopAt ? { stopAt } : {}),
  });
  const run = async (stops: number[]) => {
    const dir = join(mkdtempSync(join(tmpdir(), 'growlm-spikes-')), 'm');
    saveModelDir(dir, { config, weights: initWeights(config, 1) });
    const data = { sampler: sampler(), val: Array.from({ length: 40 }, (_, i) => i % 32), valBytesPerToken: 1 };
    let spikes = 0;
    for (const stop of [...stops, undefined]) {
      const w = initWeights(config, 1);
      const point = stop === stops[0] ? undefined : latestCheckpoint(dir, config).checkpoint;
      const r = await train(dir, config, w, { ...data, sampler: sampler() }, opts(stop), () => {}, point);
      spikes += r.lossSpikes;
    }
    return { spikes, metrics: readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)) };
  };

  it('marks the step of the odd batch (step 48, first batch 47) with its z-score; a run resumed before it marks the same', async () => {
    const straight = await run([]);
    const marked = straight.metrics.filter((e) => e.spike);
    expect(marked.map((e) => e.step)).toEqual([48]);
    expect(marked[0].spike.first_batch).toBe(47);
    expect(marked[0].spike.z).toBeGreaterThan(4);
    expect(straight.spikes).toBe(1);
    const resumed = await run([20, 44]);
    expect(resumed.metrics).toEqual(straight.metrics.map((e, i) => ({ ...e, tokens_per_s: resumed.metrics[i].tokens_per_s, elapsed_s: resumed.metrics[i].elapsed_s })));
    expect(resumed.spikes).toBe(1);
  }, 60_000);
});
