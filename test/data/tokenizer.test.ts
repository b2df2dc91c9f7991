import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ByteTokenizer, loadTokenizer, sha256File } from '../../src/data/tokenizer.js';
import { InvalidSettingError } from '../../src/util/errors.js';
import { tinyBpeTokenizerJson } from './fixtures.js';

const tmp = mkdtempSync(join(tmpdir(), 'growlm-tok-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('byte tokenizer', () => {
  const t = new ByteTokenizer();
  it('encodes UTF-8 bytes and round-trips multi-byte text', () => {
    expect(t.vocabSize).toBe(256);
    expect(t.eotId).toBeUndefined();
    expect(t.encode('Hé')).toEqual([72, 0xc3, 0xa9]);
    for (const s of ['', 'plain ascii', 'naïve café — 東京 🙂 ∑', '\u0000\n\r\t']) expect(t.decode(t.encode(s))).toBe(s);
  });
  it('decodes invalid UTF-8 with replacement characters', () => {
    expect(t.decode([0x61, 0xe6, 0x9d])).toBe('a\ufffd');
    expect(t.decode([0xff, 0x62])).toBe('\ufffdb');
    expect(() => t.decode([256])).toThrow(/outside the byte vocabulary/);
  });
});

describe('gpt2 tokenizer', () => {
  it('gives GPT-2 ids and round-trips', async () => {
    const t = await loadTokenizer('gpt2');
    expect(t.kind).toBe('gpt2');
    expect(t.vocabSize).toBe(50257);
    expect(t.eotId).toBe(50256);
    expect(t.encode('Hello world')).toEqual([15496, 995]);
    expect(t.encode(' the')).toEqual([262]);
    expect(t.decode([15496, 995, 50256])).toBe('Hello world<|endoftext|>');
    const s = 'Multi-byte: naïve café, 東京, emoji 🙂.\n\nNew paragraph.';
    expect(t.decode(t.encode(s))).toBe(s);
  });
  it('decodes each call on its own: a partial character does not leak into the next call', async () => {
    const t = await loadTokenizer('gpt2');
    const ids = t.encode('🙂');
    expect(ids.length).toBe(2);
    expect(t.decode(ids.slice(0, 1))).toBe('\ufffd');
    expect(t.decode([15496])).toBe('Hello');
    expect(t.decode(ids)).toBe('🙂');
  });
  it('encodes literal special-token text as plain text', async () => {
    const t = await loadTokenizer('gpt2');
    const ids = t.encode('a<|endoftext|>b');
    expect(ids).not.toContain(50256);
    expect(t.decode(ids)).toBe('a<|endoftext|>b');
  });
});

describe('tokenizer.json through @huggingface/tokenizers', () => {
  it('loads a tiny BPE tokenizer, encodes known ids, finds the end-of-text token', async () => {
    const path = join(tmp, 'tokenizer.json');
    writeFileSync(path, JSON.stringify(tinyBpeTokenizerJson()));
    const t = await loadTokenizer(path);
    expect(t.kind).toBe('tokenizer.json');
    expect(t.vocabSize).toBe(11);
    expect(t.eotId).toBe(10);
    // merges by rank: " ab" → Ġa → Ġab; "abc" → ab → abc
    expect(t.encode('abc ab!')).toEqual([6, 7, 8]);
    expect(t.decode(t.encode('abc ab!\nab'))).toBe('abc ab!\nab');
    const meta = t.meta();
    expect(meta).toMatchObject({ kind: 'tokenizer.json', vocab_size: 11, eot_id: 10, file: 'tokenizer.json', sha256: sha256File(path) });
    // Loading again from a dataset's meta record resolves the file in the data dir and checks its hash.
    const again = await loadTokenizer(meta, tmp);
    expect(again.encode('abc ab!')).toEqual([6, 7, 8]);
    await expect(loadTokenizer({ ...meta, sha256: '0'.repeat(64) } as typeof meta, tmp)).rejects.toThrow(/sha256/);
  });
  it('uses tokenizer_config.json eos_token when present', async () => {
    const dir = join(tmp, 'withconfig');
    rmSync(dir, { recursive: true, force: true });
    const json = tinyBpeTokenizerJson() as { added_tokens: object[] };
    json.added_tokens.push({ id: 11, content: '</s>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    mkdirSync(dir);
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ eos_token: '</s>' }));
    const t = await loadTokenizer(dir);
    expect(t.eotId).toBe(11);
    expect(t.files.map(([, n]) => n)).toEqual(['tokenizer.json', 'tokenizer_config.json']);
  });
  it('reports tokenizer files that fail to load', async () => {
    const bad = join(tmp, 'bad.json');
    writeFileSync(bad, '{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b c d"]}, "decoder": null');
    await expect(loadTokenizer(bad)).rejects.toThrow(/bad\.json: not valid JSON/);
    writeFileSync(bad, JSON.stringify({ hello: 1 }));
    await expect(loadTokenizer(bad)).rejects.toThrow(/not a Hugging Face tokenizer\.json/);
    writeFileSync(bad, JSON.stringify({ model: { type: 'BPE', vocab: { a: 0 } } }));
    await expect(loadTokenizer(bad)).rejects.toThrow(/bad\.json: the tokenizer failed to load/);
    await expect(loadTokenizer(join(tmp, 'missing.json'))).rejects.toThrow(/cannot read tokenizer .*missing\.json/);
  });
  it('rejects unknown tokenizer specs as usage errors', async () => {
    await expect(loadTokenizer('llama9')).rejects.toBeInstanceOf(InvalidSettingError);
  });
});
