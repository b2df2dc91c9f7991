// growModelDir, the one growth of a model directory (growlm grow and plan run): what it writes
// equals growing the loaded model in memory, whether it streams or not; it writes the out directory
// only when everything is ready, and refuses nothing-to-grow and overwrites.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { growModel } from '../../src/growth/grow-model.js';
import { growModelDir } from '../../src/growth/model-dir.js';
import { DEFAULT_RAMP_STEPS } from '../../src/growth/types.js';
import { type ModelConfig, parseConfig } from '../../src/model/config.js';
import { INDEX_FILE } from '../../src/model/checkpoint-files.js';
import { loadModelDir, saveModelDir } from '../../src/model/model-dir.js';
import { OPTIMIZER_FILE, loadOptimizerState, saveOptimizerState } from '../../src/model/training-state.js';
import { initWeights } from '../../src/model/weights.js';
import { Rng } from '../../src/util/rng.js';
import { OutputExistsError } from '../../src/util/errors.js';
import { expectOneLineError, growlm } from '../cli/run.js';

const cfg = (d: number, f: number, L: number, extra: object = {}) => parseConfig({ vocab_size: 64, hidden_size: d, intermediate_size: f, num_hidden_layers: L, num_attention_heads: d / 8, head_dim: 8, max_position_embeddings: 16, ...extra });

/** A source model directory (sharded when shardBytes is finite) with optimizer state; returns what it holds. */
function source(dir: string, c: ModelConfig, shardBytes = Infinity) {
  const weights = initWeights(c, 4);
  saveModelDir(dir, { config: c, weights }, shardBytes);
  const rng = new Rng(9);
  const moment = () => new Map([...weights].map(([n, t]) => { const a = new Float32Array(t.data.length); rng.fillNormal(a); return [n, a]; }));
  const optimizer = { step: 7, m: moment(), v: moment() };
  saveOptimizerState(join(dir, OPTIMIZER_FILE), weights, optimizer);
  return { config: c, weights, optimizer };
}

/** The out directory holds exactly what growing `model` in memory gives. */
function expectGrownAs(out: string, model: ReturnType<typeof source>, target: ModelConfig, opts: Parameters<typeof growModel>[2]) {
  const expected = growModel(model, target, opts);
  const got = loadModelDir(out);
  expect(got.config).toEqual(expected.config);
  expect([...got.weights.keys()].sort()).toEqual([...expected.weights.keys()].sort());
  for (const [name, t] of expected.weights) expect(got.weights.get(name)!.data, name).toEqual(t.data);
  const gotOpt = loadOptimizerState(join(out, OPTIMIZER_FILE));
  expect(gotOpt.step).toBe(7);
  for (const [name, m] of expected.optimizer!.m) expect(gotOpt.m.get(name), name).toEqual(m);
  for (const [name, v] of expected.optimizer!.v) expect(gotOpt.v.get(name), name).toEqual(v);
  return expected;
}

