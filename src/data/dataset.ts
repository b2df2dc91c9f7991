/**
 * Reading a prepared dataset (see meta.ts for the directory layout) and sampling training batches.
 *
 * `openDataset(dir)` checks meta.json against the files and gives the training tokens as a
 * `TokenStream` over the shards — held in memory when they are small (≤ `maxInMemoryBytes`, 1 GiB
 * by default), else read per window from the files with positioned reads — and the validation
 * tokens as one array.
 *
 * `BatchSampler` draws windows of seq+1 tokens at uniformly random offsets of the (continuous)
 * training stream from a seeded `Rng`; `state()` / `restore()` capture the generator exactly, so a
 * resumed run sees the same batches as an uninterrupted one.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { Batch } from '../data/batch.js';
import { GrowlmError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { DATASET_FORMAT, DATASET_VERSION, type DatasetMeta, META_FILE } from './meta.js';
import { readTokenFile, TOKEN_HEADER_BYTES, TOKEN_MAGIC } from './token-file.js';
import { loadTokenizer, type Tokenizer } from './tokenizer.js';

export class DatasetError extends GrowlmError {}

/** A sequence of token ids that can be read at any offset. */
export interface TokenStream {
  readonly length: number;
  readonly vocabSize: number;
  /** Tokens [start, start + count) into `out` (a new array if not given). */
  read(start: number, count: number, out?: Uint32Array): Uint32Array;
  close(): void;
}

/** A TokenStream over an array in memory (e.g. the validation tokens). */
export class ArrayTokenStream implements TokenStream {
  readonly length: number;

  constructor(readonly tokens: Uint16Array | Uint32Array | ArrayLike<number>, readonly vocabSize: number) {
    this.length = tokens.length;
  }

  read(start: number, count: number, out = new Uint32Array(count)): Uint32Array {
    checkRange(start, count, this.length);
    const t = this.tokens;
    if (ArrayBuffer.isView(t)) out.set((t as Uint16Array | Uint32Array).subarray(start, start + count));
    else for (let i = 0; i < count; i++) out[i] = t[start + i]!;
    return out;
  }

  close(): void {}
}

function checkRange(start: number, count: number, length: number): void {
  if (!(Number.isSafeInteger(start) && Number.isSafeInteger(count) && start >= 0 && count >= 0 && start + count <= length)) {
    throw new DatasetError(`token range [${start}, ${start + count}) is outside the stream of ${length} tokens`);
  }
}

interface Shard {
  path: string;
  start: number;
  tokens: number;
  data?: Uint16Array | Uint32Array;
  fd?: number;
}

/** The training shards of a dataset as one continuous stream. */
export class ShardedTokenStream implements TokenStream {
  readonly length: number;
  private readonly width: 2 | 4;
  private scratch = Buffer.alloc(0);

  private constructor(private readonly shards: Shard[], readonly vocabSize: number, width: 2 | 4) {
    this.width = width;
    this.length = shards.reduce((a, s) => a + s.tokens, 0);
  }

  /** Open shard files (each checked: header, vocabulary, token count). */
  static open(files: { path: string; tokens: number }[], vocabSize: number, inMemory: boolean): ShardedTokenStream {
    const shards: Shard[] = [];
    let start = 0;
    let width: 2 | 4 = vocabSize <= 65536 ? 2 : 4;
    try {
      for (const f of files) {
        if (inMemory) {
          const { tokens, vocabSize: v } = readTokenFile(f.path);
          if (v !== vocabSize) throw new DatasetError(`${f.path}: vocabulary size ${v}, but meta.json says ${vocabSize}`);
          if (tokens.length !== f.tokens) throw new DatasetError(`${f.path}: ${tokens.length} tokens, but meta.json says ${f.tokens}`);
          shards.push({ path: f.path, start, tokens: f.tokens, data: tokens });
        } else {
          let fd: number;
          try {
            fd = openSync(f.path, 'r');
          } catch {
            throw new DatasetError(`cannot read shard ${f.path}`);
          }
          shards.push({ path: f.path, start, tokens: f.tokens, fd });
          const header = Buffer.alloc(TOKEN_HEADER_BYTES);
          const size = fstatSync(fd).size;
          if (readSync(fd, header, 0, TOKEN_HEADER_BYTES, 0) !== TOKEN_HEADER_BYTES || header.toString('ascii', 0, 8) !== TOKEN_MAGIC) throw new DatasetError(`${f.path}: not a growlm token file`);
          const w = header.readUInt32LE(8), v = header.readUInt32LE(12);
          if (v !== vocabSize) throw new DatasetError(`${f.path}: vocabulary size ${v}, but meta.json says ${vocabSize}`);
          if (w !== 2 && w !== 4) throw new DatasetError(`${f.path}: bad token width ${w}`);
          width = w;
          if (size !== TOKEN_HEADER_BYTES + f.tokens * w) throw new DatasetError(`${f.path}: ${(size - TOKEN_HEADER_BYTES) / w} tokens, but meta.json says ${f.tokens}`);
        }
        start += f.tokens;
      }
    } catch (e) {
      for (const s of shards) if (s.fd !== undefined) closeSync(s.fd);
      throw e;
    }
    return new ShardedTokenStream(shards, vocabSize, width);
  }

