/**
 * The parsers under fuzzing (fast-check): each target turns arbitrary bytes into a parse through the
 * same entry point a user's file goes through, and every input is classified: parsed, rejected with
 * the project's typed error (a GrowlmError), crashed (any other exception: a bug), hung (over the
 * per-input time limit) or allocated too much (ArrayBuffer memory held after the parse above a
 * bound). Inputs are random bytes, byte-level mutations of valid files (flips, deletions,
 * insertions, truncation, splices) and structure-aware ones (valid JSON with fields replaced by
 * hostile values: huge sizes such as 2^60, negative numbers, nulls, wrong types).
 * Used by test/reliability/fuzz.test.ts (fixed seed, short) and tools/fuzz.ts (long).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { buildDecoder } from '../graphs/decoder.js';
import { plainLlama } from '../src/export/fold.js';
import { llamaMetadata, llamaTensors } from '../src/export/gguf.js';
import { ggufChunks } from '../src/export/gguf-file.js';
import { bpeFromTokenizerJson, tokenizerMetadata } from '../src/export/gguf-tokenizer.js';
import { byteTokenizerJson } from '../src/export/tokenizer-files.js';
import { encodeTokenFile, readTokenFile } from '../src/data/token-file.js';
import { jsonlDocument } from '../src/data/prepare.js';
import { type ModelConfig, parameterCount, parseConfig } from '../src/model/config.js';
import { readConfigFile } from '../src/model/model-dir.js';
import { encodeHeader, loadSafetensors } from '../src/model/safetensors.js';
import { initWeights } from '../src/model/weights.js';
import { decodeModel, encodeModel } from '../src/onnx/serialize.js';
import { onnx } from '../src/onnx/proto.js';
import { loadPlan } from '../src/plan/plan.js';
import { GrowlmError } from '../src/util/errors.js';
import { modelsDir } from '../src/util/paths.js';

export type Outcome = 'parsed' | 'typed' | 'crash' | 'hang' | 'memory';

export interface FuzzTarget {
  name: string;
  inputs: fc.Arbitrary<Uint8Array>;
  parse(bytes: Uint8Array): unknown;
}

export interface FuzzCounts {
  target: string;
  inputs: number;
  parsed: number;
  typed: number;
  crashes: number;
  hangs: number;
  memory: number;
  seconds: number;
  /** The first few failures (crash, hang, memory): what happened and the input, hex. */
  failures: { outcome: Outcome; message: string; input: string }[];
}

/** Where scratch files go: a RAM disk when there is one (a disk-backed /tmp makes each input ~100× slower). */
export const fuzzScratchRoot = (): string => (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());

/** ArrayBuffer memory a parse may still hold afterwards (the inputs are at most a few hundred kB). */
export const MAX_HELD_BYTES = 64 * 1024 * 1024;

// ------------------------------------------------------------------ mutations

type Mutation = { op: 'flip' | 'set' | 'delete' | 'insert' | 'truncate' | 'duplicate'; at: number; byte: number; len: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom('flip', 'set', 'delete', 'insert', 'truncate', 'duplicate'),
  at: fc.nat(),
  byte: fc.integer({ min: 0, max: 255 }),
  len: fc.integer({ min: 1, max: 64 }),
});

function mutate(seed: Uint8Array, ms: Mutation[]): Uint8Array {
  let b = Buffer.from(seed);
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % (b.length + 1);
    switch (m.op) {
      case 'flip': if (at < b.length) b[at] = b[at]! ^ (1 << (m.byte % 8)); break;
      case 'set': if (at < b.length) b[at] = m.byte; break;
      case 'delete': b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]); break;
      case 'insert': b = Buffer.concat([b.subarray(0, at), Buffer.alloc(m.len, m.byte), b.subarray(at)]); break;
      case 'truncate': b = b.subarray(0, at); break;
      case 'duplicate': b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + m.len), b.subarray(at)]); break;
    }
  }
  return new Uint8Array(b);
}

/** Byte-level mutations (1–8) of one of `seeds`. */
const mutated = (seeds: Uint8Array[]): fc.Arbitrary<Uint8Array> =>
  fc.tuple(fc.constantFrom(...seeds), fc.array(mutationArb, { minLength: 1, maxLength: 8 })).map(([s, ms]) => mutate(s, ms));

