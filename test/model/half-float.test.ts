import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fromFloat32, toFloat32 } from '../../src/model/half-float.js';
import { fromBfloat16Bits as bf16BitsToF32, fromFloat16Bits as f16BitsToF32, toBfloat16Bits as f32ToBf16Bits, toFloat16Bits as f32ToF16Bits } from '../../src/onnx/half.js';
import { SafetensorsFile, loadSafetensors, saveSafetensors } from '../../src/model/safetensors.js';
import { CheckpointReader } from '../../src/model/checkpoint-files.js';
import { saveWeights } from '../../src/model/model-dir.js';
import { Rng } from '../../src/util/rng.js';

const tmp = mkdtempSync(join(tmpdir(), 'growlm-half-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const f32 = (x: number) => Math.fround(x);
const hex = (n: number) => `0x${n.toString(16).padStart(4, '0')}`;

describe('float32 → float16, round to nearest even', () => {
  const cases: [number, number][] = [
    [1, 0x3c00], [-2, 0xc000], [0.1, 0x2e66], [-0, 0x8000], [0, 0],
    [65504, 0x7bff], [65519, 0x7bff], [65520, 0x7c00], [1e6, 0x7c00], [-Infinity, 0xfc00], [Infinity, 0x7c00],
    [2 ** -14, 0x0400], // smallest normal
    [1023 * 2 ** -24, 0x03ff], // largest subnormal
    [1023.5 * 2 ** -24, 0x0400], // tie between subnormal 1023 and normal 1024: even is 1024
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // half of it: a tie, to even (0)
    [f32(2 ** -25 * (1 + 2 ** -23)), 0x0001], // just above the tie
    [3 * 2 ** -25, 0x0002], // 1.5 → 2
    [5 * 2 ** -25, 0x0002], // 2.5 → 2
    [-(7 * 2 ** -25), 0x8004], // -3.5 → -4
    [1e-8, 0x0000], [-1e-8, 0x8000], [1e-40, 0x0000], // below half the smallest subnormal; a float32 subnormal
    [1 + 2 ** -11, 0x3c00], // tie → even mantissa 0
    [1 + 3 * 2 ** -11, 0x3c02], // tie → even mantissa 2
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // above the tie
    [2047 * 2 ** -10 + 2 ** -11, 0x4000], // mantissa carry into the exponent: 1.99902… + half an ulp (odd) → 2
  ];
  for (const [x, bits] of cases) {
    it(`${x} → ${hex(bits)}`, () => expect(hex(f32ToF16Bits(x))).toBe(hex(bits)));
  }
  it('NaN stays NaN', () => {
    expect(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN)))).toBe(true);
    expect(f32ToF16Bits(NaN) & 0x7c00).toBe(0x7c00);
  });
});

describe('float32 → bfloat16, round to nearest even', () => {
  const cases: [number, number][] = [
    [1, 0x3f80], [-0, 0x8000], [Math.PI, 0x4049], [-1.5, 0xbfc0],
    [1 + 2 ** -8, 0x3f80], // tie → even
    [1 + 3 * 2 ** -8, 0x3f82], // tie → even
    [f32(1 + 2 ** -8 + 2 ** -20), 0x3f81],
    [3.4028234663852886e38, 0x7f80], // FLT_MAX rounds up to inf
    [-Infinity, 0xff80], [1e-40, 0x0001], // float32 subnormal 1e-40 = 0x000116c2 → 0x0001
  ];
  for (const [x, bits] of cases) {
    it(`${x} → ${hex(bits)}`, () => expect(hex(f32ToBf16Bits(x))).toBe(hex(bits)));
  }
  it('NaN stays NaN (quiet)', () => expect(hex(f32ToBf16Bits(NaN))).toBe('0x7fc0'));
});

describe('16-bit → float32 is exact and inverts the narrowing', () => {
  it('known values', () => {
    expect(f16BitsToF32(0x0001)).toBe(2 ** -24);
    expect(f16BitsToF32(0x7bff)).toBe(65504);
    expect(f16BitsToF32(0xfc00)).toBe(-Infinity);
    expect(f16BitsToF32(0x3555)).toBe(0.333251953125);
    expect(Object.is(f16BitsToF32(0x8000), -0)).toBe(true);
    expect(bf16BitsToF32(0x4049)).toBe(3.140625);
    expect(bf16BitsToF32(0xff80)).toBe(-Infinity);
  });
  it('every non-NaN 16-bit pattern survives widening and narrowing, array and scalar paths alike', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const wide16 = toFloat32({ dtype: 'float16', dims: [65536], data: all }).data;
    const wideBf = toFloat32({ dtype: 'bfloat16', dims: [65536], data: all }).data;
    const back16 = fromFloat32({ dtype: 'float32', dims: [65536], data: wide16 }, 'float16').data as Uint16Array;
    const backBf = fromFloat32({ dtype: 'float32', dims: [65536], data: wideBf }, 'bfloat16').data as Uint16Array;
    let bad = 0;
    for (let h = 0; h < 65536; h++) {
      if (!Number.isNaN(wide16[h]) && (back16[h] !== h || f32ToF16Bits(wide16[h]!) !== h || wide16[h] !== f16BitsToF32(h))) bad++;
      if (!Number.isNaN(wideBf[h]) && (backBf[h] !== h || f32ToBf16Bits(wideBf[h]!) !== h || wideBf[h] !== bf16BitsToF32(h))) bad++;
      if (Number.isNaN(wide16[h]) !== Number.isNaN(f16BitsToF32(h))) bad++;
    }
    expect(bad).toBe(0);
  });
  it('other dtypes are refused with a message naming the tensor', () => {
    expect(() => toFloat32({ dtype: 'float64', dims: [1], data: new Float64Array(1) }, 'lm_head.weight')).toThrow(/lm_head.weight is float64/);
  });
});

