/**
 * Tokenizer metadata for GGUF files (docs/gguf.md#tokenizer-metadata): llama.cpp's byte-level BPE
 * (`tokenizer.ggml.model = "gpt2"`) with the vocabulary as token strings by id, the merges as
 * "left right" strings, a type per token, the pre-tokenizer as one of the names llama.cpp knows,
 * the special-token ids and the chat template.
 *
 * Every tokenizer growlm uses becomes a byte-level BPE described like a Hugging Face tokenizer.json:
 * growlm's byte tokenizer is `byteTokenizerJson()` (256 byte tokens, no merges), GPT-2's comes from
 * the ranks `gpt-tokenizer` ships (merges recovered from the ranks), and an imported model's
 * tokenizer.json is read as it is.
 */
import { readFileSync } from 'node:fs';
import { type Tokenizer, HfTokenizer, Gpt2Tokenizer } from '../data/tokenizer.js';
import { GrowlmError } from '../util/errors.js';
import { type GgufValue, gguf } from './gguf-file.js';
import { byteToUnicode, byteTokenizerJson } from './tokenizer-files.js';

/** A tokenizer that has no faithful GGUF (llama.cpp) form. */
export class GgufTokenizerError extends GrowlmError {}

/** llama.cpp's token types (`enum llama_token_type`). */
export const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

type Json = Record<string, unknown>;

/** A byte-level BPE as llama.cpp takes it. */
export interface ByteLevelBpe {
  /** Token strings by id (byte-level alphabet for ordinary tokens, plain text for added ones). */
  tokens: string[];
  types: number[];
  merges: string[];
  /** llama.cpp's name for the pre-tokenizer (`tokenizer.ggml.pre`). */
  pre: string;
  bos?: number;
  eos?: number;
  unk?: number;
  pad?: number;
  addBos: boolean;
  addEos: boolean;
  /** `tokenizer.chat_template` (the default one) and named ones (`tokenizer.chat_template.NAME`). */
  chatTemplates: [string | undefined, string][];
}

// ------------------------------------------------------------------ pre-tokenizers

/** Split regexes of Hugging Face tokenizer.json files and the llama.cpp pre-tokenizer with the same regex. */
const SPLIT_PATTERNS: [string, string][] = [
  ["(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", 'llama-bpe'],
  ["(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", 'qwen2'],
];

const describe = (v: unknown) => JSON.stringify(v)?.slice(0, 120);

function isByteLevel(p: Json | undefined, useRegex: boolean): boolean {
  if (!p || p.type !== 'ByteLevel') return false;
  if (p.add_prefix_space === true) throw new GgufTokenizerError('the tokenizer adds a prefix space (ByteLevel add_prefix_space), which llama.cpp\'s byte-level BPE does not do');
  return (p.use_regex !== false) === useRegex;
}

/**
 * llama.cpp's pre-tokenizer name for a tokenizer.json `pre_tokenizer`: GPT-2's ByteLevel split →
 * `gpt-2`; a Split by Llama 3's or Qwen2's regex then ByteLevel → `llama-bpe` / `qwen2`; Digits then
 * ByteLevel (SmolLM) → `smollm`. With no merges the split cannot change the ids, so any byte-level
 * pre-tokenizer is `gpt-2`. Anything else is refused (llama.cpp would split text differently).
 */