const randomBytes = (maxLength: number) => fc.uint8Array({ maxLength });

/** Hostile JSON values: sizes far beyond memory, negatives, fractions, nulls, wrong types. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.constantFrom(null, {}, [], '', 0, -1), weight: 4 },
  { arbitrary: fc.constantFrom(true, false, -0, 0.5, 1, 2, 3, 7, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 60, 2 ** 64, 1e308, -1e308, 'x', '../../etc/passwd', [1], [2 ** 60], [-1], [0, 2 ** 60], { from: null }, [null]), weight: 4 },
  fc.integer(),
  fc.double({ noNaN: true }),
  fc.string({ maxLength: 8 }),
  fc.jsonValue({ maxDepth: 2 }),
);

type JsonPath = (string | number)[];

function paths(v: unknown, at: JsonPath = [], out: JsonPath[] = []): JsonPath[] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

/** `doc` with the value at one of its paths replaced (or, `remove`, deleted). */
function replaceAt(doc: unknown, pick: number, value: unknown, remove: boolean): unknown {
  const copy = structuredClone(doc);
  const all = paths(copy);
  const path = all[pick % all.length]!;
  if (path.length === 0) return remove ? {} : value;
  let parent = copy as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (remove && !Array.isArray(parent)) delete parent[last];
  else parent[last] = value;
  return copy;
}

/** Valid JSON documents with 1–4 values replaced by hostile ones (or keys deleted, or keys added). */
const jsonMutated = (seeds: unknown[]): fc.Arbitrary<Uint8Array> =>
  fc.tuple(
    fc.constantFrom(...seeds),
    fc.array(fc.tuple(fc.nat(), hostileValue, fc.boolean(), fc.option(fc.string({ maxLength: 12 }), { nil: undefined })), { minLength: 1, maxLength: 4 }),
  ).map(([seed, edits]) => {
    let doc = seed;
    for (const [pick, value, remove, newKey] of edits) {
      if (newKey !== undefined && doc && typeof doc === 'object' && !Array.isArray(doc)) doc = { ...(doc as object), [newKey]: value };
      else doc = replaceAt(doc, pick, value, remove);
    }
    return new TextEncoder().encode(JSON.stringify(doc));
  });

// ------------------------------------------------------------------ targets

const SMALL_CONFIG = { vocab_size: 64, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 2, num_attention_heads: 2, max_position_embeddings: 16 };
const GROWN_CONFIG = {
  ...SMALL_CONFIG,
  growlm: {
    masks: { hidden: { from: 8, value: 0.5 }, ffn: { from: 16, value: 0 }, heads: { from: 1, value: 0.25 }, vocab: { from: 32, value: 1 }, layers: { indices: [1], value: 0.5 }, ramp: { start: 0, steps: 10, stagger: true } },
    history: [{ method: 'msg' }],
    tokenizer: { kind: 'byte', vocab_size: 256 },
  },
};

/** Configs of the architectures GGUF export handles: GQA, MQA, tied embeddings, Llama 3 RoPE scaling, μP, masks. */
const GGUF_CONFIGS = [
  { ...SMALL_CONFIG, vocab_size: 256, num_key_value_heads: 1, tie_word_embeddings: true, input_mult: 0.5, output_mult: 1, mup_scale_factor: 2 },
  { ...GROWN_CONFIG, vocab_size: 300, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 4, rope_theta: 500000,
    rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8 } },
];

/** Parameters above which a fuzzed config is not exported (each input stays fast). */
const GGUF_MAX_PARAMETERS = 200_000;

/**
 * A config through the GGUF path as `exportGguf` takes it (fold, llama metadata with the byte
 * tokenizer, f16 tensors), in memory; the bytes must add up to the header's own layout.
 */
function ggufOfConfig(c: ModelConfig): number {
  if (parameterCount(c) > GGUF_MAX_PARAMETERS) return 0;
  const plain = plainLlama(c, initWeights(c, 1));
  const metadata = [...llamaMetadata(plain.config, 'fuzz', 'f16'), ...tokenizerMetadata(bpeFromTokenizerJson(byteTokenizerJson() as Record<string, unknown>), plain.config.vocabSize)];
  let bytes = 0, first: Uint8Array | undefined;
  for (const chunk of ggufChunks(metadata, llamaTensors(plain.config, plain.weights, 'f16'))) { first ??= chunk; bytes += chunk.byteLength; }
  const view = new DataView(first!.buffer, first!.byteOffset, first!.byteLength);
  if (view.getUint32(0, true) !== 0x46554747 || view.getUint32(4, true) !== 3 || bytes % 32 !== 0) throw new Error('GGUF header does not describe its file');
  return bytes;
}