describe('growModelDir', () => {
  const opts = { method: 'msg' as const, placement: 'interleave' as const, seed: 5, rampSteps: 10, stagger: false };

  it('streaming a sharded checkpoint matches in-memory growth tensor for tensor, moments included', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'growlm-stream-'));
    const src = join(tmp, 'src'), out = join(tmp, 'out');
    const small = cfg(16, 32, 2), big = cfg(32, 48, 3);
    const model = source(src, small, 6_000); // several shards of ≤ 6 kB
    expect(existsSync(join(src, INDEX_FILE))).toBe(true);
    expect(readdirSync(src).filter((f) => f.endsWith('.safetensors')).length).toBeGreaterThan(3);
    const r = await growModelDir({ model: src, out, to: big, ...opts, shardBytes: 10_000 });
    expect(r.streamed).toBe(true);
    expect(existsSync(join(out, INDEX_FILE))).toBe(true);
    const expected = expectGrownAs(out, model, big, opts);
    expect(r.masks).toEqual(expected.config.growth.masks);
    expect(r.bytes_written).toBe([...expected.weights.values()].reduce((s, t) => s + t.data.byteLength, 0));
    expect(readdirSync(tmp).sort()).toEqual(['out', 'src']); // no temporary directory left
  });

  it('in memory: writes what growModel gives, copies tokenizer files, and records the check', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'growlm-growdir-'));
    const src = join(tmp, 'src'), out = join(tmp, 'out');
    const tokenizer = { kind: 'tokenizer.json', file: 'tokenizer.json', vocab_size: 64, sha256: 'ab' };
    const small = cfg(16, 32, 2, { growlm: { tokenizer } }), big = cfg(24, 40, 3);
    const model = source(src, small);
    writeFileSync(join(src, 'tokenizer.json'), '{"model": "stand-in"}');
    const r = await growModelDir({ model: src, out, to: big, ...opts, check: true });
    expect(r.streamed).toBe(false);
    expectGrownAs(out, model, big, opts);
    expect(readFileSync(join(out, 'tokenizer.json'), 'utf8')).toBe('{"model": "stand-in"}');
    expect(r.from).toEqual({ hidden_size: 16, intermediate_size: 32, num_hidden_layers: 2, num_attention_heads: 2, vocab_size: 64 });
    expect(r.to).toEqual({ hidden_size: 24, intermediate_size: 40, num_hidden_layers: 3, num_attention_heads: 3, vocab_size: 64 });
    expect(r.check_batch).toBe('random tokens'); // no dataset given
    expect(r.max_abs_logit_diff).toBeLessThanOrEqual(1e-5 * r.max_abs_logit);
    expect(r.max_abs_logit).toBeGreaterThan(0);
    expect(Math.abs(r.loss_after - r.loss_before)).toBeLessThanOrEqual(1e-5);
  });

  it('uses DEFAULT_RAMP_STEPS when no ramp is given', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'growlm-ramp-'));
    source(join(tmp, 'src'), cfg(16, 32, 1));
    const r = await growModelDir({ model: join(tmp, 'src'), out: join(tmp, 'out'), to: cfg(16, 48, 1) });
    expect(r.masks!.ramp).toEqual({ start: 0, steps: DEFAULT_RAMP_STEPS, stagger: false });
    expect(r.check_batch).toBeNull();
    expect(r.max_abs_logit_diff).toBeNaN();
  });

  it('refuses nothing to grow and an existing model; --force replaces a sharded model with a single file', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'growlm-force-'));
    const src = join(tmp, 'src'), out = join(tmp, 'out');
    const model = source(src, cfg(16, 32, 1));
    await expect(growModelDir({ model: src, out, to: cfg(16, 32, 1), toName: 'same.json' })).rejects.toThrow(`nothing to grow: same.json has the same sizes as ${src}`);
    expect(existsSync(out)).toBe(false);
    source(out, cfg(16, 32, 1), 3_000); // a sharded model already in out, with files the new one does not have
    mkdirSync(join(out, 'checkpoints'));
    expect(readdirSync(out).filter((f) => f.startsWith('model-')).length).toBeGreaterThan(1);
    await expect(growModelDir({ model: src, out, to: cfg(16, 48, 1) })).rejects.toThrow(OutputExistsError);
    await growModelDir({ model: src, out, to: cfg(16, 48, 1), ...opts, force: true });
    expect(readdirSync(out).sort()).toEqual(['checkpoints', 'config.json', 'model.safetensors', 'optimizer.safetensors']);
    expectGrownAs(out, model, cfg(16, 48, 1), opts);
  });
});

describe('growlm grow streams', () => {
  it('the CLI streams sharded sources and refuses --check with streaming', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'growlm-stream-cli-'));
    const src = join(tmp, 'src');
    expect(growlm('init', '--preset', 'tiny', '--out', src, '--shard-size', '1').code).toBe(0);
    expect(existsSync(join(src, INDEX_FILE))).toBe(true);
    const big = join(tmp, 'big.json');
    writeFileSync(big, JSON.stringify({ vocab_size: 256, hidden_size: 192, intermediate_size: 512, num_hidden_layers: 5, num_attention_heads: 6, head_dim: 32, max_position_embeddings: 128 }));
    const r = growlm('grow', '--model', src, '--to', big, '--out', join(tmp, 'out'), '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).streamed).toBe(true);
    expect(JSON.parse(readFileSync(join(tmp, 'out', 'config.json'), 'utf8')).num_hidden_layers).toBe(5);
    expectOneLineError(growlm('grow', '--model', src, '--to', big, '--out', join(tmp, 'o2'), '--check'), /cannot be combined with streaming/, 2);
    // a sharded model directory evaluates like any other
    expect(growlm('inspect', join(tmp, 'out'), '--json').code).toBe(0);
  });
});
