// Generation on the KV-cache graph: greedy output identical to the uncached full-window path (also
// across a window slide and while MSG masks ramp), stop strings, the repetition penalty.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GenerationModel, findStop, generate, generateUncached, openModel, slideKeep, stableText } from '../../src/generate/generate.js';
import { applyRepetitionPenalty, argmax } from '../../src/generate/sample.js';
import { parseConfig } from '../../src/model/config.js';
import { saveModelDir } from '../../src/model/model-dir.js';
import { initWeights } from '../../src/model/weights.js';
import { expectOneLineError, growlm } from '../cli/run.js';

const BYTE = { kind: 'byte', vocab_size: 256 };
const BASE = {
  vocab_size: 256, hidden_size: 48, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4, max_position_embeddings: 48,
  initializer_range: 0.2, input_mult: 2, output_mult: 1.5, mup_scale_factor: 2, growlm: { tokenizer: BYTE },
};
const MASKED = {
  ...BASE, growlm: {
    tokenizer: BYTE,
    masks: { hidden: { from: 32, value: 0.4 }, ffn: { from: 64, value: 0.7 }, heads: { from: 3, value: 0.5 }, layers: { indices: [1], value: 0.6 }, ramp: { start: 0, steps: 10, stagger: false } },
  },
};

let tmp: string;
let plainDir: string;
let plain: GenerationModel;
let masked: GenerationModel;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'growlm-cached-'));
  plainDir = join(tmp, 'plain');
  for (const [json, dir] of [[BASE, plainDir], [MASKED, join(tmp, 'masked')]] as const) {
    const config = parseConfig(json);
    saveModelDir(dir, { config, weights: initWeights(config, 5) });
  }
  plain = await openModel(plainDir);
  masked = await openModel(join(tmp, 'masked'));
});

afterAll(async () => {
  await plain?.release();
  await masked?.release();
});

/** Greedy decoding on the full-window decoder over the windows the cached path uses (sliding to the last ¾). */
async function referenceGreedy(m: GenerationModel, prompt: string, steps: number, penalty = 1): Promise<number[]> {
  const context = m.tokenizer.encode(prompt);
  const max = m.config.maxSeqLen;
  let start = 0;
  const out: number[] = [];
  for (let i = 0; i < steps; i++) {
    if (context.length - start > max) start = context.length - slideKeep(max);
    let logits: ArrayLike<number> = await m.nextLogits(context.slice(start));
    if (penalty !== 1) logits = applyRepetitionPenalty(logits, context, penalty);
    const id = argmax(logits);
    context.push(id);
    out.push(id);
  }
  return out;
}

describe('cached generation = uncached full-window generation', () => {
  it('greedy, within the context, with μP multipliers ≠ 1', async () => {
    const prompt = 'It was a dark and stormy night';
    const cached = await generate(plain, prompt, { temperature: 0, maxTokens: 48 - 31 });
    const uncached = await generateUncached(plain, prompt, { temperature: 0, maxTokens: 48 - 31 });
    expect(cached.tokens).toHaveLength(17);
    expect(cached.tokens).toEqual(uncached.tokens);
    expect(cached.text).toBe(uncached.text);
    expect(new Set(cached.tokens).size).toBeGreaterThan(1); // not a degenerate model
  });

  it('greedy, while MSG masks ramp', async () => {
    const cached = await generate(masked, 'Once upon a time', { temperature: 0, maxTokens: 30 });
    expect(cached.tokens).toEqual((await generateUncached(masked, 'Once upon a time', { temperature: 0, maxTokens: 30 })).tokens);
  });

  it('one generation at a time per opened model (the cache holds one sequence)', async () => {
    const first = generate(plain, 'Hello', { maxTokens: 5 });
    await expect(generate(plain, 'Hello', { maxTokens: 5 })).rejects.toThrow(/is already generating: one generation at a time per opened model/);
    expect((await first).tokens).toHaveLength(5);
    expect((await generate(plain, 'Hello', { maxTokens: 2 })).tokens).toHaveLength(2);
  });

  it('sampled with a seed, within the context', async () => {
    const opts = { temperature: 0.9, topK: 20, topP: 0.95, seed: 4, maxTokens: 30 };
    expect((await generate(plain, 'Hello there', opts)).tokens).toEqual((await generateUncached(plain, 'Hello there', opts)).tokens);
  });

  it('past the context the window slides: the cache is rebuilt from the last ¾ of the context', async () => {
    expect(slideKeep(48)).toBe(36);
    // 20 + 80 tokens: slides at 48, 60, 72, 84, 96 tokens of context
    const prompt = 'The quick brown fox jumps';
    const cached = await generate(plain, prompt, { temperature: 0, maxTokens: 75 });
    expect(cached.tokens).toEqual(await referenceGreedy(plain, prompt, 75));
    // a prompt longer than the context starts from its last ¾ window
    const long = 'abcdefghijklmnopqrstuvwxyz'.repeat(2);
    expect((await generate(plain, long, { temperature: 0, maxTokens: 5 })).tokens).toEqual(await referenceGreedy(plain, long, 5));
  });
});

