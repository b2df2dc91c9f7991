/**
 * float16 and bfloat16 values as the 16-bit patterns ONNX tensors hold (IR Tensor data is a
 * Uint16Array for both), and float tensors of any float dtype from numbers.
 */
import type { DType, Tensor } from './ir.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * IEEE binary16 bits of `x`, rounded to nearest, ties to even (numpy's and PyTorch's float16 cast):
 * subnormals kept, overflow to ±inf, NaN stays NaN (quiet, top of its payload kept).
 */
export function toFloat16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 112; // the float16 biased exponent (127 − 15)
  if (e >= 0x1f) return sign | 0x7c00;
  if (e >= 1) {
    let h = (e << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++; // a carry into the exponent is right, up to inf
    return sign | h;
  }
  // subnormal float16: value = h · 2⁻²⁴, h = m >> (14 − e) with the implicit bit in m
  const shift = 14 - e;
  if (shift > 24) return sign; // below half the smallest subnormal (float32 subnormals too)
  const m = mant | 0x800000;
  let h = m >>> shift;
  const rest = m & ((1 << shift) - 1), half = 1 << (shift - 1);
  if (rest > half || (rest === half && (h & 1))) h++;
  return sign | h;
}

let f16Table: Float32Array | undefined;

/** The values of all 65,536 binary16 bit patterns (exact in float32). */
export function float16Values(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1, e = (h >>> 10) & 0x1f, m = h & 0x3ff;
    t[h] = e === 0 ? s * m * 2 ** -24 : e === 0x1f ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return (f16Table = t);
}

/** The number a binary16 bit pattern holds. */
export function fromFloat16Bits(h: number): number {
  return float16Values()[h & 0xffff]!;
}

/** bfloat16 bits of `x` (the top half of its float32 bits), rounded to nearest even; NaN stays NaN (quiet). */
export function toBfloat16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  if ((b & 0x7fffffff) > 0x7f800000) return ((b >>> 16) | 0x40) & 0xffff;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

export function fromBfloat16Bits(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0]!;
}

export type FloatDType = 'float16' | 'bfloat16' | 'float32' | 'float64';

export const isFloatDType = (d: DType): d is FloatDType => d === 'float16' || d === 'bfloat16' || d === 'float32' || d === 'float64';

/** A tensor of float dtype `dtype` holding `values` (rounded to it). */
export function floatTensor(dtype: FloatDType, dims: number[], values: ArrayLike<number>): Tensor {
  switch (dtype) {
    case 'float64': return { dtype, dims, data: Float64Array.from(values) };
    case 'float32': return { dtype, dims, data: Float32Array.from(values) };
    case 'float16': return { dtype, dims, data: Uint16Array.from(values, toFloat16Bits) };
    case 'bfloat16': return { dtype, dims, data: Uint16Array.from(values, toBfloat16Bits) };
  }
}
