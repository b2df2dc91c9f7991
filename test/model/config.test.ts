import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeModelDir, formatModelDescription } from '../../src/model/describe.js';
import { saveModelDir } from '../../src/model/model-dir.js';
import { ConfigError, configToJson, parameterCount, parseConfig } from '../../src/model/config.js';
import { EMBED, LM_HEAD, headWeightName, paramSpecs } from '../../src/model/params.js';
import { checkWeights, initWeights } from '../../src/model/weights.js';
import { trainingFlopsPerToken } from '../../src/train/flops.js';

const base = { vocab_size: 64, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4, max_position_embeddings: 16 };
const llama3 = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };

describe('config: GQA, tied embeddings, rope_scaling', () => {
  it('accepts every divisor of the head count as num_key_value_heads (1 = MQA)', () => {
    for (const kv of [1, 2, 4]) expect(parseConfig({ ...base, num_key_value_heads: kv }).numKvHeads).toBe(kv);
    expect(parseConfig(base).numKvHeads).toBe(4);
  });

  it('refuses a non-divisor in one line', () => {
    expect(() => parseConfig({ ...base, num_key_value_heads: 3 })).toThrow(ConfigError);
    expect(() => parseConfig({ ...base, num_key_value_heads: 3 })).toThrow(/^config: num_key_value_heads 3 does not divide num_attention_heads 4$/);
  });

  it('a tied model has one embedding tensor and no lm_head.weight; V·d counted once', () => {
    const tied = parseConfig({ ...base, tie_word_embeddings: true });
    const untied = parseConfig(base);
    expect(tied.tieWordEmbeddings).toBe(true);
    expect(untied.tieWordEmbeddings).toBe(false);
    const names = paramSpecs(tied).map((p) => p.name);
    expect(names).toContain(EMBED);
    expect(names).not.toContain(LM_HEAD);
    expect(headWeightName(tied)).toBe(EMBED);
    expect(headWeightName(untied)).toBe(LM_HEAD);
    expect(parameterCount(untied) - parameterCount(tied)).toBe(64 * 32);
    const count = (c: typeof tied) => paramSpecs(c).reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);
    expect(parameterCount(tied)).toBe(count(tied));
    expect(parameterCount(untied)).toBe(count(untied));
    const w = initWeights(tied, 1);
    expect(() => checkWeights(tied, w)).not.toThrow();
    w.set(LM_HEAD, w.get(EMBED)!);
    expect(() => checkWeights(tied, w)).toThrow(/unexpected tensor lm_head.weight/);
    expect(() => parseConfig({ ...base, tie_word_embeddings: 'yes' })).toThrow(/"tie_word_embeddings" must be true or false/);
    // tying shares the matrix, not the work: the head's product costs what it did
    expect(trainingFlopsPerToken(tied, 16)).toBe(trainingFlopsPerToken(untied, 16));
  });

  it('GQA shapes: k and v project to kv·hd rows', () => {
    const c = parseConfig({ ...base, num_key_value_heads: 2 });
    const k = paramSpecs(c).find((p) => p.name.endsWith('k_proj.weight'))!;
    expect(k.shape).toEqual([2 * 8, 32]);
    const d = 32, H = 4, kv = 2, hd = 8, f = 48, V = 64, L = 2;
    expect(parameterCount(c)).toBe(L * (2 * d * H * hd + 2 * d * kv * hd + 3 * d * f + 2 * d) + 2 * V * d + d);
  });

  it('rope_scaling llama3 (rope_type or type), default and null; other types name themselves', () => {
    expect(parseConfig({ ...base, rope_scaling: llama3 }).ropeScaling).toEqual({ type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
    const { rope_type: _, ...old } = llama3;
    expect(parseConfig({ ...base, rope_scaling: { ...old, type: 'llama3' } }).ropeScaling?.type).toBe('llama3');
    expect(parseConfig({ ...base, rope_scaling: null }).ropeScaling).toBeUndefined();
    expect(parseConfig({ ...base, rope_scaling: { rope_type: 'default' } }).ropeScaling).toBeUndefined();
    expect(() => parseConfig({ ...base, rope_scaling: { rope_type: 'yarn', factor: 4 } })).toThrow(/^config: rope_scaling type "yarn" is not supported \(supported: "llama3"\)$/);
    expect(() => parseConfig({ ...base, rope_scaling: { type: 'linear', factor: 2 } })).toThrow(/rope_scaling type "linear"/);
    expect(() => parseConfig({ ...base, rope_scaling: { ...llama3, high_freq_factor: 1 } })).toThrow(/high_freq_factor 1 must exceed low_freq_factor 1/);
    expect(() => parseConfig({ ...base, rope_scaling: { ...llama3, factor: 'big' } })).toThrow(/rope_scaling.factor must be a positive number/);
  });

  it('biases are refused', () => {
    expect(() => parseConfig({ ...base, attention_bias: true })).toThrow(/attention_bias must be false/);
    expect(() => parseConfig({ ...base, mlp_bias: true })).toThrow(/mlp_bias must be false/);
  });

  it('configToJson writes the new fields back with HF names, and they parse to the same config', () => {
    const c = parseConfig({ ...base, num_key_value_heads: 1, tie_word_embeddings: true, rope_theta: 500000, rope_scaling: llama3 });
    const j = configToJson(c);
    expect(j).toMatchObject({ num_key_value_heads: 1, tie_word_embeddings: true, rope_theta: 500000, rope_scaling: llama3 });
    expect(parseConfig(j)).toEqual(c);
    expect(configToJson(parseConfig(base))).not.toHaveProperty('rope_scaling');
    expect(configToJson(parseConfig(base)).tie_word_embeddings).toBe(false);
  });

  it('inspect shows kv heads, tying and rope scaling, and counts the tied matrix once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'growlm-describe-'));
    try {
      const c = parseConfig({ ...base, num_key_value_heads: 1, tie_word_embeddings: true, rope_scaling: llama3 });
      saveModelDir(dir, { config: c, weights: initWeights(c, 2) });
      const d = describeModelDir(dir);
      expect(d.parameters).toBe(parameterCount(c));
      expect(d.parameters).toBe(d.tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0));
      expect(d.tensors.map((t) => t.name)).not.toContain(LM_HEAD);
      const text = formatModelDescription(d);
      expect(text).toContain('heads 4×8 (1 kv head)');
      expect(text).toContain('embeddings tied (the head is model.embed_tokens.weight), rope θ 10000, llama3 scaling ×8 (low 1, high 4, original 8192)');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