function safetensorsFile(tensors: [string, { dtype: 'float32' | 'int64' | 'uint8' | 'float16'; dims: number[] }][], metadata: Record<string, string> = {}): Uint8Array {
  const header = encodeHeader(tensors, metadata);
  const bytes = tensors.reduce((n, [, t]) => n + t.dims.reduce((a, d) => a * d, 1) * (t.dtype === 'int64' ? 8 : t.dtype === 'float32' ? 4 : t.dtype === 'float16' ? 2 : 1), 0);
  const body = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) body[i] = (i * 37) & 0xff;
  return new Uint8Array(Buffer.concat([header, body]));
}

const ST_DTYPES = ['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U64', 'U32', 'U16', 'U8', 'BOOL', 'F8_E4M3', 'x', ''];

/** A structure-aware safetensors file: a header of random entries, its length field sometimes lying (up to 2^64-1). */
const safetensorsStructured: fc.Arbitrary<Uint8Array> = fc.record({
  entries: fc.array(fc.record({
    name: fc.oneof(fc.string({ maxLength: 6 }), fc.constant('__metadata__')),
    dtype: fc.oneof(fc.constantFrom(...ST_DTYPES), hostileValue),
    shape: fc.oneof(fc.array(fc.oneof(fc.nat(8), fc.constantFrom(2 ** 30, 2 ** 53, 2 ** 60, -1, 0.5)), { maxLength: 4 }), hostileValue),
    offsets: fc.oneof(fc.tuple(fc.nat(64), fc.nat(64)), fc.tuple(fc.constantFrom(0, 2 ** 60, 2 ** 53 - 1, -1), fc.constantFrom(2 ** 60, 2 ** 62, 2 ** 53, 0, 8)), hostileValue),
  }), { maxLength: 5 }),
  metadata: fc.option(hostileValue, { nil: undefined }),
  length: fc.oneof(fc.constant(undefined), fc.constantFrom(0n, 1n, 7n, 2n ** 60n, 2n ** 64n - 1n, 100_000_001n), fc.bigInt({ min: 0n, max: 4096n })),
  body: randomBytes(128),
}).map(({ entries, metadata, length, body }) => {
  const h: Record<string, unknown> = {};
  if (metadata !== undefined) h.__metadata__ = metadata;
  for (const e of entries) h[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: e.offsets };
  const json = Buffer.from(JSON.stringify(h));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(length ?? BigInt(json.length));
  return new Uint8Array(Buffer.concat([len, json, body]));
});

function onnxSeeds(): Uint8Array[] {
  const c = parseConfig(SMALL_CONFIG);
  const decoder = encodeModel(buildDecoder(c, { outputs: ['logits'] })).model;
  const withData = onnx.ModelProto.encode({
    ir_version: 8, opset_import: [{ domain: '', version: 17 }], producer_name: 'fuzz',
    graph: {
      name: 'g',
      initializer: [
        { name: 'a', dims: [2, 3], data_type: 1, float_data: [1, 2, 3, 4, 5, 6] },
        { name: 'b', dims: [2], data_type: 7, int64_data: [1, -1] },
        { name: 'c', dims: [4], data_type: 1, data_location: 1, external_data: [{ key: 'location', value: 'w.bin' }, { key: 'offset', value: '0' }, { key: 'length', value: '16' }] },
      ],
      node: [{ op_type: 'Add', input: ['a', 'a'], output: ['y'], attribute: [{ name: 't', type: 4, t: { dims: [1], data_type: 1, raw_data: new Uint8Array(4) } }, { name: 'g', type: 5, g: { name: 'sub' } }, { name: 'i', type: 2, i: 3 }] }],
      input: [{ name: 'x', type: { tensor_type: { elem_type: 1, shape: { dim: [{ dim_value: 2 }, { dim_param: 'n' }] } } } }],
      output: [{ name: 'y', type: { tensor_type: { elem_type: 1 } } }],
    },
  }).finish();
  return [decoder, withData];
}

