/**
 * safetensors read/write with strict header validation (the format of Hugging Face checkpoints):
 * u64 little-endian header length N, N bytes of JSON header, then the tensor bytes. Every tensor's
 * byte range must match its dtype and shape, ranges must cover the data exactly with no overlap or
 * hole, and the header must be a JSON object of known dtypes. Reading is per tensor (`open`) so a
 * checkpoint larger than memory can be processed one tensor at a time.
 */
import { GrowlmError } from '../util/errors.js';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { type DType, type Tensor, DTYPE_BYTES, numel, tensorBytes, typedArrayFor } from '../onnx/ir.js';
import { type AtomicWriter, writeFileAtomic } from '../util/atomic.js';
import { toFloat32 } from './half-float.js';

export class SafetensorsError extends GrowlmError {}

const ST_TO_DTYPE: Record<string, DType> = {
  F64: 'float64', F32: 'float32', F16: 'float16', BF16: 'bfloat16',
  I64: 'int64', I32: 'int32', I16: 'int16', I8: 'int8',
  U64: 'uint64', U32: 'uint32', U16: 'uint16', U8: 'uint8', BOOL: 'bool',
};
const DTYPE_TO_ST = Object.fromEntries(Object.entries(ST_TO_DTYPE).map(([k, v]) => [v, k])) as Record<DType, string>;

/** Largest header accepted (the reference implementation uses 100 MB). */
const MAX_HEADER = 100_000_000;

export interface TensorEntry {
  name: string;
  dtype: DType;
  shape: number[];
  /** Absolute byte offsets in the file. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  entries: TensorEntry[];
  metadata: Record<string, string>;
  dataStart: number;
}

/** Parse and validate a header given its bytes and the total file size. */
export function parseHeader(headerBytes: Uint8Array, fileSize: number, what = 'safetensors file'): SafetensorsHeader {
  const dataStart = 8 + headerBytes.byteLength;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch {
    throw new SafetensorsError(`${what}: header is not valid UTF-8 JSON`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new SafetensorsError(`${what}: header is not a JSON object`);
  const metadata: Record<string, string> = {};
  const entries: TensorEntry[] = [];
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SafetensorsError(`${what}: __metadata__ must be an object of strings`);
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== 'string') throw new SafetensorsError(`${what}: __metadata__.${k} must be a string`);
        metadata[k] = v;
      }
      continue;
    }
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== 'object' || e === null) throw new SafetensorsError(`${what}: tensor ${name}: entry is not an object`);
    const dtype = typeof e.dtype === 'string' ? ST_TO_DTYPE[e.dtype] : undefined;
    if (!dtype) throw new SafetensorsError(`${what}: tensor ${name}: unsupported dtype ${JSON.stringify(e.dtype)}`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new SafetensorsError(`${what}: tensor ${name}: bad shape ${JSON.stringify(e.shape)}`);
    }
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((o) => Number.isSafeInteger(o) && o >= 0) || off[0] > off[1]) {
      throw new SafetensorsError(`${what}: tensor ${name}: bad data_offsets ${JSON.stringify(off)}`);
    }
    const shape = e.shape as number[];
    const need = numel(shape) * DTYPE_BYTES[dtype];
    if (off[1] - off[0] !== need) {
      throw new SafetensorsError(`${what}: tensor ${name}: ${off[1] - off[0]} bytes for shape [${shape}] ${e.dtype as string} (needs ${need})`);
    }
    entries.push({ name, dtype, shape, begin: dataStart + off[0], end: dataStart + off[1] });
  }
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = dataStart;
  for (const e of sorted) {
    if (e.begin < at) throw new SafetensorsError(`${what}: tensor ${e.name} overlaps another tensor`);
    if (e.begin > at) throw new SafetensorsError(`${what}: hole in the data before tensor ${e.name}`);
    at = e.end;
  }
  if (at !== fileSize) {
    throw new SafetensorsError(at > fileSize
      ? `${what}: truncated (data ends at byte ${at}, file has ${fileSize})`
      : `${what}: ${fileSize - at} trailing bytes after the last tensor`);
  }
  return { entries, metadata, dataStart };
}

