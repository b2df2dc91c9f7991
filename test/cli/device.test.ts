// --device through every command that runs sessions, --optimizer graph and --precision float16 through train.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { pickProvider } from '../../src/runtime/session.js';
import { expectOneLineError, growlm } from './run.js';

let tmp: string, data: string, model: string;
const metrics = (dir: string) => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const { provider: detected } = await pickProvider();
const cudaPresent = detected === 'cuda';
if (cudaPresent) console.log('skipping the missing-provider messages: this install has the CUDA provider');

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'growlm-device-'));
  const corpus = join(tmp, 'corpus');
  mkdirSync(corpus);
  const text = 'It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness. ';
  for (let i = 0; i < 3; i++) writeFileSync(join(corpus, `book${i}.txt`), `Chapter ${i}. ${text.repeat(30)}`);
  data = join(tmp, 'data');
  expect(growlm('data', 'prepare', '--input', corpus, '--tokenizer', 'byte', '--out', data, '--val-fraction', '0.25').code).toBe(0);
  writeFileSync(join(tmp, 'small.json'), JSON.stringify({ vocab_size: 256, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 2, max_position_embeddings: 32 }));
  model = join(tmp, 'm');
  expect(growlm('init', '--config', join(tmp, 'small.json'), '--out', model, '--seed', '1').code).toBe(0);
  expect(growlm('train', '--model', model, '--data', data, '--steps', '2', '--batch', '2', '--seq', '16', '--threads', '1', '--json').code).toBe(0);
});

const train = (dir: string, ...extra: string[]) =>
  growlm('train', '--model', dir, '--data', data, '--steps', '6', '--batch', '2', '--seq', '32', '--lr', '1e-2', '--checkpoint-every', '2', '--eval-every', '3', '--eval-batches', '1', '--threads', '1', '--json', ...extra);

describe('--device', () => {
  it.skipIf(cudaPresent)('cuda without the CUDA provider: one line naming the install command in train, eval, grow --check, generate, serve and bench; nothing written', () => {
    const before = readdirSync(model).sort();
    const install = /--device cuda: the cuda execution provider is not available: reinstall with ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci \(needs CUDA 12 \+ cuDNN 9 on the host\)/;
    const out = join(tmp, 'grown');
    const runs = [
      ['train', '--model', model, '--data', data, '--steps', '4', '--restart'],
      ['eval', '--model', model, '--data', data],
      ['grow', '--model', model, '--hidden', '48', '--heads', '3', '--out', out, '--check'],
      ['generate', '--model', model, '--prompt', 'It was'],
      ['serve', '--model', model, '--port', '0'],
      ['bench', 'train', '--config', join(tmp, 'small.json'), '--steps', '1', '--warmup', '0'],
    ];
    for (const args of runs) expectOneLineError(growlm(...args, '--device', 'cuda'), install);
    expect(readdirSync(model).sort()).toEqual(before);
    expect(existsSync(out)).toBe(false);
  }, 300_000);

  it('auto says what it picked and runs there', () => {
    const ev = growlm('eval', '--model', model, '--data', data, '--seq', '16', '--device', 'auto', '--json');
    expect(ev.code, ev.stderr).toBe(0);
    expect(ev.stderr).toContain(`--device auto: using ${detected} (`);
    if (!cudaPresent) expect(ev.stderr).toContain('no CUDA execution provider (for a GPU: reinstall with ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci');
    expect(JSON.parse(ev.stdout).loss).toBeGreaterThan(0);
    const grown = growlm('grow', '--model', model, '--hidden', '48', '--heads', '3', '--out', join(tmp, 'g2'), '--check', '--data', data, '--device', 'auto', '--json');
    expect(grown.code, grown.stderr).toBe(0);
    expect(JSON.parse(grown.stdout).max_abs_logit_diff).toBeLessThan(1e-4);
  }, 300_000);
});

describe('train --optimizer graph and --precision float16', () => {
  it('the in-graph AdamW trains exactly as the JavaScript one, and stops and resumes exactly', () => {
    const a = join(tmp, 'js'), b = join(tmp, 'graph');
    for (const m of [a, b]) expect(growlm('init', '--config', join(tmp, 'small.json'), '--out', m, '--seed', '2').code).toBe(0);
    expect(train(a).code).toBe(0);
    const first = train(b, '--optimizer', 'graph', '--stop-at', '3');
    expect(first.code, first.stderr).toBe(0);
    const second = train(b, '--optimizer', 'graph', '--resume');
    expect(second.code, second.stderr).toBe(0);
    expect(metrics(b).map((e) => e.loss)).toEqual(metrics(a).map((e) => e.loss));
    expect(metrics(b)[5].val_loss).toBe(metrics(a)[5].val_loss);
    expect(readFileSync(join(b, 'model.safetensors'))).toEqual(readFileSync(join(a, 'model.safetensors')));
    expect(readFileSync(join(b, 'optimizer.safetensors'))).toEqual(readFileSync(join(a, 'optimizer.safetensors')));
  }, 300_000);

  it('float16 records its loss scale, which a resumed run continues from', () => {
    const a = join(tmp, 'f16a'), b = join(tmp, 'f16b');
    for (const m of [a, b]) expect(growlm('init', '--config', join(tmp, 'small.json'), '--out', m, '--seed', '3').code).toBe(0);
    expect(train(a, '--precision', 'float16').code).toBe(0);
    expect(train(b, '--precision', 'float16', '--stop-at', '3').code).toBe(0);
    const state = JSON.parse(readFileSync(join(b, 'checkpoints', 'step-00000003', 'state.json'), 'utf8'));
    expect(state.trainer.loss_scale).toEqual({ scale: 65536, good: 3 });
    expect(train(b, '--precision', 'float16', '--resume').code).toBe(0);
    const ma = metrics(a), mb = metrics(b);
    expect(ma.map((e) => e.loss_scale)).toEqual(new Array(6).fill(65536));
    expect(mb.map((e) => e.loss)).toEqual(ma.map((e) => e.loss));
    expect(readFileSync(join(b, 'model.safetensors'))).toEqual(readFileSync(join(a, 'model.safetensors')));
  }, 300_000);
});