describe('stop strings', () => {
  it('findStop and stableText', () => {
    expect(findStop('hello world', ['wor', 'lo'])).toBe(3);
    expect(findStop('hello world', ['xyz'])).toBe(-1);
    expect(findStop('abab', ['ba', 'ab'])).toBe(0);
    expect(stableText('abc<|e', ['<|end|>'])).toBe('abc');
    expect(stableText('abc<|x', ['<|end|>'])).toBe('abc<|x');
    expect(stableText('ab\uFFFD', [])).toBe('ab');
    expect(stableText('ab\n', ['\n\n', 'Q:'])).toBe('ab');
    expect(stableText('abQ', ['\n\n', 'Q:'])).toBe('ab');
  });

  it('generation ends before the first stop string; the streamed pieces never show any of it', async () => {
    const full = await generate(plain, 'Stop here', { temperature: 0, maxTokens: 40 });
    // a stop string of two ASCII characters the continuation contains after its start
    const m = /[ -~]{2}/.exec(full.text.slice(3));
    expect(m).not.toBeNull();
    const stop = m![0];
    const at = full.text.indexOf(stop);
    const pieces: string[] = [];
    const r = await generate(plain, 'Stop here', { temperature: 0, maxTokens: 40, stop: ['never-there', stop], onText: (p) => pieces.push(p) });
    expect(r.stopReason).toBe('stop');
    expect(r.text).toBe(full.text.slice(0, at));
    expect(pieces.join('')).toBe(r.text);
    expect(full.tokens.slice(0, r.tokens.length)).toEqual(r.tokens);
    expect(r.tokens.length).toBeLessThan(40);
    // a stop string that never appears changes nothing
    expect((await generate(plain, 'Stop here', { temperature: 0, maxTokens: 40, stop: ['\u2603\u2603'] })).tokens).toEqual(full.tokens);
    await expect(generate(plain, 'x', { stop: [''] })).rejects.toThrow(/stop strings must be non-empty/);
  });
});

describe('repetition penalty', () => {
  it('divides positive logits of seen tokens, multiplies negative ones, leaves the rest', () => {
    const out = applyRepetitionPenalty(Float32Array.of(2, -2, 3, -1), [0, 1, 7], 2);
    expect(Array.from(out)).toEqual([1, -4, 3, -1]);
    expect(() => applyRepetitionPenalty([1], [0], 0)).toThrow(/repetition penalty must be a number > 0/);
  });

  it('penalizes the whole context (prompt and generated) in generation', async () => {
    const prompt = 'The quick brown fox jumps over the lazy dog';
    const penalized = await generate(plain, prompt, { temperature: 0, maxTokens: 30, repetitionPenalty: 3 });
    expect(penalized.tokens).toEqual(await referenceGreedy(plain, prompt, 30, 3));
    const none = await generate(plain, prompt, { temperature: 0, maxTokens: 30 });
    expect((await generate(plain, prompt, { temperature: 0, maxTokens: 30, repetitionPenalty: 1 })).tokens).toEqual(none.tokens);
    expect(new Set(penalized.tokens).size).toBeGreaterThan(new Set(none.tokens).size);
    await expect(generate(plain, 'x', { repetitionPenalty: -1 })).rejects.toThrow(/repetition penalty must be a number > 0/);
  });

  it('growlm generate --stop and --repetition-penalty', () => {
    const r = growlm('generate', '--model', plainDir, '--prompt', 'aaaa bbbb', '--temperature', '0', '--max-tokens', '30', '--repetition-penalty', '1.8', '--json');
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.generated_tokens).toBe(30);
    const stop = /[ -~]{2}/.exec(j.text.slice(2))![0];
    const s = growlm('generate', '--model', plainDir, '--prompt', 'aaaa bbbb', '--temperature', '0', '--max-tokens', '30', '--repetition-penalty', '1.8', '--stop', stop);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toBe(`aaaa bbbb${j.text.slice(0, j.text.indexOf(stop))}\n`);
    expect(s.stderr).toMatch(/, stopped at --stop,/);
    expectOneLineError(growlm('generate', '--model', plainDir, '--prompt', 'x', '--repetition-penalty', '0'), /--repetition-penalty must be > 0/, 2);
  });
});
