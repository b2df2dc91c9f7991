// Output paths that cannot be confused: a model directory is not a dataset directory (and the other way
// round), a folder where a file is expected (or the reverse) is a one-line error that leaves no temp
// files; and `growlm report` on a model directory trained by hand.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectOneLineError, growlm } from './run.js';

let tmp: string, data: string, model: string, corpus: string, config: string;
const listing = (dir: string) => readdirSync(dir).sort();

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'growlm-paths-'));
  corpus = join(tmp, 'corpus');
  mkdirSync(corpus);
  const text = 'It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness. ';
  for (let i = 0; i < 4; i++) writeFileSync(join(corpus, `book${i}.txt`), `Chapter ${i}. ${text.repeat(40)}`);
  data = join(tmp, 'data');
  expect(growlm('data', 'prepare', '--input', corpus, '--tokenizer', 'byte', '--out', data, '--val-fraction', '0.25').code).toBe(0);
  config = join(tmp, 'small.json');
  writeFileSync(config, JSON.stringify({ vocab_size: 256, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 2, max_position_embeddings: 32 }));
  model = join(tmp, 'm');
  expect(growlm('init', '--config', config, '--out', model).code).toBe(0);
});

describe('model and dataset directories cannot be confused', () => {
  it('init refuses a dataset directory, data prepare refuses a model directory (also with --force)', () => {
    const before = listing(data);
    for (const force of [[], ['--force']]) expectOneLineError(growlm('init', '--config', config, '--out', data, ...force), /holds a dataset \(meta\.json and token files\), not a model/);
    expect(listing(data)).toEqual(before);
    const modelBefore = listing(model), weights = readFileSync(join(model, 'model.safetensors'));
    for (const force of [[], ['--force']]) {
      expectOneLineError(growlm('data', 'prepare', '--input', corpus, '--tokenizer', 'byte', '--out', model, ...force), /holds a model \(config\.json\), not a dataset/);
    }
    expect(listing(model)).toEqual(modelBefore);
    expect(readFileSync(join(model, 'model.safetensors'))).toEqual(weights);
  });

  it('a file where a folder is expected, and a folder where a file is expected, are one-line errors without temp files', () => {
    const file = join(tmp, 'a-file');
    writeFileSync(file, 'x');
    expectOneLineError(growlm('init', '--config', config, '--out', file), /output .*a-file exists and is not a folder/);
    expectOneLineError(growlm('data', 'prepare', '--input', corpus, '--tokenizer', 'byte', '--out', file), /exists and is not a folder/);
    const folder = join(tmp, 'out.onnx');
    mkdirSync(folder);
    const before = listing(tmp);
    expectOneLineError(growlm('export', '--model', model, '--out', folder), /out\.onnx(: it| is) a (folder|directory)/);
    expect(listing(tmp)).toEqual(before);
    expect(listing(folder)).toEqual([]);
  });
});

describe('growlm report MODEL_DIR', () => {
  it('renders a model directory trained by hand from its metrics', () => {
    const m = join(tmp, 'trained');
    expect(growlm('init', '--config', config, '--out', m).code).toBe(0);
    const t = growlm('train', '--model', m, '--data', data, '--steps', '6', '--batch', '2', '--seq', '32', '--eval-every', '3', '--eval-batches', '1', '--threads', '1', '--json');
    expect(t.code, t.stderr).toBe(0);
    const r = growlm('report', m, '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.out).toBe(join(m, 'report.html'));
    expect(out.warnings).toEqual([]);
    const html = readFileSync(out.out, 'utf8');
    expect(html).toContain('<h1>trained</h1>');
    const d = JSON.parse(/<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(html)![1]!);
    const steps = readFileSync(join(m, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(d.series).toHaveLength(1);
    expect(d.series[0].train.map((p: { x: number }) => p.x)).toEqual(steps.map((e) => e.tokens));
    expect(d.series[0].train.at(-1).y).toBe(Number(steps.at(-1).loss.toPrecision(5)));
    expect(d.series[0].val.map((p: { y: number }) => p.y)).toEqual(steps.filter((e) => e.val_loss !== undefined).map((e) => Number(e.val_loss.toPrecision(5))));
    expect(d.stages).toEqual([expect.objectContaining({ label: 'trained', parameters: 37024 })]);
    expect(html).not.toMatch(/<script[^>]+src=|<link\b/i);
    // an untrained model directory has nothing to report
    expectOneLineError(growlm('report', model), /is a model directory without metrics\.jsonl \(train it first\)/);
    expectOneLineError(growlm('report', join(tmp, 'nowhere')), /is not a run directory/);
    expect(existsSync(join(model, 'report.html'))).toBe(false);
  });
});
