/**
 * Tokenizers for the data pipeline and for generation:
 *
 * - `byte`: UTF-8 bytes, vocabulary 256, no special tokens. Decoding invalid UTF-8 (e.g. a sampled
 *   sequence that stops mid-character) gives U+FFFD replacement characters.
 * - `gpt2`: GPT-2's byte-level BPE (tiktoken's `r50k_base`: 50,257 ids, `<|endoftext|>` = 50256),
 *   from the `gpt-tokenizer` package, which ships the ranks in the package (no download).
 * - a Hugging Face `tokenizer.json` (plus a `tokenizer_config.json` beside it, if there is one),
 *   through `@huggingface/tokenizers` (pure JS).
 *
 * `encode` never adds special tokens (no BOS/EOS); the data pipeline appends `eotId` itself after
 * each document. Literal special-token strings in text (e.g. "<|endoftext|>") are encoded as plain
 * text by `gpt2`; the Hugging Face library matches added tokens in text, so for `tokenizer.json`
 * they become their special ids.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { GrowlmError, InvalidSettingError } from '../util/errors.js';
import { TOKENIZER_CONFIG_FILE, TOKENIZER_FILE } from './meta.js';

export type TokenizerKind = 'byte' | 'gpt2' | 'tokenizer.json';

/** How a dataset's meta.json names its tokenizer (enough to load it again with `loadTokenizer`). */
export type TokenizerMeta =
  | { kind: 'byte'; vocab_size: 256 }
  | { kind: 'gpt2'; vocab_size: number; eot_id: number; encoding: 'r50k_base'; library: string }
  | {
      kind: 'tokenizer.json';
      vocab_size: number;
      eot_id?: number;
      eot_token?: string;
      /** File name inside the dataset directory (the prepared copy). */
      file: string;
      /** tokenizer_config.json copied beside it, if there was one. */
      config_file?: string;
      /** Where it was loaded from when the dataset was prepared. */
      source_path: string;
      sha256: string;
      model_type?: string;
    };

export interface Tokenizer {
  readonly kind: TokenizerKind;
  readonly vocabSize: number;
  /** End-of-text id appended after each document, when the tokenizer has one. */
  readonly eotId?: number;
  encode(text: string): number[];
  decode(ids: ArrayLike<number>): string;
  /** Identity of the tokenizer, as recorded in a dataset's meta.json. */
  meta(): TokenizerMeta;
  /** Files that define the tokenizer (copied into a prepared dataset): [path, name in the dataset]. */
  readonly files: [string, string][];
}

export class TokenizerError extends GrowlmError {}

export class ByteTokenizer implements Tokenizer {
  readonly kind = 'byte' as const;
  readonly vocabSize = 256;
  readonly eotId = undefined;
  readonly files: [string, string][] = [];

  encode(text: string): number[] {
    return Array.from(Buffer.from(text, 'utf8'));
  }

  /** Encode to bytes without an intermediate array (the data pipeline's fast path). */
  encodeBytes(text: string): Uint8Array {
    return Buffer.from(text, 'utf8');
  }

  decode(ids: ArrayLike<number>): string {
    const bytes = new Uint8Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const t = ids[i]!;
      if (!Number.isInteger(t) || t < 0 || t > 255) throw new TokenizerError(`token id ${t} is outside the byte vocabulary (size 256)`);
      bytes[i] = t;
    }
    return new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(bytes);
  }

  meta(): TokenizerMeta {
    return { kind: 'byte', vocab_size: 256 };
  }
}

interface GptTokenizerModule {
  encode(text: string, opts?: { disallowedSpecial?: Set<string> }): number[];
  decode(ids: Iterable<number>): string;
  vocabularySize: number;
  default?: { bytePairEncodingCoreProcessor?: { decodeNativeGenerator?(ids: Iterable<number>): Iterable<Uint8Array | string> } };
}

export class Gpt2Tokenizer implements Tokenizer {
  readonly kind = 'gpt2' as const;
  readonly eotId = 50256;
  readonly vocabSize: number;
  readonly files: [string, string][] = [];
  private readonly noSpecial = { disallowedSpecial: new Set<string>() };

  constructor(private readonly mod: GptTokenizerModule, private readonly version: string) {
    this.vocabSize = mod.vocabularySize;
  }

  encode(text: string): number[] {
    // Special-token strings in the text are ordinary text here.
    return this.mod.encode(text, this.noSpecial);
  }

