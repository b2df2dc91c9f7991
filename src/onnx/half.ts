/**
 * float16 and bfloat16 values as the 16-bit patterns ONNX tensors hold (IR Tensor data is a
 * Uint16Array for both), and float tensors of any float dtype from numbers.
 */
import type { DType, Tensor } from './ir.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE binary16 bits of `x`, rounded to nearest even; overflow gives ±inf, NaN stays NaN. */
export function toFloat16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal
    const m = mant | 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = m & ((1 << shift) - 1);
    let r = m >>> shift;
    if (rest > half || (rest === half && (r & 1))) r++;
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (r & 1))) r++; // may carry into the exponent (up to inf): correct
  return sign | r;
}

/** The number a binary16 bit pattern holds. */
export function fromFloat16Bits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** bfloat16 bits of `x` (the top half of its float32 bits), rounded to nearest even. */
export function toBfloat16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  if ((bits & 0x7f800000) === 0x7f800000 && bits & 0x7fffff) return (bits >>> 16) | 0x40; // NaN stays NaN
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

export function fromBfloat16Bits(h: number): number {
  u32[0] = h << 16;
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
