import { describe, expect, it } from 'vitest';
import { loadPreset } from '../../src/model/presets.js';
import { ALL_OPS } from '../../src/passes/mixed-precision.js';
import { cpuFloat16Kernels, float32OpsFor } from '../../src/train/precision.js';

describe('half precision on onnxruntime\'s CPU build', () => {
  it('runs the GEMMs and most element-wise ops of a float16 training graph in float32 (its own inserted Casts)', async () => {
    const r = await cpuFloat16Kernels(loadPreset('tiny'));
    console.log(`float16 on the CPU: half kernels ${r.half.join(', ')}; float32 between inserted Casts ${r.insertedCasts.join(', ')}`);
    for (const op of ['MatMul', 'Gemm', 'com.microsoft.FusedMatMul', 'Add', 'Mul']) expect(r.insertedCasts, op).toContain(op);
    expect(r.half).toContain('SimplifiedLayerNormalization');
    expect(r.half.filter((k) => r.insertedCasts.includes(k))).toEqual([]);
    expect(float32OpsFor('cpu')).toEqual([ALL_OPS]);
    expect(float32OpsFor('cuda')).toEqual([]);
  });
});
