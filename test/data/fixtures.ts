/** Test fixtures shared by the data tests. */

/** A tiny byte-level BPE tokenizer.json (GPT-2 style), with an end-of-text special token. */
export function tinyBpeTokenizerJson(): object {
  const vocab: Record<string, number> = { a: 0, b: 1, c: 2, 'Ġ': 3, ab: 4, 'Ġa': 5, abc: 6, 'Ġab': 7, '!': 8, 'Ċ': 9 };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ id: 10, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges: ['Ġ a', 'Ġa b', 'a b', 'ab c'] },
  };
}
