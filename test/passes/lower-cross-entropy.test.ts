import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/onnx/builder.js';
import type { Graph } from '../../src/onnx/ir.js';
import { lowerCrossEntropy } from '../../src/passes/lower-cross-entropy.js';
import { createSession } from '../../src/runtime/session.js';
import { Rng } from '../../src/util/rng.js';

const [N, C] = [6, 9];

function lossGraph(ignoreIndex?: number): Graph {
  const b = new GraphBuilder('g');
  b.input('scores', 'float32', [N, C]);
  b.input('labels', 'int64', [N]);
  const attrs = ignoreIndex === undefined ? { reduction: 'none' } : { reduction: 'none', ignore_index: ignoreIndex };
  const [nll, logProb] = b.node('SoftmaxCrossEntropyLoss', ['scores', 'labels'], attrs, { outputs: 2 }) as [string, string];
  b.output(nll, 'nll', 'float32', [N]);
  b.output(logProb, 'log_prob', 'float32', [N, C]);
  return b.graph;
}

async function run(graph: Graph, scores: Float32Array, labels: BigInt64Array): Promise<[Float32Array, Float32Array]> {
  const session = await createSession({ irVersion: 8, opsets: { '': 17 }, producerName: 'test', producerVersion: '0', graph, metadata: {} });
  const out = await session.run({ scores: new ort.Tensor('float32', scores, [N, C]), labels: new ort.Tensor('int64', labels, [N]) });
  await session.release();
  return [out.nll!.data as Float32Array, out.log_prob!.data as Float32Array];
}

describe('lowerCrossEntropy', () => {
  for (const ignore of [undefined, -100]) {
    it(`gives the op's per-row loss and log-probabilities${ignore === undefined ? '' : ', ignored rows included'}`, async () => {
      const rng = new Rng(9);
      const scores = Float32Array.from({ length: N * C }, () => 6 * (rng.uniform() - 0.5));
      const labels = BigInt64Array.from({ length: N }, (_, i) => BigInt(ignore !== undefined && i % 3 === 1 ? ignore : rng.int(C)));
      const source = lossGraph(ignore);
      const lowered = lowerCrossEntropy(source);
      expect(lowered.nodes.map((n) => n.op)).not.toContain('SoftmaxCrossEntropyLoss');
      expect(lowered.nodes.find((n) => n.op === 'LogSoftmax')!.attrs.axis).toEqual({ type: 'int', value: -1 });
      const [nllA, lpA] = await run(source, scores, labels);
      const [nllB, lpB] = await run(lowered, scores, labels);
      for (let i = 0; i < N * C; i++) expect(Math.abs(lpB[i]! - lpA[i]!)).toBeLessThanOrEqual(1e-6);
      for (let i = 0; i < N; i++) expect(Math.abs(nllB[i]! - nllA[i]!)).toBeLessThanOrEqual(1e-6);
      if (ignore !== undefined) expect([nllB[1], nllB[4]]).toEqual([0, 0]);
    });
  }

  it('leaves other reductions and weighted losses alone', () => {
    const b = new GraphBuilder('g');
    b.input('s', 'float32', [N, C]);
    b.input('l', 'int64', [N]);
    b.output(b.op('SoftmaxCrossEntropyLoss', ['s', 'l'], { reduction: 'mean' }), 'y', 'float32', []);
    expect(lowerCrossEntropy(b.graph)).toBe(b.graph);
  });
});
