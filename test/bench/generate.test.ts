// `growlm bench generate`: the figures it promises, and the baselines it runs compute the same model:
// PyTorch's and llama.cpp's greedy tokens are growlm's, on a folded μP model.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { plainLlama } from '../../src/export/fold.js';
import { exportGguf } from '../../src/export/gguf.js';
import { benchPrompt, cachedRound } from '../../src/generate/bench.js';
import { parseConfig } from '../../src/model/config.js';
import { saveModelDir } from '../../src/model/model-dir.js';
import { initWeights } from '../../src/model/weights.js';
import { KvSession } from '../../src/runtime/kv-session.js';
import { expectOneLineError, growlm } from '../cli/run.js';

const PYTHON = '/usr/bin/python3';
const hasTorch = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;

describe('growlm bench generate', () => {
  it('reports prefill, decode and concurrent figures as JSON', () => {
    const r = growlm('bench', 'generate', '--preset', 'tiny', '--prompt-tokens', '16', '--new-tokens', '8', '--rounds', '1', '--clients', '3', '--threads', '1', '--warmup', '0', '--no-torch', '--no-llamacpp', '--json');
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ model: 'tiny', prompt_tokens: 16, new_tokens: 8, rounds: 1, clients: 3, threads: 1, warmup_s: 0 });
    for (const k of ['prefill_ms', 'decode_tokens_per_s', 'concurrent_tokens_per_s', 'single_request_tokens_per_s', 'concurrent_speedup']) expect(j[k], k).toBeGreaterThan(0);
    // growlm's figure is its better spinning setting's
    const bySpin = j.decode_tokens_per_s_by_spinning as { off: number; on: number };
    expect(bySpin.off).toBeGreaterThan(0);
    expect(bySpin.on).toBeGreaterThan(0);
    expect(j.decode_tokens_per_s).toBe(Math.max(bySpin.off, bySpin.on));
    expect(j.spinning).toBe(bySpin.on > bySpin.off);
    expect([j.torch_decode_tokens_per_s, j.llamacpp_decode_tokens_per_s]).toEqual([undefined, undefined]);
  }, 60_000);

  it('refuses a prompt that does not fit the context, and a negative warm-up, in one line', () => {
    expectOneLineError(growlm('bench', 'generate', '--preset', 'tiny', '--prompt-tokens', '100', '--new-tokens', '64', '--no-torch'), /do not fit the context \(max_position_embeddings 128\)/);
    expectOneLineError(growlm('bench', 'generate', '--preset', 'tiny', '--warmup', '-1', '--no-torch'), /--warmup must be ≥ 0, got -1/, 2);
  });

  const config = parseConfig({
    vocab_size: 256, hidden_size: 48, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4, max_position_embeddings: 64,
    initializer_range: 0.2, input_mult: 2, output_mult: 1.5, mup_scale_factor: 2, growlm: { tokenizer: { kind: 'byte', vocab_size: 256 } },
  });
  const weights = initWeights(config, 3);
  const prompt = benchPrompt(config, 20, 30);
  /** growlm's greedy tokens (the cached session), a varied continuation. */
  async function ourTokens(): Promise<number[]> {
    const kv = await KvSession.create(config, weights);
    const ours = await cachedRound(kv, prompt, 30);
    await kv.release();
    expect(new Set(ours.tokens).size).toBeGreaterThan(3);
    return ours.tokens;
  }

  it('the llama.cpp baseline (tools/llama-cpp-decode-bench.mjs on the GGUF export, after a timed warm-up) generates growlm\'s greedy tokens', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'growlm-llamacpp-decode-'));
    saveModelDir(join(tmp, 'm'), { config, weights });
    await exportGguf(join(tmp, 'm'), join(tmp, 'm.gguf'));
    const r = spawnSync(process.execPath, ['tools/llama-cpp-decode-bench.mjs', join(tmp, 'm.gguf'), prompt.join(','), '30', '1', '0.2'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const llama = JSON.parse(r.stdout);
    expect(llama.tokens).toEqual(await ourTokens());
    expect(llama.decode_tokens_per_s).toBeGreaterThan(0);
  }, 60_000);

  it.skipIf(!hasTorch)('the PyTorch baseline (tools/torch_decode_bench.py, after a timed warm-up, two rounds) generates growlm\'s greedy tokens', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'growlm-torch-decode-')), 'plain');
    saveModelDir(dir, plainLlama(config, weights));
    const ours = { tokens: await ourTokens() };
    const r = spawnSync(PYTHON, ['tools/torch_decode_bench.py', '--model', dir, '--prompt-ids', prompt.join(','), '--new-tokens', '30', '--threads', '1', '--rounds', '2', '--warmup-s', '0.2', '--json'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const torch = JSON.parse(r.stdout);
    expect(torch.tokens).toEqual(ours.tokens);
    expect(torch.decode_tokens_per_s).toBeGreaterThan(0);
  }, 60_000);
});
