import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArrayTokenStream, BatchSampler, loadDatasetTokenizer, openDataset } from '../../src/data/dataset.js';
import { prepareDataset } from '../../src/data/prepare.js';
import { readTokenFile } from '../../src/data/token-file.js';

const root = mkdtempSync(join(tmpdir(), 'growlm-ds-'));
const dir = join(root, 'ds');
afterAll(() => rmSync(root, { recursive: true, force: true }));

beforeAll(async () => {
  const text = Array.from({ length: 400 }, (_, i) => `Paragraph ${i}: the quick brown fox jumps over the lazy dog.`).join('\n\n');
  writeFileSync(join(root, 'corpus.txt'), text);
  await prepareDataset({ inputs: [join(root, 'corpus.txt')], tokenizer: 'byte', outDir: dir, valFraction: 0.02, shardTokens: 4096 });
});

describe('openDataset', () => {
  it('reads meta, shards and val; the stream reads across shard boundaries', () => {
    const ds = openDataset(dir);
    expect(ds.meta.train.shards.length).toBeGreaterThan(3);
    const all = new Uint32Array(ds.meta.train.tokens);
    let o = 0;
    for (const s of ds.meta.train.shards) {
      const t = readTokenFile(join(dir, s.file)).tokens;
      all.set(t, o);
      o += t.length;
    }
    expect(ds.train.length).toBe(all.length);
    expect(Array.from(ds.train.read(4090, 20))).toEqual(Array.from(all.subarray(4090, 4110)));
    expect(Array.from(ds.train.read(0, 3 * 4096 + 5))).toEqual(Array.from(all.subarray(0, 3 * 4096 + 5)));
    expect(ds.val.length).toBe(ds.meta.val.tokens);
    expect(() => ds.train.read(all.length - 2, 3)).toThrow(/outside the stream/);
    // The same through positioned reads from the files.
    const onDisk = openDataset(dir, { maxInMemoryBytes: 0 });
    expect(Array.from(onDisk.train.read(4000, 9000))).toEqual(Array.from(all.subarray(4000, 13000)));
    onDisk.close();
    ds.close();
  });

  it('loads the dataset\'s tokenizer', async () => {
    const tok = await loadDatasetTokenizer(dir);
    const ds = openDataset(dir);
    expect(tok.decode(ds.train.read(0, 11))).toBe('Paragraph 0');
    ds.close();
  });

  it('rejects a folder without meta.json and shards that do not match it', () => {
    expect(() => openDataset(root)).toThrow(/not a prepared dataset/);
  });
});

describe('BatchSampler', () => {
  it('draws windows of seq+1 tokens: targets are inputs shifted by one', () => {
    const tokens = Uint16Array.from({ length: 1000 }, (_, i) => i % 256);
    const s = new BatchSampler(new ArrayTokenStream(tokens, 256), { batch: 4, seq: 16, seed: 1 });
    for (let k = 0; k < 20; k++) {
      const b = s.next();
      expect(b.inputs.length).toBe(64);
      for (let r = 0; r < 4; r++) {
        const first = Number(b.inputs[r * 16]!);
        for (let t = 0; t < 16; t++) {
          expect(Number(b.inputs[r * 16 + t]!)).toBe((first + t) % 256);
          expect(Number(b.targets![r * 16 + t]!)).toBe((first + t + 1) % 256);
        }
      }
    }
  });

  it('is deterministic per seed and resumes exactly from state()', () => {
    const ds = openDataset(dir);
    const a = new BatchSampler(ds.train, { batch: 3, seq: 32, seed: 42 });
    const b = new BatchSampler(ds.train, { batch: 3, seq: 32, seed: 42 });
    const c = new BatchSampler(ds.train, { batch: 3, seq: 32, seed: 43 });
    const ba = a.next(), bb = b.next(), bc = c.next();
    expect(ba.inputs).toEqual(bb.inputs);
    expect(ba.inputs).not.toEqual(bc.inputs);
    for (let i = 0; i < 5; i++) a.next();
    const saved = JSON.parse(JSON.stringify(a.state()));
    const expected = Array.from({ length: 4 }, () => a.next());
    const resumed = new BatchSampler(ds.train, { batch: 3, seq: 32, seed: 999 });
    resumed.restore(saved);
    expect(resumed.step).toBe(6);
    for (const e of expected) {
      const got = resumed.next();
      expect(got.inputs).toEqual(e.inputs);
      expect(got.targets).toEqual(e.targets);
    }
    expect(() => new BatchSampler(ds.train, { batch: 2, seq: 32, seed: 1 }).restore(saved)).toThrow(/batch 3 × seq 32/);
    ds.close();
  });

  it('covers the whole stream, including its last window', () => {
    const tokens = Uint16Array.from({ length: 10 }, (_, i) => i);
    const s = new BatchSampler(new ArrayTokenStream(tokens, 256), { batch: 64, seq: 4, seed: 7 });
    const starts = new Set(Array.from(s.next().inputs.filter((_, i) => i % 4 === 0), Number));
    expect([...starts].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(() => new BatchSampler(new ArrayTokenStream(tokens, 256), { batch: 1, seq: 10, seed: 1 })).toThrow(/fewer than one window/);
  });
});