export function preTokenizerName(pre: unknown, hasMerges: boolean): string {
  const p = pre as Json | null | undefined;
  const steps = (p?.type === 'Sequence' && Array.isArray(p.pretokenizers) ? p.pretokenizers : p ? [p] : []) as Json[];
  const last = steps.at(-1);
  if (!last || last.type !== 'ByteLevel') throw new GgufTokenizerError(`the pre-tokenizer ${describe(pre)} is not byte-level; only byte-level BPE tokenizers (GPT-2 style) can be written to GGUF`);
  if (!hasMerges) {
    isByteLevel(last, true);
    return 'gpt-2';
  }
  if (steps.length === 1 && isByteLevel(last, true)) return 'gpt-2';
  if (steps.length === 2 && isByteLevel(last, false) && steps[0]!.type === 'Split') {
    const s = steps[0]!;
    const regex = (s.pattern as Json | undefined)?.Regex;
    const hit = SPLIT_PATTERNS.find(([r]) => r === regex);
    if (hit && s.behavior === 'Isolated' && s.invert !== true) return hit[1];
  }
  if (steps.length === 2 && isByteLevel(last, true) && steps[0]!.type === 'Digits' && steps[0]!.individual_digits === true) return 'smollm';
  throw new GgufTokenizerError(`the pre-tokenizer ${describe(pre)} has no llama.cpp equivalent (known: GPT-2's ByteLevel, Llama 3's and Qwen2's splits, SmolLM's digits)`);
}

// ------------------------------------------------------------------ tokenizer.json

const tokenName = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : v && typeof v === 'object' && typeof (v as Json).content === 'string' ? (v as Json).content as string : undefined;

/** The chat templates of a tokenizer_config.json: a string, or a list of {name, template}. */
function chatTemplates(config: Json): [string | undefined, string][] {
  const t = config.chat_template;
  if (typeof t === 'string') return [[undefined, t]];
  if (!Array.isArray(t)) return [];
  const out: [string | undefined, string][] = [];
  for (const e of t as Json[]) {
    if (!e || typeof e.name !== 'string' || typeof e.template !== 'string') throw new GgufTokenizerError('tokenizer_config.json: chat_template entries must have a name and a template');
    out.push([e.name === 'default' ? undefined : e.name, e.template]);
  }
  return out;
}

/** Whether the post-processor prepends the BOS token (Llama 3's TemplateProcessing). */
function postProcessorAddsBos(pp: unknown, bos: string | undefined): boolean {
  const p = pp as Json | null | undefined;
  const steps = (p?.type === 'Sequence' && Array.isArray(p.processors) ? p.processors : p ? [p] : []) as Json[];
  for (const s of steps) {
    if (s.type !== 'TemplateProcessing' || !Array.isArray(s.single)) continue;
    const first = (s.single[0] as Json | undefined)?.SpecialToken as Json | undefined;
    if (first && first.id === bos) return true;
  }
  return false;
}

/**
 * A byte-level BPE from a Hugging Face tokenizer.json (and its tokenizer_config.json): vocabulary
 * and merges, added tokens (special → control, others user-defined), BOS/EOS/UNK/PAD by the names
 * the config gives (EOS falls back to `eotId`, BOS to EOS as in GPT-2), the chat template.
 */
