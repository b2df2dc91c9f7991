// End-to-end CLI runs of init / inspect / eval / export, and the bad-input contract.
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeTokenFile } from '../../src/data/token-file.js';
import { COMMAND_NAMES } from './commands.js';
import { expectOneLineError, growlm } from './run.js';

let tmp: string;
let model: string;
let tokens: string;
const TEXT = 'It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness. ';

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'growlm-cli-'));
  model = join(tmp, 'tiny');
  tokens = join(tmp, 'text.tok');
  writeTokenFile(tokens, Buffer.from(TEXT.repeat(12), 'latin1'), 256);
  const r = growlm('init', '--preset', 'tiny', '--out', model, '--seed', '3');
  expect(r.code, r.stderr).toBe(0);
});

describe('growlm CLI', () => {
  it('prints help for the program and every subcommand', () => {
    const top = growlm('--help');
    expect(top.code).toBe(0);
    for (const name of COMMAND_NAMES) {
      expect(top.stdout).toContain(name);
      const r = growlm(...name.split(' '), '--help');
      expect(r.code, name).toBe(0);
      expect(r.stdout).toContain(`usage: growlm ${name}`);
    }
    expect(growlm().code).toBe(2);
    expectOneLineError(growlm('frobnicate'), /unknown command "frobnicate"/, 2);
    expectOneLineError(growlm('init', '--bogus'), /Unknown option '--bogus'/, 2);
    expectOneLineError(growlm('init', '--preset', 'tiny'), /--out is required/, 2);
  });

  it('init writes an HF-layout model directory; inspect reads it', () => {
    const config = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ model_type: 'llama', vocab_size: 256, hidden_size: 128, num_hidden_layers: 4, num_attention_heads: 4, head_dim: 32, intermediate_size: 344, input_mult: 1, output_mult: 1, mup_scale_factor: 1 });
    const r = growlm('inspect', model, '--json');
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.parameters).toBe(857216);
    expect(s.tensors.map((t: { name: string }) => t.name)).toContain('model.layers.3.mlp.down_proj.weight');
    expectOneLineError(growlm('init', '--preset', 'tiny', '--out', model), /already holds a model/);
  });

  it('eval reports the loss of an untrained model near ln(vocab)', () => {
    const r = growlm('eval', '--model', model, '--tokens', tokens, '--seq', '64', '--batch', '4', '--json', '--logits');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    // random logits (init std 0.02) add a little to ln(256) = 5.545
    expect(out.loss).toBeGreaterThan(Math.log(256));
    expect(out.loss).toBeLessThan(Math.log(256) + 0.3);
    expect(out.perplexity).toBeCloseTo(Math.exp(out.loss), 6);
    expect(out.tokens).toBe(Math.floor((TEXT.length * 12) / 65) * 64);
    expect(out.logits.shape).toEqual([4, 64, 256]);
  });

  it('export writes a self-contained ONNX file (inline and with external data)', () => {
    const onnx = join(tmp, 'tiny.onnx');
    expect(growlm('export', '--model', model, '--out', onnx).code).toBe(0);
    const s = JSON.parse(growlm('inspect', onnx, '--json').stdout);
    expect(s.inputs.map((i: { name: string }) => i.name)).toEqual(['input_ids']);
    expect(s.outputs[0]).toMatchObject({ name: 'logits', shape: ['batch', 'seq', 256] });
    expect(s.parameters).toBeGreaterThanOrEqual(857216);
    expect(s.op_counts.Gemm).toBe(4 * 5 + 1); // per layer: fused q/k/v, o, gate, up, down; plus the head
    const ext = join(tmp, 'ext', 'tiny.onnx');
    const r = growlm('export', '--model', model, '--out', ext, '--external-data', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(`${ext}.data`)).toBe(true);
    const s2 = JSON.parse(growlm('inspect', ext, '--json').stdout);
    expect(s2.parameters).toBe(s.parameters);
  });

  const suite = '/usr/share/libonnx-testdata/data/node/test_gemm_default_single_elem_vector_bias/model.onnx';
  it.skipIf(!existsSync(suite))('inspect reads a model growlm did not write (ONNX conformance suite)', () => {
    const r = growlm('inspect', suite, '--json');
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.op_counts).toEqual({ Gemm: 1 });
    expect(s.producer).toBe('backend-test');
  });
});

