/** The byte tokenizer written as a Hugging Face tokenizer.json gives growlm's byte ids for any text. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteTokenizer } from '../../src/data/tokenizer.js';
import { byteToUnicode, byteTokenizerConfig, byteTokenizerJson } from '../../src/export/tokenizer-files.js';

const growlm = new ByteTokenizer();

/** Strings that include lone surrogates, both halves of pairs, control characters and astral planes. */
const anyText = fc.array(
  fc.oneof(
    fc.string({ unit: 'binary', maxLength: 8 }),
    fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
    fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)),
    fc.constantFrom(' ', '  ', '\n\n', '\r\n', "'s", 'Ġ', 'ĉ', '\u00ad', '\ufeff', '\u0000', ' hello world'),
  ),
  { maxLength: 12 },
).map((parts) => parts.join(''));

describe('byteTokenizerJson', () => {
  it('maps each byte to its own id through the GPT-2 byte-level alphabet', () => {
    const table = byteToUnicode();
    expect(new Set(table).size).toBe(256);
    expect(table[0x41]).toBe('A');
    expect(table[0x20]).toBe('Ġ'); // GPT-2's space
    expect(table[0x0a]).toBe('Ċ');
    const vocab = (byteTokenizerJson() as { model: { vocab: Record<string, number> } }).model.vocab;
    expect(Object.keys(vocab)).toHaveLength(256);
    table.forEach((ch, b) => expect(vocab[ch]).toBe(b));
  });

  it('@huggingface/tokenizers encodes any text to the byte ids and decodes them back', async () => {
    const { Tokenizer } = await import('@huggingface/tokenizers');
    const tok = new Tokenizer(byteTokenizerJson() as any, byteTokenizerConfig(128) as any);
    const fixed = ['', 'Hello, world!', 'naïve café 日本語 🎉', '\ud800', 'a\udfffb', '\ud83d\ude00\ud83d', ' \t\n\r\u000b\u0085\u2028', "it's  we'll"];
    for (const text of fixed) expect(tok.encode(text, { add_special_tokens: false }).ids).toEqual(growlm.encode(text));
    fc.assert(
      fc.property(anyText, (text) => {
        const ids = tok.encode(text, { add_special_tokens: false }).ids;
        expect(ids).toEqual(growlm.encode(text));
        // (the library refuses to decode an empty list)
        if (ids.length > 0) expect(tok.decode(ids as number[], { skip_special_tokens: false })).toBe(growlm.decode(ids as number[]));
      }),
      { numRuns: 500, seed: 12 },
    );
    // every byte sequence, also invalid UTF-8, decodes as growlm decodes it (U+FFFD for invalid bytes)
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 16 }), (bytes) => {
        expect(tok.decode(Array.from(bytes), { skip_special_tokens: false })).toBe(growlm.decode(bytes));
      }),
      { numRuns: 500, seed: 13 },
    );
  });

  it('loads in transformers.js (AutoTokenizer from a local folder) with the same ids', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'growlm-tok-'));
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(byteTokenizerJson()));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(byteTokenizerConfig(128)));
    const { AutoTokenizer, env } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    const tok = await AutoTokenizer.from_pretrained(dir, { local_files_only: true });
    for (const text of ['Hello, world!', 'naïve café 日本語 🎉', 'x\ud800y', '  two  spaces\n']) {
      expect(Array.from(tok.encode(text, { add_special_tokens: false }))).toEqual(growlm.encode(text));
    }
  });
});