export function bpeFromTokenizerJson(json: Json, config: Json = {}, eotId?: number): ByteLevelBpe {
  const model = json.model as Json | undefined;
  if (!model || model.type !== 'BPE') throw new GgufTokenizerError(`the tokenizer is a ${describe(model?.type)} model; only byte-level BPE tokenizers can be written to GGUF`);
  if (model.byte_fallback === true) throw new GgufTokenizerError('the tokenizer is a SentencePiece-style BPE (byte_fallback); only byte-level BPE tokenizers (GPT-2 style) can be written to GGUF');
  if (json.normalizer !== null && json.normalizer !== undefined) throw new GgufTokenizerError(`the tokenizer has a normalizer ${describe(json.normalizer)}, which llama.cpp's byte-level BPE does not apply`);
  const vocab = model.vocab as Record<string, unknown> | undefined;
  if (!vocab || typeof vocab !== 'object') throw new GgufTokenizerError('the tokenizer has no vocabulary (model.vocab)');
  const rawMerges = Array.isArray(model.merges) ? model.merges : [];
  const merges = rawMerges.map((m) => {
    const pair = Array.isArray(m) ? m : typeof m === 'string' ? m.split(' ') : [];
    if (pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') throw new GgufTokenizerError(`the tokenizer has a malformed merge ${describe(m)}`);
    return `${pair[0]} ${pair[1]}`;
  });
  const pre = preTokenizerName(json.pre_tokenizer, merges.length > 0);
  if (model.ignore_merges === true && pre !== 'llama-bpe' && merges.length > 0) throw new GgufTokenizerError(`the tokenizer ignores merges for whole words (ignore_merges), which llama.cpp does only for the llama-bpe pre-tokenizer, not ${pre}`);

  const byId = new Map<number, [string, number]>();
  const put = (id: unknown, text: string, type: number) => {
    if (!Number.isInteger(id) || (id as number) < 0) throw new GgufTokenizerError(`the tokenizer has a bad id ${describe(id)} for ${describe(text)}`);
    const had = byId.get(id as number);
    if (had && had[0] !== text) throw new GgufTokenizerError(`the tokenizer gives id ${id} to both ${describe(had[0])} and ${describe(text)}`);
    byId.set(id as number, [text, type]);
  };
  for (const [text, id] of Object.entries(vocab)) put(id, text, TOKEN_TYPE.normal);
  for (const a of (Array.isArray(json.added_tokens) ? json.added_tokens : []) as Json[]) {
    if (typeof a?.content !== 'string') throw new GgufTokenizerError(`the tokenizer has a malformed added token ${describe(a)}`);
    put(a.id, a.content, a.special === true ? TOKEN_TYPE.control : TOKEN_TYPE.userDefined);
  }
  const n = Math.max(...byId.keys()) + 1;
  const tokens: string[] = [], types: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = byId.get(i);
    tokens.push(t ? t[0] : `[PAD${i}]`);
    types.push(t ? t[1] : TOKEN_TYPE.unused);
  }
  const idOf = new Map(tokens.map((t, i) => [t, i]));
  if (idOf.size !== tokens.length) throw new GgufTokenizerError('the tokenizer has two ids for the same token string, which llama.cpp cannot tell apart');
  const special = (key: string): number | undefined => {
    const name = tokenName(config[key]);
    return name === undefined ? undefined : idOf.get(name);
  };
  const eos = special('eos_token') ?? eotId;
  const bos = special('bos_token') ?? eos;
  const bosName = bos === undefined ? undefined : tokens[bos];
  const addBos = typeof config.add_bos_token === 'boolean' ? config.add_bos_token : postProcessorAddsBos(json.post_processor, bosName);
  const unk = special('unk_token') ?? (typeof model.unk_token === 'string' ? idOf.get(model.unk_token) : undefined);
  return {
    tokens, types, merges, pre,
    ...(bos !== undefined ? { bos } : {}), ...(eos !== undefined ? { eos } : {}),
    ...(unk !== undefined ? { unk } : {}), ...(special('pad_token') !== undefined ? { pad: special('pad_token') } : {}),
    addBos, addEos: config.add_eos_token === true,
    chatTemplates: chatTemplates(config),
  };
}

// ------------------------------------------------------------------ GPT-2 from its ranks

/**
 * The merges of a byte-level BPE given by ranks (token id = rank, as tiktoken and gpt-tokenizer
 * store GPT-2): the token of rank r is the merge of the two parts that BPE with the ranks below r
 * leaves of its bytes.
 */
export function mergesFromRanks(ranks: Uint8Array[]): string[] {
  const b2u = byteToUnicode();
  const key = (b: Uint8Array) => Buffer.from(b).toString('latin1');
  const rankOf = new Map(ranks.map((b, r) => [key(b), r]));
  const merges: string[] = [];
  for (let r = 256; r < ranks.length; r++) {
    let parts = Array.from(ranks[r]!, (b) => String.fromCharCode(b));
    for (;;) {
      let best = -1, bestRank = r;
      for (let i = 0; i + 1 < parts.length; i++) {
        const rk = rankOf.get(parts[i]! + parts[i + 1]!);
        if (rk !== undefined && rk < bestRank) { bestRank = rk; best = i; }
      }
      if (best < 0) break;
      parts = [...parts.slice(0, best), parts[best]! + parts[best + 1]!, ...parts.slice(best + 2)];
    }
    if (parts.length !== 2) throw new GgufTokenizerError(`token ${r} of the BPE ranks is not the merge of two earlier tokens`);
    merges.push(parts.map((p) => Array.from(p, (ch) => b2u[ch.charCodeAt(0)]).join('')).join(' '));
  }
  return merges;
}

