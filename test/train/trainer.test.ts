// The trainer end to end through the CLI: prepare → init → train, stop/resume equality, bad input.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectOneLineError, growlm } from '../cli/run.js';

let tmp: string, data: string, config: string;
const losses = (dir: string) => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'growlm-train-'));
  const corpus = join(tmp, 'corpus');
  mkdirSync(corpus);
  const text = 'It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness, it was the epoch of belief. ';
  for (let i = 0; i < 4; i++) writeFileSync(join(corpus, `book${i}.txt`), `Chapter ${i}. ${text.repeat(40)}`);
  data = join(tmp, 'data');
  const r = growlm('data', 'prepare', '--input', corpus, '--tokenizer', 'byte', '--out', data, '--val-fraction', '0.25');
  expect(r.code, r.stderr).toBe(0);
  config = join(tmp, 'small.json');
  writeFileSync(config, JSON.stringify({ vocab_size: 256, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 2, max_position_embeddings: 32 }));
});

const train = (model: string, ...extra: string[]) =>
  growlm('train', '--model', model, '--data', data, '--steps', '6', '--batch', '2', '--seq', '32', '--lr', '1e-2', '--checkpoint-every', '2', '--eval-every', '3', '--eval-batches', '1', '--threads', '1', '--json', ...extra);

describe('growlm train', () => {
  it('a run stopped and resumed gives the same loss curve as one that was not stopped', () => {
    const a = join(tmp, 'a'), b = join(tmp, 'b');
    for (const m of [a, b]) expect(growlm('init', '--config', config, '--out', m, '--seed', '1').code).toBe(0);
    const straight = train(a);
    expect(straight.code, straight.stderr).toBe(0);
    expect(JSON.parse(straight.stdout).steps).toBe(6);
    const first = train(b, '--stop-at', '3');
    expect(first.code, first.stderr).toBe(0);
    expect(readdirSync(join(b, 'checkpoints'))).toEqual(['step-00000002', 'step-00000003']);
    const second = train(b, '--resume');
    expect(second.code, second.stderr).toBe(0);
    const la = losses(a), lb = losses(b);
    expect(lb.map((e) => e.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(lb.map((e) => e.loss)).toEqual(la.map((e) => e.loss));
    expect(lb[5].val_loss).toBe(la[5].val_loss);
    expect(readFileSync(join(b, 'model.safetensors'))).toEqual(readFileSync(join(a, 'model.safetensors')));
    expect(la[5].loss).toBeLessThan(la[0].loss);
    // the model records the tokenizer it was trained with
    expect(JSON.parse(readFileSync(join(a, 'config.json'), 'utf8')).growlm.tokenizer).toEqual({ kind: 'byte', vocab_size: 256 });
    const ev = growlm('eval', '--model', a, '--data', data, '--seq', '32', '--json');
    expect(ev.code, ev.stderr).toBe(0);
    const e = JSON.parse(ev.stdout);
    expect(e.bpb).toBeCloseTo(e.loss / Math.LN2, 6); // byte tokenizer: one byte per token
    expect(e.perplexity).toBeCloseTo(Math.exp(e.loss), 6);
  });

  it('refuses bad input without touching the last good checkpoint', () => {
    const m = join(tmp, 'c');
    expect(growlm('init', '--config', config, '--out', m).code).toBe(0);
    expect(train(m, '--stop-at', '2').code).toBe(0);
    const ckpt = join(m, 'checkpoints', 'step-00000002', 'model.safetensors');
    const before = readFileSync(ckpt);
    expectOneLineError(train(m), /holds checkpoints of an earlier run: pass --resume/);
    // a checkpoint from another config
    const other = join(tmp, 'other.json');
    writeFileSync(other, JSON.stringify({ vocab_size: 256, hidden_size: 48, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 2, max_position_embeddings: 32 }));
    expect(growlm('init', '--config', other, '--out', m, '--force').code).toBe(0);
    expectOneLineError(train(m, '--resume'), /written for another model config/);
    expect(readFileSync(ckpt)).toEqual(before);
    // model/data vocabulary mismatch
    const narrow = join(tmp, 'narrow.json');
    writeFileSync(narrow, JSON.stringify({ vocab_size: 100, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 32 }));
    const n = join(tmp, 'n');
    expect(growlm('init', '--config', narrow, '--out', n).code).toBe(0);
    expectOneLineError(train(n), /model\/data mismatch: the data uses a byte tokenizer \(vocab 256\) but the model's vocab_size is 100/);
    expect(existsSync(join(n, 'checkpoints'))).toBe(false);
    expectOneLineError(growlm('train', '--model', n, '--data', join(tmp, 'nowhere'), '--steps', '1'), /is not a prepared dataset/);
  });
});
