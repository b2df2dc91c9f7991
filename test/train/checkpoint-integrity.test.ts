// Checkpoint checksums through the CLI: a damaged newest checkpoint is passed over with a warning,
// the resumed run still ends bitwise where an uninterrupted one does; when none is usable, one line.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectOneLineError, growlm } from '../cli/run.js';
import { parseConfig } from '../../src/model/config.js';
import { initWeights } from '../../src/model/weights.js';
import { CheckpointCorruptError, loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.js';
import { latestCheckpoint } from '../../src/train/trainer.js';

let tmp: string, data: string, config: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'growlm-ckpt-'));
  const corpus = join(tmp, 'corpus');
  mkdirSync(corpus);
  for (let i = 0; i < 4; i++) writeFileSync(join(corpus, `${i}.txt`), `Part ${i}. ` + 'The quick brown fox jumps over the lazy dog. '.repeat(60));
  data = join(tmp, 'data');
  expect(growlm('data', 'prepare', '--input', corpus, '--tokenizer', 'byte', '--out', data, '--val-fraction', '0.25').code).toBe(0);
  config = join(tmp, 'small.json');
  writeFileSync(config, JSON.stringify({ vocab_size: 256, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 16 }));
});

const train = (model: string, ...extra: string[]) =>
  growlm('train', '--model', model, '--data', data, '--steps', '6', '--batch', '2', '--lr', '1e-2', '--checkpoint-every', '2', '--eval-every', '0', '--threads', '1', ...extra);

const ckptFile = (m: string, step: number, f = 'model.safetensors') => join(m, 'checkpoints', `step-${String(step).padStart(8, '0')}`, f);

function flipByte(path: string, at: number): void {
  const b = readFileSync(path);
  b[at] ^= 0x01;
  writeFileSync(path, b);
}

function init(name: string): string {
  const m = join(tmp, name);
  expect(growlm('init', '--config', config, '--out', m, '--seed', '3').code).toBe(0);
  return m;
}

describe('checkpoint checksums', () => {
  it('state.json records a sha256 per file; a flipped byte in the newest weights makes resume fall back, same final weights', () => {
    const a = init('a'), b = init('b');
    expect(train(a).code).toBe(0);
    const first = train(b, '--stop-at', '4');
    expect(first.code, first.stderr).toBe(0);
    const state = JSON.parse(readFileSync(ckptFile(b, 4, 'state.json'), 'utf8'));
    expect(Object.keys(state.sha256).sort()).toEqual(['model.safetensors', 'optimizer.safetensors']);
    expect(state.sha256['model.safetensors']).toMatch(/^[0-9a-f]{64}$/);
    // a byte inside the tensor data: the safetensors header still parses, only the checksum notices
    const w = ckptFile(b, 4);
    flipByte(w, statSync(w).size - 5);
    const r = train(b, '--resume');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning: skipped a damaged checkpoint \(.*step-00000004: model\.safetensors does not match its recorded checksum \(corrupt or incomplete\)\); resuming from step-00000002/);
    expect(r.stderr).toMatch(/resuming from step 2/);
    expect(readFileSync(join(b, 'model.safetensors'))).toEqual(readFileSync(join(a, 'model.safetensors')));
  });

  it('a truncated newest optimizer file also falls back; every checkpoint damaged is one line, exit 1', () => {
    const c = init('c');
    expect(train(c, '--stop-at', '4').code).toBe(0);
    const o = ckptFile(c, 4, 'optimizer.safetensors');
    truncateSync(o, statSync(o).size - 100);
    const ok = train(c, '--resume', '--stop-at', '4');
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/step-00000004: optimizer\.safetensors does not match its recorded checksum.*resuming from step-00000002/);
    // the resumed run rewrote step 4 whole
    expect(JSON.parse(readFileSync(ckptFile(c, 4, 'state.json'), 'utf8')).step).toBe(4);
    for (const s of [2, 4]) flipByte(ckptFile(c, s), statSync(ckptFile(c, s)).size - 1);
    expectOneLineError(train(c, '--resume'), /no usable checkpoint to resume from: .*step-00000004: model\.safetensors does not match.*; .*step-00000002: model\.safetensors does not match/);
  });
});

describe('checkpoint checksums (library)', () => {
  it('a truncated state.json and a missing weights file are passed over, newest first, one warning each', () => {
    const dir = mkdtempSync(join(tmpdir(), 'growlm-ckpt-lib-'));
    const c = parseConfig({ vocab_size: 32, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 8 });
    const w = initWeights(c, 1);
    const opt = { step: 0, m: new Map<string, Float32Array>(), v: new Map<string, Float32Array>() };
    for (const s of [1, 2, 3]) saveCheckpoint(dir, c, w, { ...opt, step: s }, { step: s, data: null, trainer: {} }, 3);
    const state3 = ckptFile(dir, 3, 'state.json');
    truncateSync(state3, statSync(state3).size / 2);
    rmSync(ckptFile(dir, 2));
    expect(() => loadCheckpoint(join(dir, 'checkpoints', 'step-00000002'))).toThrow(CheckpointCorruptError);
    const r = latestCheckpoint(dir, c);
    expect(r.checkpoint!.state.step).toBe(1);
    expect(r.warnings).toHaveLength(2);
    expect(r.warnings[0]).toMatch(/step-00000003: missing or unreadable state\.json\); resuming from step-00000001$/);
    expect(r.warnings[1]).toMatch(/step-00000002: model\.safetensors is missing or unreadable\); resuming from step-00000001$/);
  });
});
