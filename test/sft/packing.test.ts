// Packed rows and the loss on answers only, on the real decoder graph: a sample's logits are the same
// packed with others (block-diagonal mask, positions restarting per sample) as alone, to float32
// rounding, in the fused and the standard-op variants; the gradient of the loss with respect to the
// logits of every prompt, system and user position is exactly zero; and the packed batches of the
// sampler cover every sample once per epoch.
import { describe, expect, it } from 'vitest';
import type * as ort from 'onnxruntime-node';
import { buildDecoder } from '../../graphs/decoder.js';
import { addGradients } from '../../src/autodiff/gradient.js';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { resolveTemplate } from '../../src/data/chat-template.js';
import { type SftRow, sampleRow, tokenizeConversation } from '../../src/data/sft-tokenize.js';
import { SftSampler, epochBatches, packBins, packedBatch } from '../../src/data/sft-pack.js';
import { ByteTokenizer } from '../../src/data/tokenizer.js';
import { type ModelConfig, parseConfig } from '../../src/model/config.js';
import { IGNORE_INDEX, paramSpecs } from '../../src/model/params.js';
import { type Weights, initWeights } from '../../src/model/weights.js';
import { createSession, ortFloat, ortInt64 } from '../../src/runtime/session.js';
import { lowerCrossEntropy } from '../../src/passes/lower-cross-entropy.js';
import type { Batch } from '../../src/data/batch.js';

const C: ModelConfig = parseConfig({
  vocab_size: 256, hidden_size: 48, intermediate_size: 80, num_hidden_layers: 2, num_attention_heads: 4, max_position_embeddings: 64,
  initializer_range: 0.15, input_mult: 2.5, output_mult: 3, mup_scale_factor: 1.5,
});
const W: Weights = initWeights(C, 3);

function feeds(b: Batch): Record<string, ort.Tensor> {
  const f: Record<string, ort.Tensor> = { input_ids: ortInt64(b.inputs, [b.batch, b.seq]) };
  for (const p of paramSpecs(C)) f[p.name] = ortFloat(W.get(p.name)!);
  if (b.packing) {
    f.position_ids = ortInt64(b.packing.positions, [b.batch, b.seq]);
    f.segment_ids = ortInt64(b.packing.segments, [b.batch, b.seq]);
  }
  if (b.targets) f.targets = ortInt64(b.targets, [b.batch, b.seq]);
  return f;
}

const row = (len: number, seed: number): SftRow => {
  const inputs = Array.from({ length: len }, (_, i) => (seed * 31 + i * 17) % 256);
  return { inputs, targets: inputs.map((t) => (t + 1) % 256), source: `s${seed}` };
};

