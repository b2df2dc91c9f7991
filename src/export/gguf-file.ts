/**
 * The GGUF v3 container (llama.cpp's model file), written by hand: no maintained npm package writes
 * tensors. Layout, all little-endian: magic `GGUF`, version u32 = 3, tensor count u64, metadata
 * count u64; the metadata as (key string, type u32, value) with strings as u64 length + UTF-8 bytes
 * and arrays as (element type u32, count u64, elements); one info per tensor (name, n_dims u32,
 * dims u64 innermost first, ggml type u32, offset u64 into the data section); zero padding to the
 * alignment; the tensor data, each tensor starting at a multiple of the alignment.
 * docs/gguf.md describes what growlm puts in it.
 */
import { endianness } from 'node:os';
import { toFloat16Bits } from '../onnx/half.js';
import { GrowlmError } from '../util/errors.js';

/** A GGUF file that cannot be written as asked (a bad value, a duplicate key or tensor name). */
export class GgufError extends GrowlmError {}

export const GGUF_VERSION = 3;
/** llama.cpp's default; written as `general.alignment` too. */
export const GGUF_ALIGNMENT = 32;

/** Metadata value types (gguf.h `enum gguf_type`). */
const T = { u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12 } as const;

export type GgufScalarType = 'u32' | 'i32' | 'f32' | 'bool' | 'string' | 'u64';
type Scalar<K extends GgufScalarType> = K extends 'bool' ? boolean : K extends 'string' ? string : K extends 'u64' ? bigint : number;

export type GgufValue =
  | { [K in GgufScalarType]: { type: K; value: Scalar<K> } }[GgufScalarType]
  | { [K in GgufScalarType]: { type: 'array'; of: K; value: Scalar<K>[] } }[GgufScalarType];

export const gguf = {
  u32: (value: number): GgufValue => ({ type: 'u32', value }),
  i32: (value: number): GgufValue => ({ type: 'i32', value }),
  f32: (value: number): GgufValue => ({ type: 'f32', value }),
  bool: (value: boolean): GgufValue => ({ type: 'bool', value }),
  str: (value: string): GgufValue => ({ type: 'string', value }),
  strings: (value: string[]): GgufValue => ({ type: 'array', of: 'string', value }),
  i32s: (value: number[]): GgufValue => ({ type: 'array', of: 'i32', value }),
};

/** ggml tensor types growlm writes (ggml.h `enum ggml_type`). */
export const GGML_TYPE = { f32: 0, f16: 1 } as const;
export type GgmlType = keyof typeof GGML_TYPE;

export interface GgufTensor {
  name: string;
  /** Row-major shape, outermost first (as PyTorch and safetensors give it); written innermost first. */
  shape: number[];
  type: GgmlType;
  data: Float32Array;
}

// ------------------------------------------------------------------ float16

export function toF16(data: Float32Array): Uint16Array {
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = toFloat16Bits(data[i]!);
  return out;
}

// ------------------------------------------------------------------ encoding

/** A growable little-endian byte buffer. */
class Bytes {
  private buf = Buffer.alloc(1 << 16);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  u32(v: number): void { this.room(4); this.buf.writeUInt32LE(v, this.length); this.length += 4; }
  i32(v: number): void { this.room(4); this.buf.writeInt32LE(v, this.length); this.length += 4; }
  f32(v: number): void { this.room(4); this.buf.writeFloatLE(v, this.length); this.length += 4; }
  u64(v: bigint | number): void { this.room(8); this.buf.writeBigUInt64LE(BigInt(v), this.length); this.length += 8; }
  u8(v: number): void { this.room(1); this.buf[this.length++] = v; }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.room(b.length);
    b.copy(this.buf, this.length);
    this.length += b.length;
  }
  zeros(n: number): void { this.room(n); this.buf.fill(0, this.length, this.length + n); this.length += n; }
  bytes(): Buffer { return this.buf.subarray(0, this.length); }
}

const U32_MAX = 2 ** 32 - 1;

