// Streaming growth of a sharded checkpoint gives exactly what growing the loaded model gives.
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/model/config.js';
import { INDEX_FILE } from '../../src/model/checkpoint-files.js';
import { loadModelDir, saveModelDir } from '../../src/model/model-dir.js';
import { OPTIMIZER_FILE, loadOptimizerState, saveOptimizerState } from '../../src/model/training-state.js';
import { initWeights } from '../../src/model/weights.js';
import { growCheckpointStreaming } from '../../src/passes/grow-checkpoint.js';
import { growModel } from '../../src/passes/grow.js';
import { Rng } from '../../src/util/rng.js';
import { expectOneLineError, growlm } from '../cli/run.js';

const cfg = (d: number, f: number, L: number) => parseConfig({ vocab_size: 64, hidden_size: d, intermediate_size: f, num_hidden_layers: L, num_attention_heads: d / 8, head_dim: 8, max_position_embeddings: 16 });

describe('streaming growth of sharded checkpoints', () => {
  it('matches in-memory growth tensor for tensor, moments included', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'growlm-stream-'));
    const src = join(tmp, 'src'), out = join(tmp, 'out');
    const small = cfg(16, 32, 2), big = cfg(32, 48, 3);
    const weights = initWeights(small, 4);
    saveModelDir(src, { config: small, weights }, 6_000); // several shards of ≤ 6 kB
    expect(existsSync(join(src, INDEX_FILE))).toBe(true);
    expect(readdirSync(src).filter((f) => f.endsWith('.safetensors')).length).toBeGreaterThan(3);
    const rng = new Rng(9);
    const moment = () => new Map([...weights].map(([n, t]) => { const a = new Float32Array(t.data.length); rng.fillNormal(a); return [n, a]; }));
    const optimizer = { step: 7, m: moment(), v: moment() };
    saveOptimizerState(join(src, OPTIMIZER_FILE), weights, optimizer);

    const opts = { method: 'msg' as const, placement: 'interleave' as const, seed: 5, rampSteps: 10, stagger: false };
    const r = growCheckpointStreaming(src, big, opts, out, 10_000);
    expect(existsSync(join(out, INDEX_FILE))).toBe(true);
    const expected = growModel({ config: loadModelDir(src).config, weights: loadModelDir(src).weights, optimizer }, big, opts);
    const got = loadModelDir(out);
    expect(got.config.growth.masks).toEqual(expected.config.growth.masks);
    expect([...got.weights.keys()].sort()).toEqual([...expected.weights.keys()].sort());
    for (const [name, t] of expected.weights) expect(got.weights.get(name)!.data, name).toEqual(t.data);
    const gotOpt = loadOptimizerState(join(out, OPTIMIZER_FILE));
    expect(gotOpt.step).toBe(7);
    for (const [name, m] of expected.optimizer!.m) expect(gotOpt.m.get(name), name).toEqual(m);
    for (const [name, v] of expected.optimizer!.v) expect(gotOpt.v.get(name), name).toEqual(v);
    expect(r.bytesWritten).toBe([...expected.weights.values()].reduce((s, t) => s + t.data.byteLength, 0));
  });

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
