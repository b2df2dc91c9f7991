/**
 * The in-memory ONNX IR growlm works on: plain objects, no protobuf types. Builders emit it,
 * passes and autodiff rewrite it, `serialize.ts` converts it to and from ModelProto bytes.
 */

export type DType =
  | 'float32' | 'float16' | 'bfloat16' | 'float64'
  | 'int8' | 'int16' | 'int32' | 'int64'
  | 'uint8' | 'uint16' | 'uint32' | 'uint64'
  | 'bool' | 'string' | 'other';

/** ONNX TensorProto.DataType codes. */
export const DTYPE_CODE: Record<Exclude<DType, 'other'>, number> = {
  float32: 1, uint8: 2, int8: 3, uint16: 4, int16: 5, int32: 6, int64: 7, string: 8, bool: 9,
  float16: 10, float64: 11, uint32: 12, uint64: 13, bfloat16: 16,
};

const CODE_DTYPE = new Map<number, DType>(Object.entries(DTYPE_CODE).map(([k, v]) => [v, k as DType]));

export function dtypeFromCode(code: number): DType {
  return CODE_DTYPE.get(code) ?? 'other';
}

export function dtypeCode(dtype: DType): number {
  if (dtype === 'other') throw new Error('cannot encode dtype "other"');
  return DTYPE_CODE[dtype];
}

/** Bytes per element (0 for variable-size types). */
export const DTYPE_BYTES: Record<DType, number> = {
  float32: 4, float16: 2, bfloat16: 2, float64: 8, int8: 1, int16: 2, int32: 4, int64: 8,
  uint8: 1, uint16: 2, uint32: 4, uint64: 8, bool: 1, string: 0, other: 0,
};

export type TensorData =
  | Float32Array | Float64Array | Int8Array | Int16Array | Int32Array | BigInt64Array
  | Uint8Array | Uint16Array | Uint32Array | BigUint64Array;

/** A dense tensor. float16/bfloat16 are held as raw Uint16Array bits; bool as Uint8Array. */
export interface Tensor {
  dtype: DType;
  dims: number[];
  data: TensorData;
}

/** A dimension is a fixed size or a symbolic name (e.g. 'batch'); null when unknown. */
export type Dim = number | string | null;

export interface ValueInfo {
  name: string;
  dtype: DType;
  /** null: rank unknown. */
  shape: Dim[] | null;
}

export type AttrValue =
  | { type: 'float'; value: number }
  | { type: 'int'; value: number }
  | { type: 'string'; value: string }
  | { type: 'floats'; value: number[] }
  | { type: 'ints'; value: number[] }
  | { type: 'strings'; value: string[] }
  | { type: 'tensor'; value: Tensor }
  | { type: 'graph'; value: Graph }
  | { type: 'other'; value: unknown };

/** onnxruntime's contrib-op domain (fused kernels growlm's runtime graphs use). */
export const MS_DOMAIN = 'com.microsoft';

export interface Node {
  op: string;
  /** '' is the default ONNX domain. */
  domain: string;
  name: string;
  /** '' marks an omitted optional input. */
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttrValue>;
}

/** The key of a node's op in per-op rule tables: the op type, prefixed with its domain outside the default one ('com.microsoft.FusedMatMul'). */
export function opKey(n: Pick<Node, 'op' | 'domain'>): string {
  return n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.op}` : n.op;
}

export interface Graph {
  name: string;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  nodes: Node[];
  initializers: Map<string, Tensor>;
  /** Shape annotations of intermediate values, when a producer recorded them. */
  valueInfo: ValueInfo[];
}

export interface Model {
  irVersion: number;
  /** domain → opset version; '' is the default domain. */
  opsets: Record<string, number>;
  producerName: string;
  producerVersion: string;
  graph: Graph;
  metadata: Record<string, string>;
}

export function numel(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

export function typedArrayFor(dtype: DType, length: number): TensorData {
  switch (dtype) {
    case 'float32': return new Float32Array(length);
    case 'float64': return new Float64Array(length);
    case 'float16': case 'bfloat16': case 'uint16': return new Uint16Array(length);
    case 'int8': return new Int8Array(length);
    case 'int16': return new Int16Array(length);
    case 'int32': return new Int32Array(length);
    case 'int64': return new BigInt64Array(length);
    case 'uint8': case 'bool': return new Uint8Array(length);
    case 'uint32': return new Uint32Array(length);
    case 'uint64': return new BigUint64Array(length);
    default: throw new Error(`no typed array for dtype ${dtype}`);
  }
}

/** A tensor over a copy of `bytes` (little-endian, as ONNX raw_data and safetensors store them). */
export function tensorFromBytes(dtype: DType, dims: number[], bytes: Uint8Array): Tensor {
  const n = numel(dims);
  const width = DTYPE_BYTES[dtype];
  if (width === 0) throw new Error(`dtype ${dtype} has no fixed width`);
  if (bytes.byteLength !== n * width) {
    throw new Error(`tensor of shape [${dims}] ${dtype} needs ${n * width} bytes, got ${bytes.byteLength}`);
  }
  const data = typedArrayFor(dtype, n);
  new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(bytes);
  return { dtype, dims: [...dims], data };
}

export function tensorBytes(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

export function emptyGraph(name = 'main'): Graph {
  return { name, inputs: [], outputs: [], nodes: [], initializers: new Map(), valueInfo: [] };
}
