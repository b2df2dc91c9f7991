/**
 * IR Tensor ⇄ onnxruntime Tensor. Both sides hold dense little-endian typed arrays, so the data is
 * shared, not copied, whenever the array types agree (bool is Uint8Array and float16 is Uint16Array
 * bits on both sides).
 */
import * as ort from 'onnxruntime-node';
import type { DType, Tensor, TensorData } from '../onnx/ir.js';

type OrtType = 'float32' | 'float64' | 'float16' | 'int8' | 'int16' | 'int32' | 'int64'
  | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'bool';

type ArrayCtor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => TensorData;

/** The IR dtypes onnxruntime's JS Tensor can hold (no bfloat16, no strings), with their array type. */
const ARRAYS: Record<OrtType, ArrayCtor> = {
  float32: Float32Array, float64: Float64Array, float16: Uint16Array,
  int8: Int8Array, int16: Int16Array, int32: Int32Array, int64: BigInt64Array,
  uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array, uint64: BigUint64Array, bool: Uint8Array,
};

function isOrtType(t: string): t is OrtType {
  return Object.hasOwn(ARRAYS, t);
}

/** `data` as the array type `dtype` uses: itself when it already is one, otherwise a view (never a copy). */
function asArray(dtype: OrtType, data: ArrayBufferView): TensorData {
  const Ctor = ARRAYS[dtype];
  if (data instanceof Ctor) return data;
  const width = (Ctor as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
  // e.g. a Float16Array (where the runtime has one) viewed as Uint16Array bits
  if ((data as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT !== width) {
    throw new Error(`${dtype} tensor data is a ${data.constructor.name}, expected ${Ctor.name}`);
  }
  return new Ctor(data.buffer, data.byteOffset, data.byteLength / width);
}

export function toOrtTensor(t: Tensor): ort.Tensor {
  const { dtype } = t;
  if (!isOrtType(dtype)) throw new Error(`onnxruntime has no ${dtype} tensors`);
  return new ort.Tensor(dtype, asArray(dtype, t.data) as ort.Tensor.DataTypeMap[OrtType], t.dims);
}

export function fromOrtTensor(t: ort.Tensor): Tensor {
  const dtype: string = t.type;
  if (!isOrtType(dtype)) throw new Error(`unsupported onnxruntime tensor type ${dtype}`);
  if (t.location !== 'cpu') throw new Error(`tensor data is on ${t.location}; download it first (getData())`);
  return { dtype: dtype satisfies DType, dims: [...t.dims], data: asArray(dtype, t.data as ArrayBufferView) };
}
