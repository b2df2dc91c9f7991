/**
 * Weights on disk, one file or Hugging Face shards (`model.safetensors.index.json` + `model-0000i-of-0000n.safetensors`),
 * read one tensor at a time and written as a stream: a checkpoint larger than memory can be grown
 * or converted with peak memory bounded by its largest tensor.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { type DType, type Tensor, DTYPE_BYTES, numel, tensorBytes } from '../onnx/ir.js';
import { writeFileAtomic } from '../util/atomic.js';
import { SafetensorsError, SafetensorsFile, encodeHeader } from './safetensors.js';

export const INDEX_FILE = 'model.safetensors.index.json';
export const WEIGHTS_FILE = 'model.safetensors';

export interface TensorSpec {
  name: string;
  dtype: DType;
  dims: number[];
}

/** An open checkpoint (single file or shards): names, shapes and per-tensor reads. */
export class CheckpointReader {
  private constructor(private readonly files: Map<string, SafetensorsFile>, private readonly where: Map<string, SafetensorsFile>) {}

  static open(dir: string): CheckpointReader {
    const files = new Map<string, SafetensorsFile>();
    const where = new Map<string, SafetensorsFile>();
    try {
      if (existsSync(join(dir, INDEX_FILE))) {
        let map: Record<string, string>;
        try {
          map = (JSON.parse(readFileSync(join(dir, INDEX_FILE), 'utf8')) as { weight_map: Record<string, string> }).weight_map;
        } catch {
          throw new SafetensorsError(`${join(dir, INDEX_FILE)}: not a valid shard index`);
        }
        if (typeof map !== 'object' || map === null) throw new SafetensorsError(`${join(dir, INDEX_FILE)}: no weight_map`);
        for (const [name, file] of Object.entries(map)) {
          if (typeof file !== 'string' || basename(file) !== file) throw new SafetensorsError(`${join(dir, INDEX_FILE)}: shard ${JSON.stringify(file)} is not a file in the model directory`);
          let f = files.get(file);
          if (!f && !existsSync(join(dir, file))) throw new SafetensorsError(`${join(dir, INDEX_FILE)}: names shard ${file} (for ${name}), which does not exist`);
          if (!f) files.set(file, (f = SafetensorsFile.open(join(dir, file))));
          if (!f.entry(name)) throw new SafetensorsError(`${join(dir, file)}: has no tensor ${name} (the index says it does)`);
          where.set(name, f);
        }
      } else {
        const f = SafetensorsFile.open(join(dir, WEIGHTS_FILE));
        files.set(WEIGHTS_FILE, f);
        for (const n of f.names()) where.set(n, f);
      }
    } catch (e) {
      for (const f of files.values()) f.close();
      throw e;
    }
    return new CheckpointReader(files, where);
  }

  names(): string[] {
    return [...this.where.keys()];
  }

  spec(name: string): TensorSpec | undefined {
    const e = this.where.get(name)?.entry(name);
    return e && { name, dtype: e.dtype, dims: e.shape };
  }

  read(name: string): Tensor {
    const f = this.where.get(name);
    if (!f) throw new SafetensorsError(`checkpoint has no tensor ${name}`);
    return f.read(name);
  }

  /** A tensor as float32 (F16 and BF16 widened exactly; other non-F32 dtypes are an error). */
  readFloat32(name: string): Tensor & { data: Float32Array } {
    const f = this.where.get(name);
    if (!f) throw new SafetensorsError(`checkpoint has no tensor ${name}`);
    return f.readFloat32(name);
  }

  /** The file each tensor is in (the shard names of an index). */
  fileOf(name: string): string | undefined {
    return this.where.get(name)?.path;
  }

  close(): void {
    for (const f of this.files.values()) f.close();
  }
}

/**
 * Write a safetensors file whose tensors are produced one at a time (the header is computed from
 * the specs first), atomically (writeFileAtomic consumes the chunks as they are generated).
 */
export function writeSafetensorsStream(path: string, specs: TensorSpec[], produce: (i: number) => Tensor, metadata: Record<string, string>): void {
  writeFileAtomic(path, (function* () {
    yield encodeHeader(specs.map((s) => [s.name, s] as [string, TensorSpec]), metadata);
    for (let i = 0; i < specs.length; i++) {
      const s = specs[i]!, t = produce(i); // produced only now: one tensor in memory at a time
      if (t.dtype !== s.dtype || t.data.length !== numel(s.dims)) throw new SafetensorsError(`tensor ${s.name}: produced [${t.dims}] ${t.dtype}, expected [${s.dims}] ${s.dtype}`);
      yield tensorBytes(t);
    }
  })());
}

/**
 * Write weights as HF shards of at most `shardBytes` (a single `model.safetensors` when they fit in
 * one), producing each tensor only when it is written. The index is written last.
 */
export function writeCheckpointStream(dir: string, specs: TensorSpec[], produce: (i: number) => Tensor, shardBytes: number, metadata: Record<string, string> = { format: 'pt' }): void {
  const shards: number[][] = [[]];
  let size = 0;
  specs.forEach((s, i) => {
    const bytes = numel(s.dims) * DTYPE_BYTES[s.dtype];
    if (size > 0 && size + bytes > shardBytes) {
      shards.push([]);
      size = 0;
    }
    shards.at(-1)!.push(i);
    size += bytes;
  });
  if (shards.length === 1) {
    writeSafetensorsStream(join(dir, WEIGHTS_FILE), specs, produce, metadata);
    rmSync(join(dir, INDEX_FILE), { force: true });
    return;
  }
  const n = shards.length;
  const name = (k: number) => `model-${String(k + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;
  const weightMap: Record<string, string> = {};
  shards.forEach((idx, k) => {
    writeSafetensorsStream(join(dir, name(k)), idx.map((i) => specs[i]!), (j) => produce(idx[j]!), metadata);
    for (const i of idx) weightMap[specs[i]!.name] = name(k);
  });
  const total = specs.reduce((t, s) => t + numel(s.dims) * DTYPE_BYTES[s.dtype], 0);
  writeFileAtomic(join(dir, INDEX_FILE), [JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 1) + '\n']);
  rmSync(join(dir, WEIGHTS_FILE), { force: true });
}
