/**
 * 16-bit floats of checkpoints (IEEE binary16 `float16`, Google's `bfloat16`) to and from float32.
 * Tensors hold them as raw Uint16Array bits (src/onnx/ir.ts). Widening to float32 is exact for
 * both. Narrowing rounds to nearest, ties to even, as PyTorch's `.to(torch.float16 | torch.bfloat16)`
 * does: float16 has subnormals (down to 2⁻²⁴) and overflows to ±inf from 65520 up; bfloat16 keeps
 * float32's exponent range (only FLT_MAX-sized values round up to inf). NaN stays NaN (quiet).
 */
import { float16Values, toFloat16Bits } from '../onnx/half.js';
import { type DType, type Tensor, numel } from '../onnx/ir.js';
import { GrowlmError } from '../util/errors.js';

export class DTypeError extends GrowlmError {}

/** The float formats weights can be stored in. */
export type StoreDType = 'float32' | 'float16' | 'bfloat16';
export const STORE_DTYPES: readonly StoreDType[] = ['float32', 'float16', 'bfloat16'];

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
      const src = t.data as Uint16Array, out = new Float32Array(n), table = float16Values();
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
    for (let i = 0; i < n; i++) out[i] = toFloat16Bits(src[i]!);
  }
  return { dtype, dims: [...t.dims], data: out };
}

/** Whether a dtype is one `toFloat32` widens exactly. */
export function isStoreDType(d: DType | string): d is StoreDType {
  return (STORE_DTYPES as readonly string[]).includes(d);
}