const hasTorch = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;

describe.skipIf(!hasTorch)('against PyTorch (Debian python3-torch)', () => {
  it('narrowing of 200,000 float32 values (random bits, and values near float16 range limits) agrees bit for bit', () => {
    const rng = new Rng(7);
    const n = 200_000, bits = new Uint32Array(n);
    for (let i = 0; i < n; i++) bits[i] = Math.floor(rng.uniform() * 2 ** 32) >>> 0;
    const x = new Float32Array(bits.buffer);
    for (let i = 0; i < n / 2; i++) x[i] = (rng.uniform() - 0.5) * 2 ** (Math.floor(rng.uniform() * 48) - 30); // 2⁻³⁰ … 2¹⁷
    writeFileSync(join(tmp, 'x.f32'), x);
    const py = spawnSync('/usr/bin/python3', ['-c', `
import torch, numpy as np
x = torch.from_numpy(np.fromfile('${join(tmp, 'x.f32')}', dtype=np.float32))
x.to(torch.float16).view(torch.int16).numpy().tofile('${join(tmp, 'h.u16')}')
x.to(torch.bfloat16).view(torch.int16).numpy().tofile('${join(tmp, 'b.u16')}')
`], { encoding: 'utf8' });
    expect(py.status, py.stderr).toBe(0);
    const th = new Uint16Array(readFileSync(join(tmp, 'h.u16')).buffer.slice(0));
    const tb = new Uint16Array(readFileSync(join(tmp, 'b.u16')).buffer.slice(0));
    const ours16 = fromFloat32({ dtype: 'float32', dims: [n], data: x }, 'float16').data as Uint16Array;
    const oursBf = fromFloat32({ dtype: 'float32', dims: [n], data: x }, 'bfloat16').data as Uint16Array;
    let diff = 0;
    for (let i = 0; i < n; i++) {
      if (Number.isNaN(x[i])) continue; // NaN payloads differ between libraries; NaN-ness is tested above
      if (ours16[i] !== th[i] || oursBf[i] !== tb[i]) diff++;
    }
    expect(diff).toBe(0);
  });
});

describe('safetensors F16/BF16', () => {
  it('reads F16 and BF16 tensors as exact float32 and writes them on request', () => {
    const path = join(tmp, 'half.safetensors');
    saveSafetensors(path, new Map([
      ['h', { dtype: 'float16', dims: [2, 2], data: new Uint16Array([0x3c00, 0x0001, 0x7bff, 0xc000]) }],
      ['b', { dtype: 'bfloat16', dims: [3], data: new Uint16Array([0x3f80, 0x4049, 0xbfc0]) }],
    ]));
    const f = SafetensorsFile.open(path);
    try {
      expect(f.entry('h')!.dtype).toBe('float16');
      expect(Array.from(f.readFloat32('h').data)).toEqual([1, 2 ** -24, 65504, -2]);
      expect(Array.from(f.readFloat32('b').data)).toEqual([1, 3.140625, -1.5]);
    } finally {
      f.close();
    }
  });
  it('saveWeights stores float32 weights as bfloat16 or float16 (sharded too), read back rounded', () => {
    const w = new Map([
      ['a', { dtype: 'float32' as const, dims: [4], data: new Float32Array([1 + 3 * 2 ** -8, Math.PI, 65519, 2 ** -25]) }],
      ['c', { dtype: 'float32' as const, dims: [2], data: new Float32Array([0.1, -7]) }],
    ]);
    for (const dtype of ['bfloat16', 'float16'] as const) {
      const dir = join(tmp, dtype);
      mkdirSync(dir);
      saveWeights(dir, w, 8, dtype); // 8 bytes per shard: a and c in separate files
      const r = CheckpointReader.open(dir);
      try {
        expect(r.spec('a')!.dtype).toBe(dtype);
        const conv = dtype === 'bfloat16' ? (x: number) => bf16BitsToF32(f32ToBf16Bits(x)) : (x: number) => f16BitsToF32(f32ToF16Bits(x));
        expect(Array.from(r.readFloat32('a').data)).toEqual(Array.from(w.get('a')!.data, conv));
        expect(Array.from(r.readFloat32('c').data)).toEqual(Array.from(w.get('c')!.data, conv));
      } finally {
        r.close();
      }
    }
    expect(Array.from(loadSafetensors(join(tmp, 'bfloat16', 'model-00001-of-00002.safetensors')).tensors.get('a')!.data)).toEqual([0x3f82, 0x4049, 0x4780, 0x3300]);
  });
});
