// `growlm export --format onnx --out DIR`: the transformers.js / Optimum folder layout, loaded by
// @huggingface/transformers itself from local files only (no network): its greedy generation must be
// growlm's generateText token for token, and its logits growlm's full-window decoder's to float32
// rounding — for a model with μP multipliers ≠ 1 and with MSG masks still ramping (both folded).
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AutoModelForCausalLM, AutoTokenizer, Tensor, env } from '@huggingface/transformers';
import { beforeAll, describe, expect, it } from 'vitest';
import { exportOnnxLayout } from '../../src/export/onnx-layout.js';
import { generateText, openModel } from '../../src/generate/generate.js';
import { parseConfig } from '../../src/model/config.js';
import { saveModelDir } from '../../src/model/model-dir.js';
import { initWeights } from '../../src/model/weights.js';
import { loadModelFile } from '../../src/onnx/serialize.js';
import { expectOneLineError, growlm } from '../cli/run.js';

const BYTE = { kind: 'byte', vocab_size: 256 };
const BASE = {
  vocab_size: 256, hidden_size: 48, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4, max_position_embeddings: 64,
  initializer_range: 0.2, input_mult: 2, output_mult: 1.5, mup_scale_factor: 2, growlm: { tokenizer: BYTE },
};
const MASKED = {
  ...BASE, growlm: {
    tokenizer: BYTE,
    masks: { hidden: { from: 32, value: 0.4 }, ffn: { from: 64, value: 0.7 }, heads: { from: 3, value: 0.5 }, layers: { indices: [1], value: 0.6 }, ramp: { start: 0, steps: 10, stagger: false } },
  },
};
const PROMPT = 'It was a dark and stormy night; ';
const NEW_TOKENS = 24;

let tmp: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'growlm-onnx-layout-'));
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = tmp;
  env.useFSCache = false;
});

/** max |a − b| relative to the largest |b|. */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0, m = 0;
  for (let i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i]! - b[i]!)); m = Math.max(m, Math.abs(b[i]!)); }
  expect(m).toBeGreaterThan(0.5);
  return d / m;
}

describe.each([['μP multipliers', BASE, 5], ['MSG masks ramping', MASKED, 6]] as const)('the ONNX layout in transformers.js: %s', (name, json, seed) => {
  it('loads offline; same greedy tokens as generateText, same logits as the full-window decoder', async () => {
    const id = name.startsWith('μP') ? 'mup' : 'masked';
    const dir = join(tmp, `${id}-model`);
    const config = parseConfig(json);
    saveModelDir(dir, { config, weights: initWeights(config, seed) });
    const r = await exportOnnxLayout(dir, join(tmp, id));
    expect(r.warnings).toEqual([]);
    expect(readdirSync(join(tmp, id)).sort()).toEqual(['config.json', 'generation_config.json', 'onnx', 'tokenizer.json', 'tokenizer_config.json']);
    const exported = JSON.parse(readFileSync(join(tmp, id, 'config.json'), 'utf8'));
    expect([exported.input_mult, exported.output_mult, exported.mup_scale_factor, exported.growlm.masks]).toEqual([1, 1, 1, undefined]);
    const graph = loadModelFile(join(tmp, id, 'onnx', 'model.onnx')).graph;
    expect(graph.inputs.map((i) => i.name)).toEqual(['input_ids', 'attention_mask', 'position_ids', 'past_key_values.0.key', 'past_key_values.0.value', 'past_key_values.1.key', 'past_key_values.1.value']);
    expect(graph.outputs.map((o) => o.name)).toEqual(['logits', 'present.0.key', 'present.0.value', 'present.1.key', 'present.1.value']);

    const tokenizer = await AutoTokenizer.from_pretrained(id, { local_files_only: true });
    const model = await AutoModelForCausalLM.from_pretrained(id, { local_files_only: true, dtype: 'fp32', device: 'cpu' });
    const growlmModel = await openModel(dir);
    try {
      const promptIds = growlmModel.tokenizer.encode(PROMPT);
      const inputs = tokenizer(PROMPT);
      expect(Array.from(inputs.input_ids.data as BigInt64Array, Number)).toEqual(promptIds);

      // greedy generation through transformers.js's own loop (its KV cache: past_key_values fed back)
      const generated = await model.generate({ ...inputs, max_new_tokens: NEW_TOKENS, do_sample: false }) as Tensor;
      const theirs = Array.from(generated.data as BigInt64Array, Number).slice(promptIds.length);
      const ours = await generateText(dir, PROMPT, { maxTokens: NEW_TOKENS, temperature: 0 });
      expect(new Set(ours.tokens).size).toBeGreaterThan(3); // a continuation, not one token repeated
      expect(theirs).toEqual(ours.tokens);
      expect(tokenizer.decode(theirs)).toBe(ours.text);

      // logits of one forward pass at every position against growlm's full-window decoder
      const window = [...promptIds, ...ours.tokens];
      const ids = new Tensor('int64', BigInt64Array.from(window, BigInt), [1, window.length]);
      const out = await model({ input_ids: ids, attention_mask: new Tensor('int64', new BigInt64Array(window.length).fill(1n), [1, window.length]) });
      const V = config.vocabSize;
      const logits = out.logits.data as Float32Array;
      let worst = 0;
      for (const t of [0, promptIds.length - 1, window.length - 1]) worst = Math.max(worst, relDiff(logits.subarray(t * V, (t + 1) * V), await growlmModel.nextLogits(window.slice(0, t + 1))));
      console.log(`${name}: transformers.js vs growlm, worst relative Δlogit ${worst.toExponential(2)}`);
      expect(worst).toBeLessThanOrEqual(4e-6); // float32 rounding (the cached-graph tests' bound)
    } finally {
      await growlmModel.release();
      await model.dispose();
    }
  }, 60_000);
});