/** An open safetensors file: validated header, tensors read on demand. Call `close()` when done. */
export class SafetensorsFile {
  readonly header: SafetensorsHeader;
  private readonly byName: Map<string, TensorEntry>;

  private constructor(private readonly fd: number, readonly path: string, header: SafetensorsHeader) {
    this.header = header;
    this.byName = new Map(header.entries.map((e) => [e.name, e]));
  }

  static open(path: string): SafetensorsFile {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch {
      throw new SafetensorsError(`cannot open ${path}`);
    }
    try {
      const size = fstatSync(fd).size;
      if (size < 8) throw new SafetensorsError(`${path}: too short to be a safetensors file (${size} bytes)`);
      const lenBuf = Buffer.alloc(8);
      readSync(fd, lenBuf, 0, 8, 0);
      const n = lenBuf.readBigUInt64LE(0);
      if (n === 0n || n > BigInt(Math.min(MAX_HEADER, size - 8))) {
        throw new SafetensorsError(`${path}: bad header length ${n} (file has ${size} bytes)`);
      }
      const headerBytes = Buffer.alloc(Number(n));
      readSync(fd, headerBytes, 0, headerBytes.byteLength, 8);
      return new SafetensorsFile(fd, path, parseHeader(headerBytes, size, path));
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  names(): string[] {
    return this.header.entries.map((e) => e.name);
  }

  entry(name: string): TensorEntry | undefined {
    return this.byName.get(name);
  }

  read(name: string): Tensor {
    const e = this.byName.get(name);
    if (!e) throw new SafetensorsError(`${this.path}: no tensor named ${name}`);
    // read straight into the tensor's array (no zero-filled buffer and copy: 3–4× faster measured on a 100 MB tensor)
    const data = typedArrayFor(e.dtype, numel(e.shape));
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    let got = 0;
    while (got < bytes.byteLength) {
      const r = readSync(this.fd, bytes, got, bytes.byteLength - got, e.begin + got);
      if (r === 0) throw new SafetensorsError(`${this.path}: truncated while reading ${name}`);
      got += r;
    }
    return { dtype: e.dtype, dims: [...e.shape], data };
  }

  /** A tensor as float32: F32 as stored, F16 and BF16 widened exactly; other dtypes are an error. */
  readFloat32(name: string): Tensor & { data: Float32Array } {
    return toFloat32(this.read(name), `${this.path}: tensor ${name}`);
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Read every tensor of a file into memory. */
export function loadSafetensors(path: string): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  const f = SafetensorsFile.open(path);
  try {
    const tensors = new Map<string, Tensor>();
    for (const name of f.names()) tensors.set(name, f.read(name));
    return { tensors, metadata: f.header.metadata };
  } finally {
    f.close();
  }
}

/** The header bytes (length prefix included) for tensors written in the given order. */
export function encodeHeader(tensors: Iterable<[string, Pick<Tensor, 'dtype' | 'dims'>]>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === '__metadata__') throw new SafetensorsError('tensor name __metadata__ is reserved');
    const st = DTYPE_TO_ST[t.dtype];
    if (!st) throw new SafetensorsError(`tensor ${name}: dtype ${t.dtype} cannot be stored in safetensors`);
    const n = numel(t.dims) * DTYPE_BYTES[t.dtype];
    header[name] = { dtype: st, shape: t.dims, data_offsets: [offset, offset + n] };
    offset += n;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8); // align the data start to 8 bytes
  const body = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + body.byteLength);
  out.writeBigUInt64LE(BigInt(body.byteLength), 0);
  body.copy(out, 8);
  return out;
}

/** Write tensors (in iteration order) atomically. */
export function saveSafetensors(path: string, tensors: Map<string, Tensor>, metadata: Record<string, string> = { format: 'pt' }, write: AtomicWriter = writeFileAtomic): void {
  for (const [name, t] of tensors) {
    if (t.data.length !== numel(t.dims)) throw new SafetensorsError(`tensor ${name}: ${t.data.length} values for shape [${t.dims}]`);
  }
  const header = encodeHeader(tensors, metadata);
  write(path, (function* () {
    yield header;
    for (const t of tensors.values()) yield tensorBytes(t);
  })());
}
