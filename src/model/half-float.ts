/**
 * 16-bit floats of checkpoints (IEEE binary16 `float16`, Google's `bfloat16`) to and from float32.
 * Tensors hold them as raw Uint16Array bits (src/onnx/ir.ts). Widening to float32 is exact for
 * both. Narrowing rounds to nearest, ties to even, as PyTorch's `.to(torch.float16 | torch.bfloat16)`
 * does: float16 has subnormals (down to 2⁻²⁴) and overflows to ±inf from 65520 up; bfloat16 keeps
 * float32's exponent range (only FLT_MAX-sized values round up to inf). NaN stays NaN (quiet).
 */
import { type DType, type Tensor, numel } from '../onnx/ir.js';
import { GrowlmError } from '../util/errors.js';

export class DTypeError extends GrowlmError {}

/** The float formats weights can be stored in. */
export type StoreDType = 'float32' | 'float16' | 'bfloat16';
export const STORE_DTYPES: readonly StoreDType[] = ['float32', 'float16', 'bfloat16'];

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 → bfloat16 bits, round to nearest even. */
export function f32ToBf16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  if ((b & 0x7fffffff) > 0x7f800000) return ((b >>> 16) | 0x40) & 0xffff; // NaN: keep sign and payload top, quiet
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/** float32 → float16 bits, round to nearest even, with subnormals and overflow to inf. */
export function f32ToF16Bits(x: number): number {
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

/** float16 bits → float32 (exact): a table of all 65,536 values. */
function f16Values(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1, e = (h >>> 10) & 0x1f, m = h & 0x3ff;
    t[h] = e === 0 ? s * m * 2 ** -24 : e === 0x1f ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return (f16Table = t);
}

export function f16BitsToF32(h: number): number {
  return f16Values()[h & 0xffff]!;
}

export function bf16BitsToF32(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0]!;
}

/** A float32 copy of a float16, bfloat16 or float32 tensor (values exact); other dtypes are an error naming `what`. */
export function toFloat32(t: Tensor, what = 'tensor'): Tensor & { data: Float32Array } {
  const n = numel(t.dims);
  switch (t.dtype) {
    case 'float32': return t as Tensor & { data: Float32Array };
    case 'bfloat16': {
      const src = t.data as Uint16Array, out = new Uint32Array(n);
      for (let i = 0; i < n; i++) out[i] = src[i]! << 16;
      return { dtype: 'float32', dims: [...t.dims], data: new Float32Array(out.buffer) };
    }
    case 'float16': {
      const src = t.data as Uint16Array, out = new Float32Array(n), table = f16Values();
      for (let i = 0; i < n; i++) out[i] = table[src[i]!]!;
      return { dtype: 'float32', dims: [...t.dims], data: out };
    }
    default: throw new DTypeError(`${what} is ${t.dtype}; expected float32, float16 or bfloat16`);
  }
}

/** A float32 tensor stored as `dtype` (rounded to nearest even for the 16-bit formats). */
export function fromFloat32(t: Tensor, dtype: StoreDType): Tensor {
  if (t.dtype !== 'float32') throw new DTypeError(`cannot store a ${t.dtype} tensor as ${dtype}: expected float32`);
  if (dtype === 'float32') return t;
  const src = t.data as Float32Array, n = src.length, out = new Uint16Array(n);
  if (dtype === 'bfloat16') {
    const bits = new Uint32Array(src.buffer, src.byteOffset, n);
    for (let i = 0; i < n; i++) {
      const b = bits[i]!;
      out[i] = (b & 0x7fffffff) > 0x7f800000 ? (b >>> 16) | 0x40 : (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
    }
  } else {
    for (let i = 0; i < n; i++) out[i] = f32ToF16Bits(src[i]!);
  }
  return { dtype, dims: [...t.dims], data: out };
}

/** Whether a dtype is one `toFloat32` widens exactly. */
export function isStoreDType(d: DType | string): d is StoreDType {
  return (STORE_DTYPES as readonly string[]).includes(d);
}