describe('bad input: one-line error, non-zero exit, nothing written', () => {
  const cfg = (o: object) => {
    const p = join(tmp, `cfg-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(p, JSON.stringify({ vocab_size: 64, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 4, max_position_embeddings: 16, ...o }));
    return p;
  };
  const initFails = (args: string[], pattern: RegExp) => {
    const out = join(tmp, `never-${Math.random().toString(36).slice(2)}`);
    expectOneLineError(growlm('init', ...args, '--out', out), pattern);
    expect(existsSync(out)).toBe(false);
  };

  it('invalid configs and presets', () => {
    initFails(['--config', cfg({ hidden_size: 30 })], /hidden_size 30 is not divisible by num_attention_heads 4/);
    initFails(['--config', cfg({ num_hidden_layers: 0 })], /"num_hidden_layers" must be a positive integer, got 0/);
    initFails(['--config', cfg({ vocab_size: -5 })], /"vocab_size" must be a positive integer, got -5/);
    initFails(['--config', cfg({ intermediate_size: 1.5 })], /"intermediate_size" must be a positive integer/);
    initFails(['--config', cfg({ head_dim: 7 })], /head_dim 7 must be even/);
    initFails(['--config', cfg({ num_key_value_heads: 3 })], /num_key_value_heads 3 does not divide num_attention_heads 4/);
    initFails(['--preset', 'giant'], /unknown preset "giant" \(known: .*tiny/);
    initFails(['--preset', 'tele-flm-1t'], /1083\.8B parameters .* GiB/);
    const notJson = join(tmp, 'bad.json');
    writeFileSync(notJson, '{ "vocab_size": ');
    initFails(['--config', notJson], /not valid JSON/);
  });

  function corruptModel(name: string, mutate: (bytes: Buffer) => Buffer): string {
    const dir = join(tmp, name);
    expect(growlm('init', '--preset', 'tiny', '--out', dir).code).toBe(0);
    const p = join(dir, 'model.safetensors');
    writeFileSync(p, mutate(readFileSync(p)));
    return dir;
  }

  function header(bytes: Buffer): { json: any; n: number } {
    const n = Number(bytes.readBigUInt64LE(0));
    return { json: JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')), n };
  }

  function withHeader(bytes: Buffer, json: object): Buffer {
    let text = JSON.stringify(json);
    text += ' '.repeat((8 - (text.length % 8)) % 8);
    const h = Buffer.alloc(8);
    h.writeBigUInt64LE(BigInt(text.length));
    return Buffer.concat([h, Buffer.from(text), bytes.subarray(8 + header(bytes).n)]);
  }

  it('malformed safetensors', () => {
    const evalFails = (dir: string, pattern: RegExp) => {
      const before = readdirSync(dir).sort();
      expectOneLineError(growlm('eval', '--model', dir, '--tokens', tokens, '--seq', '16'), pattern);
      expect(readdirSync(dir).sort()).toEqual(before);
    };
    evalFails(corruptModel('truncated', (b) => b.subarray(0, b.length - 100)), /truncated \(data ends at byte \d+, file has \d+\)/);
    evalFails(corruptModel('badlen', (b) => { const c = Buffer.from(b); c.writeBigUInt64LE(BigInt(b.length * 2)); return c; }), /bad header length/);
    evalFails(corruptModel('overlap', (b) => {
      const { json } = header(b);
      const names = Object.keys(json).filter((k) => k !== '__metadata__');
      const [a, c] = [json[names[1]!], json[names[2]!]];
      const size = c.data_offsets[1] - c.data_offsets[0];
      c.data_offsets = [a.data_offsets[0], a.data_offsets[0] + size];
      return withHeader(b, json);
    }), /overlaps another tensor|hole in the data/);
    evalFails(corruptModel('dtype', (b) => {
      const { json } = header(b);
      const e = json['model.norm.weight'];
      e.dtype = 'F16';
      e.shape = [e.shape[0] * 2];
      return withHeader(b, json);
    }), /model\.norm\.weight is float16, expected float32|model\.norm\.weight has shape/);
    evalFails(corruptModel('baddtype', (b) => {
      const { json } = header(b);
      json['model.norm.weight'].dtype = 'Q4';
      return withHeader(b, json);
    }), /unsupported dtype "Q4"/);
    evalFails(corruptModel('garbage', () => Buffer.from('not a safetensors file at all')), /bad header length/);
  });

  it('malformed ONNX files', () => {
    const p = join(tmp, 'junk.onnx');
    writeFileSync(p, Buffer.from([0x08, 0x07, 0x12, 0xff, 0xff, 0xff, 0x0f, 0x01]));
    expectOneLineError(growlm('inspect', p), /not a valid ONNX model/);
    const empty = join(tmp, 'empty.onnx');
    writeFileSync(empty, Buffer.alloc(0));
    expectOneLineError(growlm('inspect', empty), /not a valid ONNX model/);
    expectOneLineError(growlm('inspect', join(tmp, 'missing.onnx')), /does not exist/);
  });

  it('token ids outside the vocabulary and malformed token files', () => {
    const wide = join(tmp, 'wide.tok');
    writeTokenFile(wide, [1, 2, 3, 300, 5, 6], 512);
    expectOneLineError(growlm('eval', '--model', model, '--tokens', wide, '--seq', '2'), /token id 300 at position 3 is outside the model's vocabulary \(size 256\)/);
    const bad = join(tmp, 'bad.tok');
    writeFileSync(bad, 'GLMTOK01\u0002\u0000\u0000\u0000\u0000\u0001\u0000\u0000abc');
    expectOneLineError(growlm('eval', '--model', model, '--tokens', bad), /truncated/);
    const alien = join(tmp, 'alien.tok');
    writeFileSync(alien, 'hello world, not tokens');
    expectOneLineError(growlm('eval', '--model', model, '--tokens', alien), /not a growlm token file/);
    expectOneLineError(growlm('eval', '--model', model, '--tokens', tokens, '--seq', '999'), /exceeds the model's max_position_embeddings 128/);
  });
});
