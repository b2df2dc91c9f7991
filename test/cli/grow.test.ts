// growlm grow through the CLI: --check figures, and bad input (one line, non-zero exit, nothing written).
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectOneLineError, growlm } from './run.js';

let tmp: string, model: string;
const cfg = (o: object) => {
  const p = join(tmp, `c-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(p, JSON.stringify({ vocab_size: 256, hidden_size: 128, intermediate_size: 344, num_hidden_layers: 4, num_attention_heads: 4, head_dim: 32, max_position_embeddings: 128, ...o }));
  return p;
};

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'growlm-grow-'));
  model = join(tmp, 'm');
  expect(growlm('init', '--preset', 'tiny', '--out', model, '--seed', '2').code).toBe(0);
});

describe('growlm grow', () => {
  it('grows and checks function preservation on a held-out batch', () => {
    const out = join(tmp, 'g');
    const r = growlm('grow', '--model', model, '--to', cfg({ hidden_size: 192, num_attention_heads: 6, intermediate_size: 500, num_hidden_layers: 6 }), '--out', out, '--check', '--json');
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.max_abs_logit_diff).toBeLessThanOrEqual(1e-5 * s.max_abs_logit);
    expect(Math.abs(s.loss_after - s.loss_before)).toBeLessThanOrEqual(1e-5);
    expect(s.masks.layers.indices).toHaveLength(2);
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).growlm.masks.hidden).toEqual({ from: 128, value: 0 });
    // a grown model with masks exports with the masks baked in: its only input is input_ids
    const onnx = join(tmp, 'g.onnx');
    expect(growlm('export', '--model', out, '--out', onnx).code).toBe(0);
    expect(JSON.parse(growlm('inspect', onnx, '--json').stdout).inputs.map((i: { name: string }) => i.name)).toEqual(['input_ids']);
  });

  it('refuses bad growth with a one-line error and writes nothing', () => {
    const fails = (to: string, pattern: RegExp, extra: string[] = [], code = 1) => {
      const out = join(tmp, `never-${Math.random().toString(36).slice(2)}`);
      expectOneLineError(growlm('grow', '--model', model, '--to', to, '--out', out, ...extra), pattern, code);
      expect(existsSync(out)).toBe(false);
    };
    fails(cfg({ hidden_size: 96, num_attention_heads: 3 }), /cannot shrink hidden_size 128 → 96/);
    fails(cfg({ num_hidden_layers: 2 }), /cannot shrink num_hidden_layers 4 → 2/);
    fails(cfg({ hidden_size: 256, num_attention_heads: 4, head_dim: 64 }), /head_dim must stay 32/);
    fails(cfg({ hidden_size: 200, num_attention_heads: 6 }), /hidden_size 200 is not num_attention_heads 6 × head_dim 32/);
    fails('no-such-preset', /unknown preset "no-such-preset"/);
    // a target for another vocabulary family (the model was trained with the byte tokenizer)
    const byteModel = join(tmp, 'byte');
    expect(growlm('init', '--config', cfg({ growlm: { tokenizer: { kind: 'byte', vocab_size: 256 } } }), '--out', byteModel).code).toBe(0);
    const other = join(tmp, 'never-tok');
    expectOneLineError(growlm('grow', '--model', byteModel, '--to', cfg({ hidden_size: 192, num_attention_heads: 6, growlm: { tokenizer: { kind: 'tokenizer.json', vocab_size: 256, sha256: 'ab' } } }), '--out', other), /another tokenizer/);
    expect(existsSync(other)).toBe(false);
    fails(cfg({ hidden_size: 192, num_attention_heads: 6 }), /--method must be msg, mask-free or clone/, ['--method', 'magic'], 2);
    fails(cfg({ hidden_size: 160, num_attention_heads: 5 }), /clone needs an integer width factor/, ['--method', 'clone']);
    // a model whose masks are still ramping cannot grow again
    const ramping = join(tmp, 'ramping');
    expect(growlm('grow', '--model', model, '--to', cfg({ hidden_size: 192, num_attention_heads: 6 }), '--out', ramping).code).toBe(0);
    expectOneLineError(growlm('grow', '--model', ramping, '--to', cfg({ hidden_size: 256, num_attention_heads: 8 }), '--out', join(tmp, 'again')),
      /the previous growth's masks are still ramping \(hidden at 0\.00, heads at 0\.00\): train until they reach 1/);
    expect(existsSync(join(tmp, 'again'))).toBe(false);
  });
});