  get shardCount(): number {
    return this.shards.length;
  }

  read(start: number, count: number, out = new Uint32Array(count)): Uint32Array {
    checkRange(start, count, this.length);
    // Binary search for the shard holding `start`.
    let lo = 0, hi = this.shards.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.shards[mid]!.start <= start) lo = mid;
      else hi = mid - 1;
    }
    let done = 0;
    for (let si = lo; done < count; si++) {
      const s = this.shards[si]!;
      const off = start + done - s.start;
      const n = Math.min(count - done, s.tokens - off);
      if (n <= 0) continue;
      if (s.data) {
        out.set(s.data.subarray(off, off + n), done);
      } else {
        const bytes = n * this.width;
        if (this.scratch.length < bytes) this.scratch = Buffer.alloc(Math.max(bytes, 2 * this.scratch.length));
        let got = 0;
        while (got < bytes) {
          const r = readSync(s.fd!, this.scratch, got, bytes - got, TOKEN_HEADER_BYTES + off * this.width + got);
          if (r === 0) throw new DatasetError(`${s.path}: truncated`);
          got += r;
        }
        const V = this.vocabSize;
        for (let i = 0; i < n; i++) {
          const t = this.width === 2 ? this.scratch.readUInt16LE(i * 2) : this.scratch.readUInt32LE(i * 4);
          if (t >= V) throw new DatasetError(`${s.path}: token id ${t} at position ${off + i} is outside the vocabulary (size ${V})`);
          out[done + i] = t;
        }
      }
      done += n;
    }
    return out;
  }

  close(): void {
    for (const s of this.shards) {
      if (s.fd !== undefined) closeSync(s.fd);
      s.fd = undefined;
    }
  }
}

export interface Dataset {
  dir: string;
  meta: DatasetMeta;
  train: TokenStream;
  val: Uint16Array | Uint32Array;
  close(): void;
}

export interface OpenDatasetOptions {
  /** Load the training shards into memory when their total size is at most this (default 1 GiB). */
  maxInMemoryBytes?: number;
}

