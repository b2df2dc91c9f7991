// growlm generate end to end on a tiny untrained model (byte tokenizer recorded in its config), and
// the library entry points the staged-plan runner uses.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { generate, openModel, sampleContinuations } from '../../src/generate/generate.js';
import { expectOneLineError, growlm } from '../cli/run.js';

let tmp: string;
let model: string;
let bare: string;

const CONFIG = { vocab_size: 256, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 2, max_position_embeddings: 32 };

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'growlm-generate-'));
  model = join(tmp, 'model');
  bare = join(tmp, 'bare');
  writeFileSync(join(tmp, 'with-tok.json'), JSON.stringify({ ...CONFIG, growlm: { tokenizer: { kind: 'byte', vocab_size: 256 } } }));
  writeFileSync(join(tmp, 'bare.json'), JSON.stringify(CONFIG));
  for (const [cfg, out] of [['with-tok.json', model], ['bare.json', bare]] as const) {
    const r = growlm('init', '--config', join(tmp, cfg), '--out', out, '--seed', '1');
    expect(r.code, r.stderr).toBe(0);
  }
});

describe('growlm generate', () => {
  it('generates the requested number of tokens past the context length, as the library does for the seed', async () => {
    // 40 tokens after a 5-token prompt run past max_position_embeddings (32): the window slides
    const a = growlm('generate', '--model', model, '--prompt', 'Hello', '--max-tokens', '40', '--json', '--seed', '7');
    expect(a.code, a.stderr).toBe(0);
    const ja = JSON.parse(a.stdout);
    expect(ja).toMatchObject({ prompt: 'Hello', prompt_tokens: 5, generated_tokens: 40, stop_reason: 'max_tokens', seed: 7, tokenizer: 'byte', temperature: 0.8, top_k: 40, top_p: 1 });
    expect(ja.tokens).toHaveLength(40);
    expect(ja.tokens.every((t: number) => Number.isInteger(t) && t >= 0 && t < 256)).toBe(true);
    expect(ja.text).toBe(Buffer.from(ja.tokens).toString('utf8'));
    expect(ja.tokens_per_s).toBeGreaterThan(0);
    const [lib] = await sampleContinuations(model, ['Hello'], { maxTokens: 40, seed: 7, temperature: 0.8, topK: 40 });
    expect(lib!.tokens).toEqual(ja.tokens);
  });

  it('streams the prompt and the continuation to stdout, a summary to stderr', () => {
    const r = growlm('generate', '--model', model, '--prompt', 'Once upon a time', '--max-tokens', '12', '--seed', '3', '--top-k', '5', '--top-p', '0.9');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.startsWith('Once upon a time')).toBe(true);
    expect(r.stdout.endsWith('\n')).toBe(true);
    expect(r.stderr).toMatch(/^\[12 tokens, [\d.]+ tokens\/s, seed 3\]\n$/);
  });

  it('reports unusable models, prompts and options in one line', async () => {
    expectOneLineError(growlm('generate', '--model', bare, '--prompt', 'Hi'), /has no recorded tokenizer: train it first or pass --tokenizer byte\|gpt2\|PATH/);
    expectOneLineError(growlm('generate', '--model', model, '--prompt', ''), /--prompt is empty/, 2);
    expectOneLineError(growlm('generate', '--model', model, '--prompt', 'Hi', '--temperature=-1'), /--temperature must be ≥ 0/, 2);
    expectOneLineError(growlm('generate', '--model', model, '--prompt', 'Hi', '--top-k=-2'), /--top-k must be an integer ≥ 0/, 2);
    expectOneLineError(growlm('generate', '--model', join(tmp, 'nowhere'), '--prompt', 'Hi'), /is not a model directory/);
    // the same checks in the library (what the CLI calls)
    const bytes = await openModel(bare, { tokenizer: 'byte' });
    try {
      expect((await generate(bytes, 'Hi', { maxTokens: 3 })).tokens).toHaveLength(3);
    } finally {
      await bytes.release();
    }
    // GPT-2 ids of "Hello" (15496) do not fit a 256-token vocabulary
    const gpt2 = await openModel(bare, { tokenizer: 'gpt2' });
    try {
      await expect(generate(gpt2, 'Hello')).rejects.toThrow(/token 0 \(id 15496\) is outside the model's vocabulary \(size 256\)/);
    } finally {
      await gpt2.release();
    }
    await expect(openModel(model, { tokenizer: 'gpt2' })).rejects.toThrow(/is not the byte tokenizer \(vocab 256\) that .* was trained with/);
    await expect(openModel(bare)).rejects.toThrow(/no recorded tokenizer/);
  });

  it('library: one runner for many prompts, streamed pieces add up to the text', async () => {
    const m = await openModel(model);
    try {
      const pieces: string[] = [];
      const r = await generate(m, 'The', { maxTokens: 30, seed: 11, onText: (p) => pieces.push(p) });
      expect(r.tokens).toHaveLength(30);
      expect(pieces.join('')).toBe(r.text);
      const again = await generate(m, 'The', { maxTokens: 30, seed: 11 });
      expect(again.tokens).toEqual(r.tokens);
      expect((await generate(m, 'The', { maxTokens: 30, seed: 12 })).tokens).not.toEqual(r.tokens);
      // greedy ignores the seed
      const g1 = await generate(m, 'The', { maxTokens: 30, temperature: 0, seed: 1 });
      expect((await generate(m, 'The', { maxTokens: 30, temperature: 0, seed: 2 })).tokens).toEqual(g1.tokens);
      await expect(generate(m, 'x', { topK: 1.5 })).rejects.toThrow(/top-k/);
      await expect(generate(m, 'x', { topP: 0 })).rejects.toThrow(/top-p/);
      await expect(generate(m, 'x', { maxTokens: 0 })).rejects.toThrow(/max tokens/);
      await expect(generate(m, '', {})).rejects.toThrow(/prompt is empty/);
      await expect(generate(m, 'x', { temperature: -1 })).rejects.toThrow(/temperature/);
    } finally {
      await m.release();
    }
    const s = await sampleContinuations(model, ['Alice', 'Bob'], { maxTokens: 6, seed: 5 });
    expect(s.map((x) => x.prompt)).toEqual(['Alice', 'Bob']);
    for (const x of s) {
      expect(x.tokens).toHaveLength(6);
      expect(typeof x.text).toBe('string');
    }
    expect((await sampleContinuations(model, ['Alice', 'Bob'], { maxTokens: 6, seed: 5 })).map((x) => x.tokens)).toEqual(s.map((x) => x.tokens));
  });
});