/** Structure-aware ONNX: tensors with hostile dims and data types, attributes whose payload is missing. */
const onnxStructured: fc.Arbitrary<Uint8Array> = fc.record({
  dims: fc.array(fc.oneof(fc.nat(6), fc.constantFrom(2 ** 20, 2 ** 30, 2 ** 40, 2 ** 53, -1)), { maxLength: 4 }),
  dataType: fc.integer({ min: 0, max: 25 }),
  raw: fc.option(randomBytes(32), { nil: undefined }),
  floats: fc.option(fc.array(fc.float(), { maxLength: 8 }), { nil: undefined }),
  ints: fc.option(fc.array(fc.integer(), { maxLength: 8 }), { nil: undefined }),
  external: fc.boolean(),
  kv: fc.array(fc.tuple(fc.constantFrom('location', 'offset', 'length', 'x'), fc.oneof(fc.constantFrom('w.bin', '../x', '/etc/passwd', '-1', '1e400', '9007199254740993', ''), fc.string({ maxLength: 5 }))), { maxLength: 4 }),
  attrType: fc.integer({ min: 0, max: 15 }),
  irVersion: fc.constantFrom(0, 1, 8, -1),
}).map((r) => onnx.ModelProto.encode({
  ir_version: r.irVersion, opset_import: [{ domain: '', version: 17 }],
  graph: {
    name: 'g',
    initializer: [{
      name: 't', dims: r.dims, data_type: r.dataType, ...(r.raw ? { raw_data: r.raw } : {}), ...(r.floats ? { float_data: r.floats } : {}),
      ...(r.ints ? { int32_data: r.ints, int64_data: r.ints } : {}),
      ...(r.external ? { data_location: 1, external_data: r.kv.map(([key, value]) => ({ key, value })) } : {}),
    }],
    node: [{ op_type: 'Identity', input: ['t'], output: ['y'], attribute: [{ name: 'a', type: r.attrType }] }],
  },
}).finish());

/** Every parser fuzzed, with its scratch files under `workDir`. */
export function fuzzTargets(workDir: string): FuzzTarget[] {
  mkdirSync(workDir, { recursive: true });
  const file = (name: string) => join(workDir, name);
  const writeThen = <T>(path: string, read: (p: string) => T) => (b: Uint8Array): T => {
    writeFileSync(path, b);
    return read(path);
  };

  const stSeeds = [
    safetensorsFile([['a', { dtype: 'float32', dims: [2, 3] }], ['b', { dtype: 'int64', dims: [4] }], ['c', { dtype: 'uint8', dims: [0] }]], { format: 'pt' }),
    safetensorsFile([['w', { dtype: 'float16', dims: [3, 1, 2] }]]),
  ];
  const tokSeeds = [Buffer.concat(encodeTokenFile([1, 2, 3, 255, 0], 256)), Buffer.concat(encodeTokenFile([70000, 5, 9], 100000))].map((b) => new Uint8Array(b));
  const configSeeds = [SMALL_CONFIG, GROWN_CONFIG, JSON.parse(readFileSync(join(modelsDir(), 'demo-52b.json'), 'utf8'))];
  const planSeeds = ['growth-demo.plan.json', 'tele-flm-analog.plan.json'].map((f) => JSON.parse(readFileSync(join(modelsDir(), f), 'utf8')) as unknown);
  const jsonlSeeds = [{ text: 'Hello, world.' }, { text: '', id: 3 }, { text: 'é ✓ 𝄞', meta: { a: [1, 2] } }];
  const bytesOf = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  const onnxBase = onnxSeeds();
  mkdirSync(file('onnx'), { recursive: true });

  return [
    {
      name: 'safetensors',
      inputs: fc.oneof(randomBytes(256), mutated(stSeeds), safetensorsStructured),
      parse: writeThen(file('fuzz.safetensors'), loadSafetensors),
    },
    {
      name: 'onnx',
      inputs: fc.oneof(randomBytes(256), mutated(onnxBase), onnxStructured),
      parse: (b) => decodeModel(b, { baseDir: file('onnx') }),
    },
    {
      name: 'token-shard',
      inputs: fc.oneof(randomBytes(64), mutated(tokSeeds), fc.tuple(fc.constantFrom('GLMTOK01', 'GLMTOK02', ''), fc.integer({ min: -1, max: 8 }), fc.oneof(fc.nat(), fc.constantFrom(0, 1, 65536, 65537, 2 ** 32 - 1)), randomBytes(32)).map(([magic, width, vocab, body]) => {
        const h = Buffer.alloc(16);
        h.write(magic, 0, 'ascii');
        h.writeInt32LE(width, 8);
        h.writeUInt32LE(vocab >>> 0, 12);
        return new Uint8Array(Buffer.concat([h, body]));
      })),
      parse: writeThen(file('fuzz.tok'), readTokenFile),
    },
    {
      name: 'config.json',
      inputs: fc.oneof(randomBytes(128), mutated(configSeeds.map(bytesOf)), jsonMutated(configSeeds)),
      parse: writeThen(file('config.json'), readConfigFile),
    },
    {
      name: 'plan',
      inputs: fc.oneof(randomBytes(128), mutated(planSeeds.map(bytesOf)), jsonMutated(planSeeds)),
      parse: writeThen(file('fuzz.plan.json'), loadPlan),
    },
    {
      name: 'GGUF export',
      inputs: fc.oneof(mutated(GGUF_CONFIGS.map(bytesOf)), jsonMutated(GGUF_CONFIGS)),
      parse: writeThen(file('gguf-config.json'), (p) => ggufOfConfig(readConfigFile(p))),
    },
    {
      name: 'jsonl line',
      inputs: fc.oneof(randomBytes(64), mutated(jsonlSeeds.map(bytesOf)), jsonMutated(jsonlSeeds), fc.string({ unit: 'binary', maxLength: 40 }).map((s) => new TextEncoder().encode(s))),
      parse: (b) => jsonlDocument(b, 'fuzz.jsonl', 1, 0, 'text'),
    },
  ];
}

