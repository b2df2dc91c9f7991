// The GPU path on a device: forward, gradients, the in-graph AdamW with device-resident tensors and
// a float16 graph, each against the CPU. GROWLM_DEVICE=cuda|webgpu|cpu picks the provider (cpu: the
// dry run of tools/device-check.sh); unset, CUDA when this install has it. Without a device the
// tests skip and say why.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPreset } from '../../src/model/presets.js';
import { initWeights } from '../../src/model/weights.js';
import { DecoderRunner } from '../../src/runtime/forward.js';
import { type Provider, checkProvider, pickProvider } from '../../src/runtime/session.js';
import { DEFAULT_ADAMW, type ParamState } from '../../src/train/adamw.js';
import { DeviceAdamW } from '../../src/train/device-update.js';
import { float32OpsFor } from '../../src/train/precision.js';
import { TrainStep } from '../../src/train/step.js';
import { Rng } from '../../src/util/rng.js';
import type { Batch } from '../../src/data/batch.js';
import { FIXTURES, readJson } from '../helpers.js';

async function deviceUnderTest(): Promise<{ provider?: Provider; reason: string }> {
  const asked = process.env.GROWLM_DEVICE as Provider | undefined;
  if (asked) {
    try {
      await checkProvider(asked);
      return { provider: asked, reason: `GROWLM_DEVICE=${asked}` };
    } catch (e) {
      return { reason: `GROWLM_DEVICE=${asked}: ${(e as Error).message}` };
    }
  }
  const { provider, reason } = await pickProvider();
  return provider === 'cpu' ? { reason: `no device: ${reason}; GROWLM_DEVICE=cpu runs these tests on the CPU` } : { provider, reason };
}

const target = await deviceUnderTest();
if (!target.provider) console.log(`skipping the device tests: ${target.reason}`);
const provider = target.provider ?? 'cpu';
// a GPU's float32 GEMMs may run as TF32 (10-bit mantissa): compare to that precision there
const tolerance = provider === 'cpu' ? 1e-5 : 2e-2;

function randomBatch(rng: Rng, B: number, S: number, V: number): Batch {
  const inputs = BigInt64Array.from({ length: B * S }, () => BigInt(rng.int(V)));
  const targets = BigInt64Array.from({ length: B * S }, () => BigInt(rng.int(V)));
  return { inputs, targets, batch: B, seq: S };
}

const relative = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) { num += (a[i]! - b[i]!) ** 2; den += b[i]! ** 2; }
  return Math.sqrt(num / den);
};

describe.skipIf(!target.provider)(`on ${provider}`, () => {
  const config = loadPreset('tiny');
  const batch = randomBatch(new Rng(5), 2, 64, config.vocabSize);

  it('the forward pass gives the CPU\'s logits', async () => {
    const w = initWeights(config, 1);
    const cpu = await DecoderRunner.create(config, w, ['logits', 'loss']);
    const dev = await DecoderRunner.create(config, w, ['logits', 'loss'], { provider });
    const a = await cpu.run(batch), b = await dev.run(batch);
    const rel = relative(b.logits!, a.logits!);
    console.log(`${provider} forward: relative logit error ${rel.toExponential(2)}, loss ${b.loss} vs ${a.loss}`);
    expect(rel).toBeLessThan(tolerance);
    await cpu.release();
    await dev.release();
  });

  it('a training step gives the CPU\'s gradients', async () => {
    const cpu = await TrainStep.create(config, initWeights(config, 1));
    const dev = await TrainStep.create(config, initWeights(config, 1), { session: { provider } });
    const a = await cpu.gradients([batch]), b = await dev.gradients([batch]);
    const rel = Math.max(...a.grads.map((g, i) => relative(b.grads[i]!, g)));
    console.log(`${provider} gradients: worst relative error ${rel.toExponential(2)}`);
    expect(rel).toBeLessThan(tolerance);
    await cpu.release();
    await dev.release();
  });

  it('the in-graph AdamW with device-resident tensors matches torch on fixed gradients', async () => {
    const f = readJson(join(FIXTURES, 'adamw-fixed-grads.json'));
    const opts = { ...DEFAULT_ADAMW, beta1: f.betas[0], beta2: f.betas[1], eps: f.eps, weightDecay: f.weight_decay, clipNorm: 0 };
    const params: ParamState[] = ['matrix', 'gain'].map((name) => {
      const data = Float32Array.from(f.init[name]);
      return { name, data, m: new Float32Array(data.length), v: new Float32Array(data.length), lrMult: 1, decay: name === 'matrix' };
    });
    const update = await DeviceAdamW.create(params, params.map((p) => [p.data.length]), opts, { provider }, provider === 'cpu' ? 'cpu' : 'gpu-buffer');
    for (let i = 0; i < f.grads.length; i++) await update.step(params.map((p) => Float32Array.from(f.grads[i][p.name])), i + 1, f.lrs[i], 0);
    await update.download();
    for (const p of params) {
      const expected = f.after[f.grads.length - 1][p.name] as number[];
      expect(Math.max(...expected.map((v, j) => Math.abs(p.data[j]! - v))), p.name).toBeLessThan(1e-6);
    }
    await update.release();
  });

  it('trains with the in-graph AdamW: the loss falls, the weights come back to the host', async () => {
    const step = await TrainStep.create(config, initWeights(config, 2), { session: { provider }, update: 'graph' });
    const losses: number[] = [];
    for (let i = 0; i < 20; i++) losses.push((await step.step([batch], 3e-3)).loss);
    await step.syncHost();
    console.log(`${provider} in-graph AdamW: loss ${losses[0]!.toFixed(3)} → ${losses.at(-1)!.toFixed(3)} in 20 steps; step split ${JSON.stringify(step.lastTimings)}`);
    expect(losses.at(-1)!).toBeLessThan(losses[0]! - 0.5);
    for (const p of step.params) expect(p.data.every(Number.isFinite), p.name).toBe(true);
    await step.release();
  });

  it('a float16 training graph gives the float32 gradients to float16 rounding', async () => {
    const f32 = await TrainStep.create(config, initWeights(config, 1), { session: { provider } });
    const f16 = await TrainStep.create(config, initWeights(config, 1), { session: { provider }, graph: { precision: 'float16', float32Ops: float32OpsFor(provider) }, lossScaling: {} });
    const a = await f32.gradients([batch]), b = await f16.gradients([batch]);
    const scale = f16.scaler!.scale;
    const rel = Math.max(...a.grads.map((g, i) => relative(b.grads[i]!.map((x) => x / scale), g)));
    console.log(`${provider} float16 gradients: worst relative error per tensor ${rel.toExponential(2)}`);
    expect(rel).toBeLessThan(5e-2);
    await f32.release();
    await f16.release();
  });
});
