/** `growlm data prepare` end to end, through the built CLI (`npm test` builds dist/ first). */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDataset } from '../../src/data/dataset.js';
import { readTokenFile } from '../../src/data/token-file.js';
import { expectOneLineError, growlm } from '../cli/run.js';
import { tinyBpeTokenizerJson } from './fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'growlm-data-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function corpus(): string {
  const dir = join(root, 'corpus');
  if (existsSync(dir)) return dir;
  mkdirSync(join(dir, 'more'), { recursive: true });
  for (let f = 0; f < 3; f++) {
    const paras = Array.from({ length: 40 }, (_, i) => `Book ${f}, paragraph ${i}. It was a bright cold day in April, and the clocks were striking thirteen.`);
    writeFileSync(join(dir, `book${f}.txt`), paras.join('\n\n') + '\n');
  }
  writeFileSync(join(dir, 'more', 'docs.jsonl'), Array.from({ length: 30 }, (_, i) => JSON.stringify({ text: `Short document number ${i}.` })).join('\n') + '\n');
  return dir;
}

describe('growlm data prepare', () => {
  it('prepares a small corpus (byte tokenizer): meta.json, shards, val, JSON summary', () => {
    const out = join(root, 'out-byte');
    const r = growlm('data', 'prepare', '--input', corpus(), '--out', out, '--val-fraction', '0.05', '--shard-tokens', '4000', '--json');
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ tokenizer: 'byte', vocab_size: 256 });
    for (const k of ['train_tokens', 'val_tokens', 'seconds', 'tokens_per_s', 'shards']) expect(summary).toHaveProperty(k);
    const meta = JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8'));
    expect(meta.tokenizer).toEqual({ kind: 'byte', vocab_size: 256 });
    expect(meta.document_separator).toEqual({ kind: 'text', text: '\n\n' });
    expect(meta.source.file_count).toBe(4);
    expect(meta.train.tokens).toBe(summary.train_tokens);
    expect(meta.train.shards.length).toBe(Math.ceil(meta.train.tokens / 4000));
    expect(meta.train.shards.reduce((a: number, s: { tokens: number }) => a + s.tokens, 0)).toBe(meta.train.tokens);
    expect(meta.val.tokens).toBeGreaterThan(0);
    // byte tokenizer: one token per byte of text
    expect(meta.train.bytes).toBe(meta.train.tokens);
    expect(typeof meta.created).toBe('string');
    expect(meta.throughput.tokens_per_s).toBeGreaterThan(0);
    const val = readTokenFile(join(out, 'val.tok'));
    expect(val.vocabSize).toBe(256);
    expect(val.tokens.length).toBe(meta.val.tokens);
    const ds = openDataset(out);
    expect(ds.train.length).toBe(meta.train.tokens);
    ds.close();
    expect(readdirSync(out).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('copies a tokenizer.json into the dataset and records its hash', () => {
    const tokPath = join(root, 'tok', 'tokenizer.json');
    mkdirSync(join(root, 'tok'), { recursive: true });
    writeFileSync(tokPath, JSON.stringify(tinyBpeTokenizerJson()));
    const txt = join(root, 'abc.txt');
    writeFileSync(txt, Array.from({ length: 800 }, (_, i) => (i % 10 === 9 ? 'abc ab!\n\n' : 'abc ab ')).join(''));
    const out = join(root, 'out-hf');
    const r = growlm('data', 'prepare', '--input', txt, '--tokenizer', tokPath, '--out', out, '--val-fraction', '0.2', '--json');
    expect(r.code, r.stderr).toBe(0);
    const meta = JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8'));
    expect(meta.tokenizer).toMatchObject({ kind: 'tokenizer.json', vocab_size: 11, eot_id: 10, file: 'tokenizer.json' });
    expect(meta.tokenizer.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(readFileSync(join(out, 'tokenizer.json'), 'utf8')).toBe(readFileSync(tokPath, 'utf8'));
    expect(meta.document_separator).toEqual({ kind: 'eot', id: 10 });
  });

  it('fails with one line and leaves nothing behind on bad input', () => {
    const out = join(root, 'out-bad');
    const j = join(root, 'bad.jsonl');
    writeFileSync(j, '{"text": "fine"}\n{"body": "no text"}\n');
    expectOneLineError(growlm('data', 'prepare', '--input', j, '--out', out), /bad\.jsonl:2: no "text" field/);
    expect(existsSync(out)).toBe(false);
    // (other bad inputs are covered through prepareDataset in prepare.test.ts; each CLI start costs ~0.5 s)
    expectOneLineError(growlm('data', 'prepare', '--input', corpus(), '--tokenizer', 'nonsense', '--out', out), /unknown tokenizer "nonsense"/, 2);
    expect(existsSync(out)).toBe(false);
    // an existing dataset needs --force
    expectOneLineError(growlm('data', 'prepare', '--input', corpus(), '--out', join(root, 'out-byte')), /already holds a dataset \(use --force/);
  });
});