export function readDatasetMeta(dir: string): DatasetMeta {
  let text: string;
  try {
    text = readFileSync(join(dir, META_FILE), 'utf8');
  } catch {
    throw new DatasetError(`${dir} is not a prepared dataset (no meta.json; run growlm data prepare)`);
  }
  let meta: DatasetMeta;
  try {
    meta = JSON.parse(text) as DatasetMeta;
  } catch (e) {
    throw new DatasetError(`${join(dir, META_FILE)}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (meta?.format !== DATASET_FORMAT) throw new DatasetError(`${join(dir, META_FILE)}: not a growlm dataset description`);
  if (meta.version !== DATASET_VERSION) throw new DatasetError(`${join(dir, META_FILE)}: dataset format version ${meta.version} is not supported (expected ${DATASET_VERSION})`);
  if (!meta.tokenizer || !Number.isInteger(meta.tokenizer.vocab_size) || !Array.isArray(meta.train?.shards) || typeof meta.val?.file !== 'string') {
    throw new DatasetError(`${join(dir, META_FILE)}: incomplete dataset description`);
  }
  return meta;
}

export function openDataset(dir: string, opts: OpenDatasetOptions = {}): Dataset {
  const meta = readDatasetMeta(dir);
  const vocab = meta.tokenizer.vocab_size;
  const width = vocab <= 65536 ? 2 : 4;
  const inMemory = meta.train.tokens * width <= (opts.maxInMemoryBytes ?? 2 ** 30);
  const { tokens: val, vocabSize: valVocab } = readTokenFile(join(dir, meta.val.file));
  if (valVocab !== vocab) throw new DatasetError(`${join(dir, meta.val.file)}: vocabulary size ${valVocab}, but meta.json says ${vocab}`);
  if (val.length !== meta.val.tokens) throw new DatasetError(`${join(dir, meta.val.file)}: ${val.length} tokens, but meta.json says ${meta.val.tokens}`);
  const train = ShardedTokenStream.open(meta.train.shards.map((s) => ({ path: join(dir, s.file), tokens: s.tokens })), vocab, inMemory);
  if (train.length !== meta.train.tokens) {
    train.close();
    throw new DatasetError(`${dir}: the shards hold ${train.length} training tokens, but meta.json says ${meta.train.tokens}`);
  }
  return { dir, meta, train, val, close: () => train.close() };
}

/** The tokenizer a dataset was prepared with (its own copy of tokenizer.json, checked by sha256). */
export async function loadDatasetTokenizer(dir: string): Promise<Tokenizer> {
  return loadTokenizer(readDatasetMeta(dir).tokenizer, dir);
}

export interface BatchSamplerOptions {
  batch: number;
  seq: number;
  seed: number;
}

/** JSON-serializable sampler state (for checkpoints). */
export interface BatchSamplerState {
  rng: number[];
  step: number;
  batch: number;
  seq: number;
}

export class BatchSampler {
  private rng: Rng;
  private window: Uint32Array;
  /** Batches drawn so far. */
  step = 0;
  readonly batch: number;
  readonly seq: number;

  constructor(private readonly stream: TokenStream, opts: BatchSamplerOptions) {
    const { batch, seq, seed } = opts;
    if (!(Number.isSafeInteger(batch) && batch >= 1)) throw new DatasetError(`bad batch size ${batch}`);
    if (!(Number.isSafeInteger(seq) && seq >= 1)) throw new DatasetError(`bad sequence length ${seq}`);
    if (stream.length < seq + 1) throw new DatasetError(`the training stream has ${stream.length} tokens, fewer than one window of ${seq + 1}`);
    this.batch = batch;
    this.seq = seq;
    this.rng = new Rng(seed);
    this.window = new Uint32Array(seq + 1);
  }

  next(): Batch {
    const { batch, seq } = this;
    const inputs = new BigInt64Array(batch * seq);
    const targets = new BigInt64Array(batch * seq);
    const starts = this.stream.length - seq; // window [s, s + seq] needs s ≤ length − seq − 1
    const w = this.window;
    for (let b = 0; b < batch; b++) {
      this.stream.read(this.rng.int(starts), seq + 1, w);
      const o = b * seq;
      for (let t = 0; t < seq; t++) {
        inputs[o + t] = BigInt(w[t]!);
        targets[o + t] = BigInt(w[t + 1]!);
      }
    }
    this.step++;
    return { inputs, targets, batch, seq };
  }

  state(): BatchSamplerState {
    return { rng: Array.from(this.rng.state()), step: this.step, batch: this.batch, seq: this.seq };
  }

  restore(state: BatchSamplerState): void {
    if (!Array.isArray(state?.rng) || state.rng.length !== 4 || !state.rng.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff)) {
      throw new DatasetError('bad batch sampler state (rng)');
    }
    if (state.batch !== this.batch || state.seq !== this.seq) {
      throw new DatasetError(`batch sampler state is for batch ${state.batch} × seq ${state.seq}, not ${this.batch} × ${this.seq}`);
    }
    this.rng = new Rng(Uint32Array.from(state.rng));
    this.step = state.step;
  }
}
