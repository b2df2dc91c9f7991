/**
 * IR ⇄ ONNX protobuf. Initializers are written as raw_data; tensors past a size threshold can go to
 * ONNX external data (needed above protobuf's 2 GB limit). Loading accepts every tensor encoding
 * of the spec (raw_data, typed *_data fields, external data).
 */
import { GrowlmError } from '../util/errors.js';
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize } from 'node:path';
import protobuf from 'protobufjs/minimal.js';
import { onnx } from './proto.js';
import {
  type AttrValue, type DType, type Dim, type Graph, type Model, type Node, type Tensor, type TensorData,
  type ValueInfo, DTYPE_BYTES, dtypeCode, dtypeFromCode, numel, tensorBytes, tensorFromBytes, typedArrayFor,
} from './ir.js';

type LongLike = number | { toNumber(): number; toString(): string };

function num(v: LongLike | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

function big(v: LongLike): bigint {
  return typeof v === 'number' ? BigInt(v) : BigInt(v.toString());
}

/** A malformed or unsupported ONNX file. */
export class OnnxFormatError extends GrowlmError {}

// ---------------------------------------------------------------- encoding

export interface EncodeOptions {
  /**
   * Move initializers of at least this many bytes to an external data file (named `location`,
   * resolved next to the .onnx file). Off when undefined.
   */
  externalThreshold?: number;
  location?: string;
}

export interface Encoded {
  /** The ModelProto bytes. */
  model: Uint8Array;
  /** The external data file contents, when any initializer went there. */
  external?: { location: string; data: Uint8Array };
}

function valueInfoProto(v: ValueInfo): onnx.ValueInfoProto.$Properties {
  const tensorType: onnx.TypeProto.Tensor.$Properties = { elem_type: dtypeCode(v.dtype) };
  if (v.shape) {
    tensorType.shape = {
      dim: v.shape.map((d) => (typeof d === 'number' ? { dim_value: d } : typeof d === 'string' ? { dim_param: d } : {})),
    };
  }
  return { name: v.name, type: { tensor_type: tensorType } };
}

function tensorProto(name: string, t: Tensor): onnx.TensorProto.$Properties {
  if (t.dtype === 'string' || t.dtype === 'other') throw new OnnxFormatError(`tensor ${name}: ${t.dtype} tensors cannot be re-encoded`);
  return { name, dims: t.dims, data_type: dtypeCode(t.dtype), raw_data: tensorBytes(t) };
}

type Int64 = NonNullable<onnx.AttributeProto.$Properties['i']>;
/** IR ints are JS numbers, so INT64_MAX (the usual "to the end" sentinel) decodes as 2^63, which protobufjs would write as INT64_MIN. */
const INT64_MAX = new protobuf.util.LongBits(0xffffffff, 0x7fffffff).toLong() as unknown as Int64;
function int64(v: number): Int64 {
  return v >= 2 ** 63 ? INT64_MAX : v;
}

function attrProto(name: string, a: AttrValue): onnx.AttributeProto.$Properties {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case 'float': return { name, type: T.FLOAT, f: a.value };
    case 'int': return { name, type: T.INT, i: int64(a.value) };
    case 'string': return { name, type: T.STRING, s: new TextEncoder().encode(a.value) };
    case 'floats': return { name, type: T.FLOATS, floats: a.value };
    case 'ints': return { name, type: T.INTS, ints: a.value.map(int64) };
    case 'strings': return { name, type: T.STRINGS, strings: a.value.map((s) => new TextEncoder().encode(s)) };
    case 'tensor': return { name, type: T.TENSOR, t: tensorProto('', a.value) };
    case 'graph': return { name, type: T.GRAPH, g: graphProto(a.value, undefined) };
    default: throw new OnnxFormatError(`cannot encode attribute ${name} of unknown type`);
  }
}

interface ExternalSink {
  threshold: number;
  location: string;
  chunks: Uint8Array[];
  offset: number;
}

function graphProto(g: Graph, sink: ExternalSink | undefined): onnx.GraphProto.$Properties {
  const initializer: onnx.TensorProto.$Properties[] = [];
  for (const [name, t] of g.initializers) {
    const bytes = tensorBytes(t);
    if (sink && bytes.byteLength >= sink.threshold) {
      const pad = (64 - (sink.offset % 64)) % 64; // keep tensors aligned for mmap-friendly readers
      if (pad) sink.chunks.push(new Uint8Array(pad));
      sink.offset += pad;
      initializer.push({
        name, dims: t.dims, data_type: dtypeCode(t.dtype),
        data_location: onnx.TensorProto.DataLocation.EXTERNAL,
        external_data: [
          { key: 'location', value: sink.location },
          { key: 'offset', value: String(sink.offset) },
          { key: 'length', value: String(bytes.byteLength) },
        ],
      });
      sink.chunks.push(bytes);
      sink.offset += bytes.byteLength;
    } else {
      initializer.push(tensorProto(name, t));
    }
  }
  return {
    name: g.name,
    node: g.nodes.map((n) => ({
      op_type: n.op, domain: n.domain, name: n.name, input: n.inputs, output: n.outputs,
      attribute: Object.entries(n.attrs).map(([k, v]) => attrProto(k, v)),
    })),
    input: g.inputs.map(valueInfoProto),
    output: g.outputs.map(valueInfoProto),
    value_info: g.valueInfo.map(valueInfoProto),
    initializer,
  };
}

