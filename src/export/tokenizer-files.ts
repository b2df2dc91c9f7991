/**
 * Tokenizer files for exported models (docs/hf-export.md#tokenizer-files).
 *
 * growlm's byte tokenizer (ids = the UTF-8 bytes of the text, no special tokens) as a Hugging Face
 * `tokenizer.json`: a byte-level BPE whose vocabulary is the 256 byte-to-unicode characters of
 * GPT-2's byte-level alphabet in byte order (byte b ↦ id b) and which has no merges, so every byte
 * stays its own token. The pre-tokenizer does not split the text first (`use_regex: false`: the
 * split would not change the ids, and one piece is the simplest thing to match). Text is turned into
 * bytes by UTF-8 encoding in both implementations; a lone surrogate in a JavaScript string becomes
 * U+FFFD (EF BF BD) in growlm's `Buffer.from(text, 'utf8')` and in the tokenizer's TextEncoder alike.
 */

import { createRequire } from 'node:module';
import { modelDirTemplate } from '../data/chat-template.js';

/** GPT-2's byte-to-unicode table: printable Latin-1 bytes map to themselves, the rest to U+0100 onwards. */
export function byteToUnicode(): string[] {
  const keep = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = [];
  let n = 0;
  for (let b = 0; b < 256; b++) out.push(String.fromCharCode(keep(b) ? b : 256 + n++));
  return out;
}

/** A Hugging Face tokenizer.json that encodes text to growlm's byte-tokenizer ids (0–255). */
export function byteTokenizerJson(): object {
  const vocab: Record<string, number> = {};
  byteToUnicode().forEach((ch, b) => { vocab[ch] = b; });
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: null,
    decoder: byteLevel,
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: [],
    },
  };
}

/** tokenizer_config.json beside the byte tokenizer.json: a fast tokenizer with no special tokens. */
export function byteTokenizerConfig(maxLength: number): object {
  return {
    tokenizer_class: 'PreTrainedTokenizerFast',
    model_max_length: maxLength,
    clean_up_tokenization_spaces: false,
    add_bos_token: false,
    add_eos_token: false,
    added_tokens_decoder: {},
  };
}

/** GPT-2's end-of-text token, its one special token (id 50256). */
const GPT2_EOT = '<|endoftext|>';

/**
 * GPT-2's tokenizer (growlm's `gpt2`: the r50k ranks shipped by `gpt-tokenizer`) as a Hugging Face
 * tokenizer.json. The vocabulary is each rank's bytes through the byte-to-unicode table; the merges
 * come from the ranks as Hugging Face converts tiktoken tokenizers: every split of a token into two
 * tokens of the vocabulary, in the order of the token's rank, so that the BPE merges the pair whose
 * result ranks lowest, as tiktoken does. The pre-tokenizer is GPT-2's regex split (ByteLevel with
 * `use_regex`), the same pattern as r50k's.
 */
export function gpt2TokenizerJson(): object {
  const ranks = gpt2Ranks();
  const table = byteToUnicode();
  const text = new TextEncoder();
  const tokens = ranks.map((r) => Array.from(typeof r === 'string' ? text.encode(r) : r, (b) => table[b]!).join(''));
  // a Map, not an object: tokens such as "constructor" must not find Object.prototype's members
  const ids = new Map(tokens.map((t, id) => [t, id]));
  const merges: [string, string][] = [];
  for (const t of tokens) {
    const chars = Array.from(t);
    const local: [string, string, number, number][] = [];
    for (let k = 1; k < chars.length; k++) {
      const a = chars.slice(0, k).join(''), b = chars.slice(k).join('');
      const ia = ids.get(a), ib = ids.get(b);
      if (ia !== undefined && ib !== undefined) local.push([a, b, ia, ib]);
    }
    local.sort((x, y) => x[2] - y[2] || x[3] - y[3]);
    for (const [a, b] of local) merges.push([a, b]);
  }
  const vocab = Object.fromEntries([...ids, [GPT2_EOT, ranks.length]]);
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [{ id: ranks.length, content: GPT2_EOT, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges,
    },
  };
}

/** tokenizer_config.json beside GPT-2's tokenizer.json. */
export function gpt2TokenizerConfig(maxLength: number): object {
  const eot = { content: GPT2_EOT, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
  return {
    tokenizer_class: 'GPT2Tokenizer', model_max_length: maxLength, clean_up_tokenization_spaces: false, add_prefix_space: false,
    bos_token: GPT2_EOT, eos_token: GPT2_EOT, unk_token: GPT2_EOT, added_tokens_decoder: { 50256: eot },
  };
}

/** The r50k ranks of the `gpt-tokenizer` package: index = id, the token's text or (not UTF-8) its bytes. */
function gpt2Ranks(): (string | number[])[] {
  const mod = createRequire(import.meta.url)('gpt-tokenizer/bpeRanks/r50k_base') as { default?: (string | number[])[] } | (string | number[])[];
  return Array.isArray(mod) ? mod : mod.default!;
}

/**
 * A generated tokenizer_config.json with the chat template the model directory carries (a fine-tuned
 * model's, see docs/sft.md), if it has one. Only the template travels: the byte and GPT-2 vocabularies
 * hold no special tokens, so bos/eos strings that are not tokens are not written.
 */
export function withModelTemplate(modelDir: string, config: object): object {
  const t = modelDirTemplate(modelDir);
  return t ? { ...config, chat_template: t.source } : config;
}
