/** The fp32 GEMM peak of this machine as onnxruntime reaches it: the denominator of MFU. */
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../onnx/builder.js';
import { createSession } from './session.js';

/**
 * Best GFLOP/s of an n×n×n float32 Gemm with `threads` intra-op threads (threads spinning, best of
 * `repeats` after a warm-up): noise only ever lowers a run, so the best is the peak.
 */
export async function measureGemmPeak(threads: number, n = 2048, repeats = 12): Promise<number> {
  const b = new GraphBuilder('gemm_peak');
  b.input('a', 'float32', [n, n]);
  b.input('b', 'float32', [n, n]);
  b.output(b.op('Gemm', ['a', 'b']), 'y', 'float32', [n, n]);
  const session = await createSession({ irVersion: 8, opsets: { '': 17 }, producerName: 'growlm', producerVersion: '', graph: b.graph, metadata: {} }, { threads, spinning: true });
  const data = new Float32Array(n * n).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const feeds = { a: new ort.Tensor('float32', data, [n, n]), b: new ort.Tensor('float32', data, [n, n]) };
  for (let i = 0; i < 3; i++) await session.run(feeds); // warm up
  let best = Infinity;
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    best = Math.min(best, performance.now() - t0);
  }
  await session.release();
  return (2 * n ** 3) / (best / 1000) / 1e9;
}