export function encodeModel(m: Model, opts: EncodeOptions = {}): Encoded {
  const sink: ExternalSink | undefined = opts.externalThreshold !== undefined
    ? { threshold: opts.externalThreshold, location: opts.location ?? 'model.onnx.data', chunks: [], offset: 0 }
    : undefined;
  const proto: onnx.ModelProto.$Properties = {
    ir_version: m.irVersion,
    producer_name: m.producerName,
    producer_version: m.producerVersion,
    opset_import: Object.entries(m.opsets).map(([domain, version]) => ({ domain, version })),
    metadata_props: Object.entries(m.metadata).map(([key, value]) => ({ key, value })),
    graph: graphProto(m.graph, sink),
  };
  const model = onnx.ModelProto.encode(proto).finish();
  if (!sink || sink.chunks.length === 0) return { model };
  const data = new Uint8Array(sink.offset);
  let at = 0;
  for (const c of sink.chunks) {
    data.set(c, at);
    at += c.byteLength;
  }
  return { model, external: { location: sink.location, data } };
}

// ---------------------------------------------------------------- decoding

export interface DecodeOptions {
  /** Folder that external data locations are relative to. */
  baseDir?: string;
  /** Do not read external data (tensors come back with empty data); enough for inspecting. */
  skipExternalData?: boolean;
  /** External data supplied in memory, by location. */
  externalData?: Record<string, Uint8Array>;
}

function decodeValueInfo(v: onnx.ValueInfoProto.$Properties): ValueInfo {
  const tt = v.type?.tensor_type;
  const shape: Dim[] | null = tt?.shape
    ? (tt.shape.dim ?? []).map((d) => (d.dim_param ? d.dim_param : d.dim_value !== undefined && d.dim_value !== null ? num(d.dim_value) : null))
    : null;
  return { name: v.name ?? '', dtype: tt ? dtypeFromCode(tt.elem_type ?? 0) : 'other', shape };
}

function readExternal(t: onnx.TensorProto.$Properties, opts: DecodeOptions, nbytes: number): Uint8Array | null {
  const kv: Record<string, string> = Object.fromEntries((t.external_data ?? []).map((e) => [e.key ?? '', e.value ?? '']));
  const location = kv.location;
  if (!location) throw new OnnxFormatError(`tensor ${t.name}: external data without a location`);
  if (opts.skipExternalData) return null;
  const offset = Number(kv.offset ?? 0);
  const length = kv.length !== undefined ? Number(kv.length) : nbytes;
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new OnnxFormatError(`tensor ${t.name}: bad external data offset/length`);
  }
  let file = opts.externalData?.[location];
  if (!file) {
    if (isAbsolute(location) || normalize(location).startsWith('..')) {
      throw new OnnxFormatError(`tensor ${t.name}: external data location "${location}" escapes the model folder`);
    }
    const path = join(opts.baseDir ?? '.', location);
    try {
      if (statSync(path).size < offset + length) throw new OnnxFormatError(`tensor ${t.name}: external data file ${location} is too short`);
      file = readFileSync(path);
    } catch (e) {
      if (e instanceof OnnxFormatError) throw e;
      throw new OnnxFormatError(`tensor ${t.name}: cannot read external data file ${location}`);
    }
  }
  if (offset + length > file.byteLength) throw new OnnxFormatError(`tensor ${t.name}: external data beyond the end of ${location}`);
  return file.subarray(offset, offset + length);
}

function fromField(dtype: DType, n: number, t: onnx.TensorProto.$Properties): TensorData {
  let src: ArrayLike<number | LongLike>;
  switch (dtype) {
    case 'float32': src = t.float_data ?? []; break;
    case 'float64': src = t.double_data ?? []; break;
    case 'int64': src = t.int64_data ?? []; break;
    case 'uint32': case 'uint64': src = t.uint64_data ?? []; break;
    default: src = t.int32_data ?? []; // int8/16/32, uint8/16, bool, float16/bfloat16 bits
  }
  if (src.length !== n) throw new OnnxFormatError(`tensor ${t.name}: ${src.length} values for ${n} elements`);
  const out = typedArrayFor(dtype, n); // allocated only once the values are known to be there
  for (let i = 0; i < n; i++) {
    const v = src[i]!;
    if (out instanceof BigInt64Array || out instanceof BigUint64Array) (out as BigInt64Array)[i] = big(v as LongLike);
    else (out as Float32Array)[i] = num(v as LongLike);
  }
  return out;
}