function writeScalar(out: Bytes, key: string, type: GgufScalarType, v: unknown): void {
  const bad = () => new GgufError(`GGUF metadata ${key}: ${String(v)} is not a valid ${type}`);
  switch (type) {
    case 'u32': if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > U32_MAX) throw bad(); out.u32(v as number); break;
    case 'i32': if (!Number.isInteger(v) || (v as number) < -(2 ** 31) || (v as number) >= 2 ** 31) throw bad(); out.i32(v as number); break;
    case 'f32': if (typeof v !== 'number' || !Number.isFinite(Math.fround(v))) throw bad(); out.f32(v); break;
    case 'bool': if (typeof v !== 'boolean') throw bad(); out.u8(v ? 1 : 0); break;
    case 'string': if (typeof v !== 'string') throw bad(); out.str(v); break;
    case 'u64': if (typeof v !== 'bigint' || v < 0n || v >= 2n ** 64n) throw bad(); out.u64(v); break;
  }
}

/** Header, metadata and tensor infos, padded to the alignment; and each tensor's offset in the data section. */
export function encodeGgufHeader(metadata: [string, GgufValue][], tensors: Pick<GgufTensor, 'name' | 'shape' | 'type'>[], alignment = GGUF_ALIGNMENT): { header: Buffer; offsets: number[]; dataBytes: number } {
  const keys = new Set<string>();
  for (const [k] of metadata) {
    if (keys.has(k)) throw new GgufError(`GGUF metadata key ${k} appears twice`);
    keys.add(k);
  }
  const names = new Set<string>();
  for (const t of tensors) {
    if (names.has(t.name)) throw new GgufError(`GGUF tensor ${t.name} appears twice`);
    if (Buffer.byteLength(t.name, 'utf8') >= 64) throw new GgufError(`GGUF tensor name ${t.name} is longer than llama.cpp's 63 bytes`);
    if (t.shape.length < 1 || t.shape.length > 4 || !t.shape.every((d) => Number.isInteger(d) && d > 0)) throw new GgufError(`GGUF tensor ${t.name}: shape [${t.shape}] must have 1–4 positive dimensions`);
    names.add(t.name);
  }
  const out = new Bytes();
  out.u32(0x46554747); // "GGUF"
  out.u32(GGUF_VERSION);
  out.u64(tensors.length);
  out.u64(metadata.length);
  for (const [key, v] of metadata) {
    out.str(key);
    if (v.type === 'array') {
      out.u32(T.array);
      out.u32(T[v.of]);
      out.u64(v.value.length);
      for (const x of v.value) writeScalar(out, key, v.of, x);
    } else {
      out.u32(T[v.type]);
      writeScalar(out, key, v.type, v.value);
    }
  }
  const offsets: number[] = [];
  let offset = 0;
  for (const t of tensors) {
    out.str(t.name);
    out.u32(t.shape.length);
    for (const d of [...t.shape].reverse()) out.u64(d);
    out.u32(GGML_TYPE[t.type]);
    out.u64(offset);
    offsets.push(offset);
    offset = alignUp(offset + tensorBytes(t), alignment);
  }
  out.zeros(alignUp(out.length, alignment) - out.length);
  return { header: out.bytes(), offsets, dataBytes: offset };
}

const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;
const tensorBytes = (t: Pick<GgufTensor, 'shape' | 'type'>) => t.shape.reduce((a, b) => a * b, 1) * (t.type === 'f32' ? 4 : 2);

/**
 * The whole file as chunks, in order (a tensor is converted only when its chunk is reached, so an
 * f16 file never holds a second copy of every weight).
 */
export function* ggufChunks(metadata: [string, GgufValue][], tensors: GgufTensor[], alignment = GGUF_ALIGNMENT): Generator<Uint8Array> {
  if (endianness() !== 'LE') throw new GgufError('GGUF files are written little-endian; this machine is big-endian');
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== n) throw new GgufError(`GGUF tensor ${t.name}: ${t.data.length} values for shape [${t.shape}]`);
  }
  const { header } = encodeGgufHeader(metadata, tensors, alignment);
  yield header;
  for (const t of tensors) {
    const bytes = t.type === 'f32' ? t.data : toF16(t.data);
    yield new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const pad = alignUp(bytes.byteLength, alignment) - bytes.byteLength;
    if (pad > 0) yield new Uint8Array(pad);
  }
}