describe('packed rows', () => {
  for (const fused of [true, false]) {
    it(`give each sample the logits it has alone (${fused ? 'fused kernels' : 'standard ops'})`, async () => {
      const packed = await createSession(buildDecoder(C, { outputs: ['logits'], packed: true, fusedKernels: fused }));
      const alone = await createSession(buildDecoder(C, { outputs: ['logits'], fusedKernels: fused }));
      const rows = [row(5, 1), row(9, 2), row(7, 3), row(12, 4), row(20, 5)];
      const seq = 24;
      const bins = [[0, 1, 2], [3], [4]]; // 21 positions (3 padding), 12 (12 padding), 20 (4 padding)
      const b = packedBatch(rows, bins, seq);
      const out = (await packed.run(feeds(b))).logits!.data as Float32Array;
      const V = C.vocabSize;
      let worst = 0, scale = 0;
      for (let r = 0; r < bins.length; r++) {
        let at = 0;
        for (const i of bins[r]!) {
          const x = rows[i]!;
          const one: Batch = { inputs: BigInt64Array.from(x.inputs.map(BigInt)), batch: 1, seq: x.inputs.length };
          const ref = (await alone.run(feeds(one))).logits!.data as Float32Array;
          for (let t = 0; t < x.inputs.length; t++) {
            for (let v = 0; v < V; v++) {
              const got = out[((r * seq) + at + t) * V + v]!, want = ref[t * V + v]!;
              worst = Math.max(worst, Math.abs(got - want));
              scale = Math.max(scale, Math.abs(want));
            }
          }
          at += x.inputs.length;
        }
      }
      expect(scale).toBeGreaterThan(1);
      expect(worst / scale).toBeLessThan(2e-6);
      // and attention does cross samples without the segment ids (the test would catch a missing mask)
      const leaky = { ...b, packing: { positions: b.packing!.positions, segments: new BigInt64Array(b.inputs.length).fill(1n) } };
      const crossed = (await packed.run(feeds(leaky))).logits!.data as Float32Array;
      const second = 5 * V; // the first token of sample 2 in row 0
      let moved = 0;
      for (let v = 0; v < V; v++) moved = Math.max(moved, Math.abs(crossed[second + v]! - out[second + v]!));
      expect(moved).toBeGreaterThan(1e-3);
      await packed.release();
      await alone.release();
    });
  }

  it('first fit keeps rows within the context, and an epoch covers every sample once', () => {
    const lengths = [10, 3, 7, 8, 2, 5, 9, 1];
    const bins = packBins(lengths, [0, 1, 2, 3, 4, 5, 6, 7], 12);
    for (const bin of bins) expect(bin.reduce((a, i) => a + lengths[i]!, 0)).toBeLessThanOrEqual(12);
    expect(bins.flat().sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const rows = lengths.map((l, i) => row(l, i));
    for (const mode of ['pack', 'pad'] as const) {
      const batches = epochBatches(rows, [7, 6, 5, 4, 3, 2, 1, 0], 2, 12, mode);
      const targets = batches.reduce((a, b) => a + b.targets!.filter((t) => t !== BigInt(IGNORE_INDEX)).length, 0);
      expect(targets).toBe(lengths.reduce((a, b) => a + b, 0));
    }
    // the sampler resumes exactly
    const a = new SftSampler(rows, { batch: 2, seq: 12, seed: 5, mode: 'pack' });
    const seen = Array.from({ length: 7 }, () => a.next());
    const b = new SftSampler(rows, { batch: 2, seq: 12, seed: 5, mode: 'pack' });
    for (let i = 0; i < 3; i++) b.next();
    const c = new SftSampler(rows, { batch: 2, seq: 12, seed: 5, mode: 'pack' });
    c.restore(b.state());
    for (let i = 3; i < 7; i++) expect(c.next()).toEqual(seen[i]);
  });
});

describe('loss on answers only', () => {
  it('the gradient of the loss with respect to the logits of prompt positions is exactly zero', async () => {
    const t = resolveTemplate('chatml');
    const tok = new ByteTokenizer();
    const conv = tokenizeConversation(t, tok, [
      { role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Capital of Peru?' }, { role: 'assistant', content: 'Lima' },
      { role: 'user', content: 'And Chile?' }, { role: 'assistant', content: 'Santiago' },
    ], 'x');
    const r = sampleRow(conv);
    const seq = r.inputs.length;
    const cfg = parseConfig({ vocab_size: 256, hidden_size: 48, intermediate_size: 80, num_hidden_layers: 2, num_attention_heads: 4, max_position_embeddings: seq });
    const w = initWeights(cfg, 4);
    const forward = buildDecoder(cfg, { outputs: ['loss'] });
    const ce = forward.graph.nodes.find((n) => n.op === 'SoftmaxCrossEntropyLoss')!;
    const logits = ce.inputs[0]!;
    const { graph, grads } = addGradients(forward.graph, 'loss', [logits]);
    new GraphBuilder(graph).output(grads.get(logits)!, 'grad_logits', 'float32', ['n', cfg.vocabSize]);
    const session = await createSession({ ...forward, graph: lowerCrossEntropy(graph) });
    const f: Record<string, ort.Tensor> = {
      input_ids: ortInt64(BigInt64Array.from(r.inputs.map(BigInt)), [1, seq]),
      targets: ortInt64(BigInt64Array.from(r.targets.map(BigInt)), [1, seq]),
    };
    for (const p of paramSpecs(cfg)) f[p.name] = ortFloat(w.get(p.name)!);
    const out = await session.run(f);
    const g = out.grad_logits!.data as Float32Array;
    const V = cfg.vocabSize;
    let prompt = 0, answer = 0;
    for (let i = 0; i < seq; i++) {
      let m = 0;
      for (let v = 0; v < V; v++) m = Math.max(m, Math.abs(g[i * V + v]!));
      if (r.targets[i] === IGNORE_INDEX) { expect(m, `position ${i}`).toBe(0); prompt++; }
      else { expect(m, `position ${i}`).toBeGreaterThan(0); answer++; }
    }
    expect(answer).toBe('Lima<|im_end|>\nSantiago<|im_end|>\n'.length);
    expect(prompt).toBeGreaterThan(answer);
    expect((out.token_count!.data as Float32Array)[0]).toBe(answer);
    await session.release();
  });
});
