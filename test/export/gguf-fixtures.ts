/** Test fixtures for the GGUF export: a small GPT-2-style tokenizer.json cut from GPT-2's own ranks. */
import { createRequire } from 'node:module';
import { mergesFromRanks } from '../../src/export/gguf-tokenizer.js';
import { byteToUnicode } from '../../src/export/tokenizer-files.js';

const require = createRequire(import.meta.url);

/** GPT-2's ranks (id = rank) as gpt-tokenizer ships them. */
export function gpt2Ranks(): Uint8Array[] {
  const ranks = (require('gpt-tokenizer/cjs/bpeRanks/r50k_base') as { default?: (string | number[])[] }).default ?? require('gpt-tokenizer/cjs/bpeRanks/r50k_base');
  return (ranks as (string | number[])[]).map((t) => (typeof t === 'string' ? new Uint8Array(Buffer.from(t, 'utf8')) : Uint8Array.from(t)));
}

/**
 * A Hugging Face tokenizer.json with GPT-2's first `n` tokens (its 256 bytes and n − 256 merges, as GPT-2
 * has them) and `<|endoftext|>` as special token n: a real byte-level BPE, small enough for tests.
 */
export function gpt2TokenizerJson(n: number): object {
  const ranks = gpt2Ranks().slice(0, n);
  const b2u = byteToUnicode();
  const vocab: Record<string, number> = {};
  ranks.forEach((b, id) => { vocab[Array.from(b, (x) => b2u[x]).join('')] = id; });
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [{ id: n, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null, pre_tokenizer: byteLevel, post_processor: byteLevel, decoder: byteLevel,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges: mergesFromRanks(ranks) },
  };
}
