/** Test fixtures for the GGUF export: a small GPT-2-style tokenizer.json cut from GPT-2's own ranks. */
import { gpt2Ranks, mergesFromRanks } from '../../src/export/gguf-tokenizer.js';
import { byteToUnicode } from '../../src/export/tokenizer-files.js';

/** The pre-tokenizer regexes of Llama 3's and Qwen2's tokenizer.json files. */
const SPLITS = {
  llama3: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  qwen2: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
};

/**
 * A Hugging Face tokenizer.json with GPT-2's first `n` tokens (its 256 bytes and n − 256 merges, as GPT-2
 * has them) and `<|endoftext|>` as special token n: a real byte-level BPE, small enough for tests. `split` gives it
 * Llama 3's pre-tokenizer (its regex, then ByteLevel without GPT-2's, whole words kept: ignore_merges)
 * or Qwen2's instead of GPT-2's.
 */
export async function gpt2TokenizerJson(n: number, split: 'gpt2' | 'llama3' | 'qwen2' = 'gpt2'): Promise<object> {
  const ranks = (await gpt2Ranks()).slice(0, n);
  const b2u = byteToUnicode();
  const vocab: Record<string, number> = {};
  ranks.forEach((b, id) => { vocab[Array.from(b, (x) => b2u[x]).join('')] = id; });
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: split === 'gpt2' };
  const pre = split === 'gpt2' ? byteLevel : { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: SPLITS[split] }, behavior: 'Isolated', invert: false }, byteLevel] };
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [{ id: n, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null, pre_tokenizer: pre, post_processor: byteLevel, decoder: byteLevel,
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false,
      ignore_merges: split === 'llama3', vocab, merges: mergesFromRanks(ranks),
    },
  };
}
