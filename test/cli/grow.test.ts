// growlm grow through the CLI: --check figures, and bad input (one line, non-zero exit, nothing written).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RAMP_STEPS } from '../../src/growth/types.js';
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

describe('growlm grow: targets, check batch, default ramp', () => {
  const grow = (...extra: string[]) => growlm('grow', '--model', model, '--out', join(tmp, `o-${Math.random().toString(36).slice(2)}`), ...extra);

  it('refuses to grow to the same size', () => {
    const same = cfg({});
    expectOneLineError(grow('--to', same), new RegExp(`nothing to grow: ${same.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} has the same sizes as ${model.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
    expectOneLineError(grow('--layers', '4'), /nothing to grow: --layers 4 has the same sizes as/);
  });

  it('takes size overrides, alone or on top of --to; refuses a smaller override and no target at all', () => {
    let r = grow('--hidden', '192', '--layers', '6', '--json');
    expect(r.code, r.stderr).toBe(0);
    let s = JSON.parse(r.stdout);
    expect(s.to).toEqual({ hidden_size: 192, intermediate_size: 344, num_hidden_layers: 6, num_attention_heads: 6, vocab_size: 256 });
    expect(JSON.parse(readFileSync(join(s.out, 'config.json'), 'utf8'))).toMatchObject({ hidden_size: 192, num_attention_heads: 6, num_key_value_heads: 6, num_hidden_layers: 6 });
    r = grow('--to', cfg({ hidden_size: 192, num_attention_heads: 6 }), '--ffn', '600', '--json');
    expect(r.code, r.stderr).toBe(0);
    s = JSON.parse(r.stdout);
    expect([s.to.hidden_size, s.to.intermediate_size, s.to.num_hidden_layers]).toEqual([192, 600, 4]);
    expectOneLineError(grow('--hidden', '96'), /--hidden 96 is smaller than the model's hidden_size 128/);
    expectOneLineError(grow('--to', cfg({ hidden_size: 192, num_attention_heads: 6 }), '--layers', '3'), /--layers 3 is smaller than the model's num_hidden_layers 4/);
    expectOneLineError(grow(), /give --to PRESET\|FILE and\/or size overrides/, 2);
  });

  it('--check says whether it ran on held-out data or on random tokens', () => {
    let r = grow('--ffn', '400', '--check');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^check on random tokens, not held-out text \(give --data DIR\): max \|Δlogit\|/m);
    r = grow('--ffn', '400', '--check', '--json');
    expect(JSON.parse(r.stdout).check_batch).toBe('random tokens');
    const corpus = join(tmp, 'corpus'), data = join(tmp, 'data');
    mkdirSync(corpus);
    for (let i = 0; i < 4; i++) writeFileSync(join(corpus, `d${i}.txt`), 'It was the best of times, it was the worst of times. '.repeat(50));
    expect(growlm('data', 'prepare', '--input', corpus, '--out', data, '--val-fraction', '0.2').code).toBe(0);
    r = grow('--ffn', '400', '--check', '--data', data, '--json');
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.check_batch).toBe('held-out');
    expect(s.max_abs_logit_diff).toBeLessThanOrEqual(1e-5 * s.max_abs_logit);
    expect(grow('--ffn', '400', '--check', '--data', data).stdout).toMatch(/^check on held-out data: /m);
  });

  it('grow and plan run ramp the masks over the same default number of steps', () => {
    const r = grow('--ffn', '400', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).masks.ramp.steps).toBe(DEFAULT_RAMP_STEPS);
    // a plan stage that sets no ramp_steps
    const dir = join(tmp, 'plan');
    mkdirSync(join(dir, 'corpus'), { recursive: true });
    for (let i = 0; i < 4; i++) writeFileSync(join(dir, 'corpus', `d${i}.txt`), 'The quick brown fox jumps over the lazy dog. '.repeat(20));
    const small = { vocab_size: 256, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, head_dim: 8, max_position_embeddings: 16 };
    writeFileSync(join(dir, 's1.json'), JSON.stringify(small));
    writeFileSync(join(dir, 's2.json'), JSON.stringify({ ...small, intermediate_size: 48 }));
    writeFileSync(join(dir, 'p.plan.json'), JSON.stringify({
      name: 'ramp', data: { input: 'corpus', tokenizer: 'byte', val_fraction: 0.25 }, defaults: { batch: 1, seq: 8, eval_batches: 1 },
      stages: [{ name: 'a', model: 's1.json', train: { steps: 1 } }, { name: 'b', model: 's2.json', grow: { method: 'msg' }, train: { steps: 1 } }],
    }));
    const p = growlm('plan', 'run', join(dir, 'p.plan.json'), '--out', join(dir, 'run'), '--threads', '1', '--json');
    expect(p.code, p.stderr).toBe(0);
    const growth = JSON.parse(p.stdout).stages[1].growth;
    expect(growth.masks.ramp.steps).toBe(DEFAULT_RAMP_STEPS);
    expect(growth.check_batch).toBe('held-out');
    expect(growlm('grow', '--help').stdout).toMatch(new RegExp(`--ramp-steps N .*default: ${DEFAULT_RAMP_STEPS}\\)`));
  });
});
