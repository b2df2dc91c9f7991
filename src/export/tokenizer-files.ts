/**
 * Tokenizer files for exported models (docs/export.md#tokenizer-files).
 *
 * growlm's byte tokenizer (ids = the UTF-8 bytes of the text, no special tokens) as a Hugging Face
 * `tokenizer.json`: a byte-level BPE whose vocabulary is the 256 byte-to-unicode characters of
 * GPT-2's byte-level alphabet in byte order (byte b ↦ id b) and which has no merges, so every byte
 * stays its own token. The pre-tokenizer does not split the text first (`use_regex: false`: the
 * split would not change the ids, and one piece is the simplest thing to match). Text is turned into
 * bytes by UTF-8 encoding in both implementations; a lone surrogate in a JavaScript string becomes
 * U+FFFD (EF BF BD) in growlm's `Buffer.from(text, 'utf8')` and in the tokenizer's TextEncoder alike.
 */

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