// ------------------------------------------------------------------ running

/** Run one input: its outcome and, for a failure, the message. */
export function classify(t: FuzzTarget, input: Uint8Array, limitMs: number): { outcome: Outcome; message?: string } {
  const before = process.memoryUsage().arrayBuffers;
  const t0 = performance.now();
  let result: unknown;
  let outcome: Outcome;
  let message: string | undefined;
  try {
    result = t.parse(input);
    outcome = 'parsed';
  } catch (e) {
    if (e instanceof GrowlmError) outcome = 'typed';
    else {
      outcome = 'crash';
      message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    }
  }
  const ms = performance.now() - t0;
  const held = process.memoryUsage().arrayBuffers - before;
  void result; // held until here, so what the parse kept is measured
  if (outcome !== 'crash' && ms > limitMs) return { outcome: 'hang', message: `${ms.toFixed(0)} ms` };
  if (outcome !== 'crash' && held > MAX_HELD_BYTES) return { outcome: 'memory', message: `${(held / 2 ** 20).toFixed(0)} MiB held` };
  return message === undefined ? { outcome } : { outcome, message };
}

/** Run `numRuns` inputs of `t` (fast-check, fixed `seed`) and count the outcomes. */
export function fuzzTarget(t: FuzzTarget, o: { numRuns: number; seed: number; limitMs: number; keepFailures?: number }): FuzzCounts {
  const c: FuzzCounts = { target: t.name, inputs: 0, parsed: 0, typed: 0, crashes: 0, hangs: 0, memory: 0, seconds: 0, failures: [] };
  const t0 = performance.now();
  fc.check(fc.property(t.inputs, (input) => {
    const r = classify(t, input, o.limitMs);
    c.inputs++;
    if (r.outcome === 'parsed') c.parsed++;
    else if (r.outcome === 'typed') c.typed++;
    else {
      if (r.outcome === 'crash') c.crashes++;
      else if (r.outcome === 'hang') c.hangs++;
      else c.memory++;
      if (c.failures.length < (o.keepFailures ?? 5)) c.failures.push({ outcome: r.outcome, message: r.message ?? '', input: Buffer.from(input.subarray(0, 200)).toString('hex') });
    }
    return true;
  }), { numRuns: o.numRuns, seed: o.seed, endOnFailure: true });
  c.seconds = (performance.now() - t0) / 1000;
  return c;
}