/** GPT-2 (r50k_base: ranks as gpt-tokenizer ships them, id = rank) as a tokenizer.json-like description. */
async function gpt2Json(eotId: number): Promise<Json> {
  const m = (await import('gpt-tokenizer/esm/bpeRanks/r50k_base')) as unknown as { default: (string | number[])[] };
  const ranks = m.default.map((t) => (typeof t === 'string' ? new Uint8Array(Buffer.from(t, 'utf8')) : Uint8Array.from(t)));
  const b2u = byteToUnicode();
  const vocab: Record<string, number> = {};
  ranks.forEach((b, id) => { vocab[Array.from(b, (x) => b2u[x]).join('')] = id; });
  return {
    model: { type: 'BPE', vocab, merges: mergesFromRanks(ranks) },
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, use_regex: true },
    added_tokens: [{ id: eotId, content: '<|endoftext|>', special: true }],
  };
}

/** The byte-level BPE of the tokenizer a model uses. */
export async function byteLevelBpe(tok: Tokenizer): Promise<ByteLevelBpe> {
  if (tok instanceof HfTokenizer) {
    const json = JSON.parse(readFileSync(tok.path, 'utf8')) as Json;
    const config = tok.configPath ? JSON.parse(readFileSync(tok.configPath, 'utf8')) as Json : {};
    return bpeFromTokenizerJson(json, config, tok.eotId);
  }
  if (tok instanceof Gpt2Tokenizer) return bpeFromTokenizerJson(await gpt2Json(tok.eotId), {}, tok.eotId);
  if (tok.kind === 'byte') return bpeFromTokenizerJson(byteTokenizerJson() as Json);
  throw new GgufTokenizerError(`the ${tok.kind} tokenizer has no GGUF form`);
}

/** The `tokenizer.*` metadata of a GGUF file for a model of `vocabSize` rows (unused rows beyond the tokenizer are padding tokens). */
export function tokenizerMetadata(bpe: ByteLevelBpe, vocabSize: number): [string, GgufValue][] {
  if (bpe.tokens.length > vocabSize) throw new GgufTokenizerError(`the tokenizer has ${bpe.tokens.length} tokens but the model's vocab_size is ${vocabSize}`);
  const tokens = [...bpe.tokens], types = [...bpe.types];
  for (let i = tokens.length; i < vocabSize; i++) { tokens.push(`[PAD${i}]`); types.push(TOKEN_TYPE.unused); }
  const ids: [string, number | undefined][] = [['bos', bpe.bos], ['eos', bpe.eos], ['unknown', bpe.unk], ['padding', bpe.pad]];
  return [
    ['tokenizer.ggml.model', gguf.str('gpt2')],
    ['tokenizer.ggml.pre', gguf.str(bpe.pre)],
    ['tokenizer.ggml.tokens', gguf.strings(tokens)],
    ['tokenizer.ggml.token_type', gguf.i32s(types)],
    ['tokenizer.ggml.merges', gguf.strings(bpe.merges)],
    ...ids.filter(([, id]) => id !== undefined).map(([k, id]): [string, GgufValue] => [`tokenizer.ggml.${k}_token_id`, gguf.u32(id!)]),
    ['tokenizer.ggml.add_bos_token', gguf.bool(bpe.addBos)],
    ['tokenizer.ggml.add_eos_token', gguf.bool(bpe.addEos)],
    ...bpe.chatTemplates.map(([name, t]): [string, GgufValue] => [name === undefined ? 'tokenizer.chat_template' : `tokenizer.chat_template.${name}`, gguf.str(t)]),
  ];
}