  /**
   * gpt-tokenizer's own decode() shares one streaming TextDecoder between calls, so a call ending
   * inside a multi-byte character leaks its bytes into the next call. Decode the token bytes here
   * instead, each call on its own (incomplete characters become U+FFFD).
   */
  decode(ids: ArrayLike<number>): string {
    const arr = Array.from(ids);
    for (const t of arr) if (!Number.isInteger(t) || t < 0 || t >= this.vocabSize) throw new TokenizerError(`token id ${t} is outside the GPT-2 vocabulary (size ${this.vocabSize})`);
    const core = this.mod.default?.bytePairEncodingCoreProcessor;
    if (!core?.decodeNativeGenerator) return this.mod.decode(arr);
    const parts: Uint8Array[] = [];
    let n = 0;
    for (const p of core.decodeNativeGenerator.call(core, arr)) {
      const b = typeof p === 'string' ? Buffer.from(p, 'utf8') : p;
      parts.push(b);
      n += b.length;
    }
    return new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(Buffer.concat(parts, n));
  }

  meta(): TokenizerMeta {
    return { kind: 'gpt2', vocab_size: this.vocabSize, eot_id: this.eotId, encoding: 'r50k_base', library: `gpt-tokenizer@${this.version}` };
  }
}

interface HfTokenizerLike {
  encode(text: string, opts?: { add_special_tokens?: boolean }): { ids: (number | undefined)[]; tokens: string[] };
  decode(ids: number[], opts?: { skip_special_tokens?: boolean }): string;
  get_vocab(withAdded?: boolean): Map<string, number>;
  get_added_tokens_decoder(): Map<number, { content: string; special: boolean }>;
  token_to_id(token: string): number | undefined;
}

/** Special tokens that mark the end of a document, in order of preference, when no config names one. */
const EOT_CANDIDATES = ['<|endoftext|>', '<|end_of_text|>', '</s>', '<eos>', '<|eos|>', '<|im_end|>', '<|eot_id|>', '<eot>', '[SEP]'];

export class HfTokenizer implements Tokenizer {
  readonly kind = 'tokenizer.json' as const;
  readonly vocabSize: number;
  readonly eotId?: number;
  readonly eotToken?: string;
  readonly files: [string, string][];

  constructor(
    private readonly tok: HfTokenizerLike,
    readonly path: string,
    readonly sha256: string,
    readonly configPath: string | undefined,
    config: Record<string, unknown>,
    private readonly modelType: string | undefined,
  ) {
    let maxId = -1;
    for (const id of tok.get_vocab(true).values()) if (id > maxId) maxId = id;
    for (const id of tok.get_added_tokens_decoder().keys()) if (id > maxId) maxId = id;
    if (maxId < 0) throw new TokenizerError(`${path}: the tokenizer has an empty vocabulary`);
    this.vocabSize = maxId + 1;
    const eos = config.eos_token;
    const eosName = typeof eos === 'string' ? eos : eos && typeof eos === 'object' && typeof (eos as { content?: unknown }).content === 'string' ? (eos as { content: string }).content : undefined;
    const added = [...tok.get_added_tokens_decoder().entries()];
    let eot: [number, string] | undefined;
    if (eosName !== undefined) {
      const id = tok.token_to_id(eosName);
      if (id !== undefined) eot = [id, eosName];
    }
    if (!eot) {
      for (const name of EOT_CANDIDATES) {
        const hit = added.find(([, t]) => t.content === name);
        if (hit) { eot = [hit[0], name]; break; }
      }
    }
    if (eot) { this.eotId = eot[0]; this.eotToken = eot[1]; }
    this.files = [[path, TOKENIZER_FILE]];
    if (configPath) this.files.push([configPath, TOKENIZER_CONFIG_FILE]);
  }

  encode(text: string): number[] {
    const { ids, tokens } = this.tok.encode(text, { add_special_tokens: false });
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] === undefined) throw new TokenizerError(`${this.path}: no token id for "${tokens[i]}" (the tokenizer has no unknown token)`);
    }
    return ids as number[];
  }

  decode(ids: ArrayLike<number>): string {
    const arr = Array.from(ids);
    for (const t of arr) if (!Number.isInteger(t) || t < 0 || t >= this.vocabSize) throw new TokenizerError(`token id ${t} is outside the tokenizer's vocabulary (size ${this.vocabSize})`);
    return this.tok.decode(arr, { skip_special_tokens: false });
  }

  meta(): TokenizerMeta {
    return {
      kind: 'tokenizer.json', vocab_size: this.vocabSize,
      ...(this.eotId !== undefined ? { eot_id: this.eotId, eot_token: this.eotToken } : {}),
      file: TOKENIZER_FILE,
      ...(this.configPath ? { config_file: TOKENIZER_CONFIG_FILE } : {}),
      source_path: this.path, sha256: this.sha256,
      ...(this.modelType ? { model_type: this.modelType } : {}),
    };
  }
}

