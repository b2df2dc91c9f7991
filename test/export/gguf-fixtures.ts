/** Test fixtures for the GGUF export: small GPT-2-style tokenizer.json files cut from GPT-2's own. */
import { gpt2TokenizerJson } from '../../src/export/tokenizer-files.js';

/** The pre-tokenizer regexes of Llama 3's and Qwen2's tokenizer.json files. */
const SPLITS = {
  llama3: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  qwen2: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
};

type TokenizerJson = { added_tokens: Record<string, unknown>[]; pre_tokenizer: unknown; model: { vocab: Record<string, number>; merges: [string, string][]; ignore_merges: boolean } };

/**
 * A Hugging Face tokenizer.json with GPT-2's first `n` tokens (its 256 bytes and the merges among
 * them) and `<|endoftext|>` as special token n: a real byte-level BPE, small enough for tests. `split`
 * gives it Llama 3's pre-tokenizer (its regex, then ByteLevel without GPT-2's, whole words kept:
 * ignore_merges) or Qwen2's instead of GPT-2's.
 */
export function gpt2SubsetTokenizerJson(n: number, split: 'gpt2' | 'llama3' | 'qwen2' = 'gpt2'): object {
  const full = gpt2TokenizerJson() as TokenizerJson;
  const vocab = Object.fromEntries(Object.entries(full.model.vocab).filter(([, id]) => id < n));
  const kept = (t: string) => Object.prototype.hasOwnProperty.call(vocab, t);
  const merges = full.model.merges.filter(([a, b]) => kept(a) && kept(b) && kept(a + b));
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: split === 'gpt2' };
  const pre = split === 'gpt2' ? byteLevel : { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: SPLITS[split] }, behavior: 'Isolated', invert: false }, byteLevel] };
  return {
    ...full,
    added_tokens: [{ ...full.added_tokens[0], id: n }],
    pre_tokenizer: pre,
    model: { ...full.model, ignore_merges: split === 'llama3', vocab: { ...vocab, '<|endoftext|>': n }, merges },
  };
}
