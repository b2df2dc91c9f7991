// growlm import against checkpoints nobody here wrote: tools/make_llama_checkpoint.py (PyTorch, after
// transformers' LlamaForCausalLM forward) wrote them as Hugging Face does, bf16, with their float32
// logits; tools/make-hf-fixtures.sh rebuilds them. Target: max |Δlogit| ≤ 1e-4 (float32).
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { importHfModel } from '../../src/import/hf-import.js';
import { loadModelDir } from '../../src/model/model-dir.js';
import { CheckpointReader } from '../../src/model/checkpoint-files.js';
import { SafetensorsFile } from '../../src/model/safetensors.js';
import { loadTokenizer } from '../../src/data/tokenizer.js';
import { DecoderRunner } from '../../src/runtime/forward.js';
import { FIXTURES, maxAbsDiff, readJson } from '../helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'growlm-import-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The script's sequences and logits: ids.K [S] and logits.K [S, V]. */
function referenceLogits(file: string): { ids: number[]; logits: Float32Array }[] {
  const f = SafetensorsFile.open(file);
  try {
    const out = [];
    for (let k = 0; f.entry(`ids.${k}`); k++) {
      out.push({ ids: Array.from(f.read(`ids.${k}`).data as BigInt64Array, Number), logits: f.readFloat32(`logits.${k}`).data });
    }
    return out;
  } finally {
    f.close();
  }
}

/** max |Δlogit| of the imported model against the script's logits, over every sequence and position. */
async function logitsDiff(dir: string, refFile: string): Promise<{ diff: number; absMax: number; rows: number }> {
  const { config, weights } = loadModelDir(dir);
  const runner = await DecoderRunner.create(config, weights, ['logits']);
  let diff = 0, absMax = 0, rows = 0;
  try {
    for (const { ids, logits } of referenceLogits(refFile)) {
      const out = await runner.run({ inputs: BigInt64Array.from(ids, BigInt), batch: 1, seq: ids.length });
      diff = Math.max(diff, maxAbsDiff(out.logits!, logits));
      for (const x of logits) absMax = Math.max(absMax, Math.abs(x));
      rows += ids.length;
    }
  } finally {
    await runner.release();
  }
  return { diff, absMax, rows };
}

describe('import of a PyTorch-written MistralForCausalLM (MHA, untied, rope_theta 1e6, bf16, one file)', () => {
  const src = join(FIXTURES, 'hf-mistral-mha');
  const out = join(tmp, 'mistral');
  it('reproduces its logits within 1e-4 and keeps its tokenizer files', async () => {
    const r = await importHfModel({ from: src, out });
    expect(r.architecture).toBe('MistralForCausalLM');
    expect(r.source_dtypes).toEqual({ bfloat16: 2 + 2 * 9 + 1 });
    expect(r.files.sort()).toEqual(['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json']);
    const cfg = readJson(join(out, 'config.json'));
    expect(cfg.rope_theta).toBe(1e6);
    expect(cfg.tie_word_embeddings).toBe(false);
    expect(cfg.growlm.tokenizer.kind).toBe('tokenizer.json');
    expect(readJson(join(out, 'tokenizer_config.json')).chat_template).toContain('add_generation_prompt');
    const { diff, absMax, rows } = await logitsDiff(out, `${src}.logits.safetensors`);
    console.log(`hf-mistral-mha: max |Δlogit| ${diff.toExponential(2)} over ${rows} positions (max |logit| ${absMax.toFixed(2)})`);
    expect(absMax).toBeGreaterThan(2);
    expect(diff).toBeLessThanOrEqual(1e-4);
  });
  it('its tokenizer encodes text to the ids the script computed the logits on', async () => {
    const tok = await loadTokenizer(join(out, 'tokenizer.json'));
    const enc = readJson(join(FIXTURES, 'hf-tokenizer-encoded.json'));
    const refs = referenceLogits(`${src}.logits.safetensors`);
    expect(tok.vocabSize).toBe(enc.vocab_size);
    expect(tok.eotId).toBe(enc.eot_id);
    enc.encoded.forEach((e: { text: string; ids: number[] }, k: number) => {
      expect(tok.encode(e.text)).toEqual(e.ids);
      expect(refs[k]!.ids).toEqual(e.ids);
      expect(tok.decode(e.ids)).toBe(e.text);
    });
  });
});

describe('import of a PyTorch-written LlamaForCausalLM (GQA 4/2, tied, llama3 rope_scaling, bf16, 3 shards)', () => {
  const src = join(FIXTURES, 'hf-llama-gqa-tied');
  const out = join(tmp, 'llama');
  it('becomes a float32 growlm model: config fields carried over, the weights exactly the bf16 values', async () => {
    const r = await importHfModel({ from: src, out });
    expect(r.architecture).toBe('LlamaForCausalLM');
    expect(r.source_files).toBe(3);
    const { config, weights } = loadModelDir(out);
    expect(config.numKvHeads).toBe(2);
    expect(config.numHeads).toBe(4);
    expect(config.tieWordEmbeddings).toBe(true);
    expect(config.ropeTheta).toBe(500000);
    expect(config.ropeScaling).toEqual({ type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 });
    expect(weights.has('lm_head.weight')).toBe(false);
    const reader = CheckpointReader.open(src);
    try {
      for (const [name, t] of weights) {
        expect(t.dtype).toBe('float32');
        expect(reader.spec(name)!.dtype).toBe('bfloat16');
        expect(maxAbsDiff(t.data as Float32Array, reader.readFloat32(name).data)).toBe(0);
      }
    } finally {
      reader.close();
    }
    expect(readdirSync(tmp).filter((f) => f.includes('importing'))).toEqual([]);
  });
  it('reproduces its logits within 1e-4', async () => {
    const { diff, absMax, rows } = await logitsDiff(out, `${src}.logits.safetensors`);
    console.log(`hf-llama-gqa-tied: max |Δlogit| ${diff.toExponential(2)} over ${rows} positions (max |logit| ${absMax.toFixed(2)})`);
    expect(absMax).toBeGreaterThan(2);
    expect(diff).toBeLessThanOrEqual(1e-4);
  });
});