export function decodeTensor(t: onnx.TensorProto.$Properties, opts: DecodeOptions = {}): Tensor & { external?: boolean } {
  const dtype = dtypeFromCode(t.data_type ?? 0);
  const dims = (t.dims ?? []).map((d) => num(d));
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new OnnxFormatError(`tensor ${t.name}: bad dims [${dims}]`);
  const n = numel(dims);
  if (!Number.isSafeInteger(n)) throw new OnnxFormatError(`tensor ${t.name}: dims [${dims}] have too many elements`);
  if (dtype === 'string' || dtype === 'other') {
    return { dtype, dims, data: new Uint8Array(0) };
  }
  const nbytes = n * DTYPE_BYTES[dtype];
  if (t.data_location === onnx.TensorProto.DataLocation.EXTERNAL) {
    const bytes = readExternal(t, opts, nbytes);
    if (!bytes) return { dtype, dims, data: typedArrayFor(dtype, 0), external: true };
    if (bytes.byteLength !== nbytes) throw new OnnxFormatError(`tensor ${t.name}: external data has ${bytes.byteLength} bytes, shape needs ${nbytes}`);
    return tensorFromBytes(dtype, dims, bytes);
  }
  if (t.raw_data && t.raw_data.byteLength > 0) {
    if (t.raw_data.byteLength !== nbytes) throw new OnnxFormatError(`tensor ${t.name}: raw_data has ${t.raw_data.byteLength} bytes, shape [${dims}] ${dtype} needs ${nbytes}`);
    return tensorFromBytes(dtype, dims, t.raw_data);
  }
  return { dtype, dims, data: fromField(dtype, n, t) };
}

function decodeAttr(a: onnx.AttributeProto.$Properties, opts: DecodeOptions): AttrValue {
  const T = onnx.AttributeProto.AttributeType;
  const dec = new TextDecoder();
  switch (a.type) {
    case T.FLOAT: return { type: 'float', value: a.f ?? 0 };
    case T.INT: return { type: 'int', value: num(a.i) };
    case T.STRING: return { type: 'string', value: dec.decode(a.s ?? new Uint8Array()) };
    case T.FLOATS: return { type: 'floats', value: [...(a.floats ?? [])] };
    case T.INTS: return { type: 'ints', value: (a.ints ?? []).map((x) => num(x)) };
    case T.STRINGS: return { type: 'strings', value: (a.strings ?? []).map((s) => dec.decode(s)) };
    case T.TENSOR:
      if (!a.t) throw new OnnxFormatError(`attribute ${a.name}: a tensor attribute without its tensor`);
      return { type: 'tensor', value: decodeTensor(a.t, opts) };
    case T.GRAPH:
      if (!a.g) throw new OnnxFormatError(`attribute ${a.name}: a graph attribute without its graph`);
      return { type: 'graph', value: decodeGraph(a.g, opts) };
    default: return { type: 'other', value: a };
  }
}

export function decodeGraph(g: onnx.GraphProto.$Properties, opts: DecodeOptions = {}): Graph {
  const initializers = new Map<string, Tensor>();
  for (const t of g.initializer ?? []) initializers.set(t.name ?? '', decodeTensor(t, opts));
  const nodes: Node[] = (g.node ?? []).map((n) => ({
    op: n.op_type ?? '', domain: n.domain ?? '', name: n.name ?? '', inputs: [...(n.input ?? [])], outputs: [...(n.output ?? [])],
    attrs: Object.fromEntries((n.attribute ?? []).map((a) => [a.name ?? '', decodeAttr(a, opts)])),
  }));
  return {
    name: g.name ?? '',
    inputs: (g.input ?? []).map(decodeValueInfo),
    outputs: (g.output ?? []).map(decodeValueInfo),
    valueInfo: (g.value_info ?? []).map(decodeValueInfo),
    nodes,
    initializers,
  };
}

export function decodeModel(bytes: Uint8Array, opts: DecodeOptions = {}): Model {
  let proto: onnx.ModelProto;
  try {
    proto = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new OnnxFormatError(`not a valid ONNX model (${(e as Error).message})`);
  }
  if (!proto.graph) throw new OnnxFormatError('not a valid ONNX model (no graph)');
  const irVersion = num(proto.ir_version);
  if (irVersion <= 0) throw new OnnxFormatError('not a valid ONNX model (no ir_version)');
  const opsets: Record<string, number> = {};
  for (const o of proto.opset_import) opsets[o.domain ?? ''] = num(o.version);
  return {
    irVersion,
    opsets,
    producerName: proto.producer_name ?? '',
    producerVersion: proto.producer_version ?? '',
    metadata: Object.fromEntries(proto.metadata_props.map((e) => [e.key ?? '', e.value ?? ''])),
    graph: decodeGraph(proto.graph, opts),
  };
}

export function loadModelFile(path: string, opts: Omit<DecodeOptions, 'baseDir'> = {}): Model {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch {
    throw new OnnxFormatError(`cannot read ${path}`);
  }
  return decodeModel(bytes, { ...opts, baseDir: dirname(path) });
}