describe('export --format onnx', () => {
  it('writes the layout from the CLI, with external data when asked; refuses a non-empty folder and a vocabulary mask below 1', async () => {
    const config = parseConfig(BASE);
    const dir = join(tmp, 'cli-model');
    saveModelDir(dir, { config, weights: initWeights(config, 2) });
    const out = join(tmp, 'cli-out');
    const r = growlm('export', '--model', dir, '--format', 'onnx', '--out', out, '--external-data', '--json');
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res.files.sort()).toEqual(['config.json', 'generation_config.json', 'onnx/model.onnx', 'onnx/model.onnx_data', 'tokenizer.json', 'tokenizer_config.json']);
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'))['transformers.js_config']).toEqual({ use_external_data_format: true });
    // transformers.js finds onnx/model.onnx_data by that config entry
    const model = await AutoModelForCausalLM.from_pretrained('cli-out', { local_files_only: true, dtype: 'fp32', device: 'cpu' });
    const ids = new Tensor('int64', BigInt64Array.from([72, 105, 33], BigInt), [1, 3]);
    const logits = (await model({ input_ids: ids, attention_mask: new Tensor('int64', new BigInt64Array(3).fill(1n), [1, 3]) })).logits.data as Float32Array;
    const m = await openModel(dir);
    expect(relDiff(logits.subarray(2 * 256), await m.nextLogits([72, 105, 33]))).toBeLessThanOrEqual(4e-6);
    await m.release();
    await model.dispose();

    expectOneLineError(growlm('export', '--model', dir, '--format', 'onnx', '--out', out), /already holds files/);
    const vocab = join(tmp, 'vocab-model');
    const vc = parseConfig({ ...BASE, vocab_size: 260, growlm: { tokenizer: BYTE, masks: { vocab: { from: 256, value: 0.5 }, ramp: { start: 0, steps: 10, stagger: false } } } });
    saveModelDir(vocab, { config: vc, weights: initWeights(vc, 1) });
    const refused = join(tmp, 'refused');
    expectOneLineError(growlm('export', '--model', vocab, '--format', 'onnx', '--out', refused), /vocabulary/);
    expect(() => readdirSync(refused)).toThrow();
    writeFileSync(join(tmp, 'a-file'), 'x');
    expectOneLineError(growlm('export', '--model', dir, '--format', 'onnx', '--out', join(tmp, 'a-file')), /is a file/);
  }, 60_000);
});