const require = createRequire(import.meta.url);

function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

let gpt2: Promise<Gpt2Tokenizer> | undefined;

async function loadGpt2(): Promise<Gpt2Tokenizer> {
  gpt2 ??= import('gpt-tokenizer/encoding/r50k_base').then((m) => {
    const t = new Gpt2Tokenizer(m as unknown as GptTokenizerModule, packageVersion('gpt-tokenizer'));
    const probe = t.encode('Hello world');
    if (probe.length !== 2 || probe[0] !== 15496 || probe[1] !== 995 || t.vocabSize !== 50257 || t.decode(probe) !== 'Hello world') {
      throw new TokenizerError('the installed gpt-tokenizer package does not give GPT-2 ids');
    }
    return t;
  });
  return gpt2;
}

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

async function loadHfTokenizer(path: string, expectSha?: string): Promise<HfTokenizer> {
  let file = path;
  try {
    if (statSync(file).isDirectory()) file = join(file, TOKENIZER_FILE);
  } catch {
    throw new TokenizerError(`cannot read tokenizer ${path}: no such file`);
  }
  let raw: Buffer;
  try {
    raw = readFileSync(file);
  } catch (e) {
    throw new TokenizerError(`cannot read tokenizer ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const sha = createHash('sha256').update(raw).digest('hex');
  if (expectSha !== undefined && sha !== expectSha) throw new TokenizerError(`${file}: sha256 ${sha.slice(0, 12)}… does not match the dataset's meta.json (${expectSha.slice(0, 12)}…)`);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new TokenizerError(`${file}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (!json || typeof json !== 'object' || Array.isArray(json) || !json.model || typeof json.model !== 'object') throw new TokenizerError(`${file}: not a Hugging Face tokenizer.json (no "model")`);
  // The library wants these keys present even when null.
  for (const k of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder']) if (!(k in json)) json[k] = null;
  if (!Array.isArray(json.added_tokens)) json.added_tokens = [];
  const configPath = join(dirname(file), TOKENIZER_CONFIG_FILE);
  let config: Record<string, unknown> = {};
  let haveConfig = false;
  if (basename(file) === TOKENIZER_FILE && existsSync(configPath)) {
    try {
      config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
      haveConfig = true;
    } catch (e) {
      throw new TokenizerError(`${configPath}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
    }
  }
  const { Tokenizer } = await import('@huggingface/tokenizers');
  let tok: HfTokenizerLike;
  try {
    tok = new Tokenizer(json, config) as unknown as HfTokenizerLike;
    tok.encode('Hello world', { add_special_tokens: false });
  } catch (e) {
    throw new TokenizerError(`${file}: the tokenizer failed to load (${(e as Error).message.split('\n')[0]})`);
  }
  const modelType = typeof (json.model as { type?: unknown }).type === 'string' ? (json.model as { type: string }).type : undefined;
  return new HfTokenizer(tok, resolve(file), sha, haveConfig ? resolve(configPath) : undefined, config, modelType);
}

/**
 * Load a tokenizer from a command-line spec (`byte`, `gpt2`, or a path to a tokenizer.json or to a
 * folder holding one; relative to the working directory) or from a dataset's `meta.tokenizer`
 * record, whose file resolves against `dataDir` (the dataset directory, which holds its own copy of
 * tokenizer.json, checked against the recorded sha256).
 */
export async function loadTokenizer(spec: string | TokenizerMeta, dataDir?: string): Promise<Tokenizer> {
  if (typeof spec !== 'string') {
    switch (spec.kind) {
      case 'byte': return new ByteTokenizer();
      case 'gpt2': return loadGpt2();
      case 'tokenizer.json': {
        const file = isAbsolute(spec.file) ? spec.file : join(dataDir ?? '.', spec.file);
        return loadHfTokenizer(file, spec.sha256);
      }
      default: throw new TokenizerError(`unknown tokenizer kind "${(spec as { kind: unknown }).kind}" in meta.json`);
    }
  }
  if (spec === 'byte') return new ByteTokenizer();
  if (spec === 'gpt2') return loadGpt2();
  if (/\.json$/i.test(spec) || spec.includes('/') || spec.includes('\\') || existsSync(spec)) {
    return loadHfTokenizer(spec);
  }
  throw new InvalidSettingError('tokenizer', `unknown tokenizer "${spec}" (use byte, gpt2, or a path to a tokenizer.json)`);
}
