// growlm export --format hf: the folder is a plain Llama that an independent float64 implementation
// (tools/reference.py --hf, i.e. tools/llama_torch.py) reads to the same logits as growlm's own
// decoder (relative difference ≤ 1e-5 of max |logit|): a trained model with μP multipliers ≠ 1, the
// same model grown (MSG masks at 0) and the grown model trained on while its masks ramp (baked at
// export); then dtypes, tokenizer files, the CLI, and bad input (nothing written).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Batch } from '../../src/data/batch.js';
import { writeTokenFile } from '../../src/data/token-file.js';
import { FoldError } from '../../src/export/fold.js';
import { HandoffError } from '../../src/export/handoff.js';
import { HfExportError, exportHfModel } from '../../src/export/hf.js';
import { byteTokenizerJson } from '../../src/export/tokenizer-files.js';
import { growModel } from '../../src/growth/grow-model.js';
import { type ModelConfig, parseConfig } from '../../src/model/config.js';
import { saveModelDir } from '../../src/model/model-dir.js';
import { SafetensorsFile } from '../../src/model/safetensors.js';
import { initWeights, type Weights } from '../../src/model/weights.js';
import { DecoderRunner } from '../../src/runtime/forward.js';
import { maskValuesAt } from '../../src/train/schedule.js';
import { TrainStep } from '../../src/train/step.js';
import { Rng } from '../../src/util/rng.js';
import { expectOneLineError, growlm } from '../cli/run.js';
import { readJson } from '../helpers.js';

const REFERENCE = join(import.meta.dirname, '../../tools/reference.py');
/** Debian's python3-torch (installed by .ci/run); without it the reference comparisons are skipped. */
const HAVE_TORCH = spawnSync('/usr/bin/python3', ['-c', 'import torch, numpy']).status === 0;
const SKIP_NOTE = HAVE_TORCH ? '' : ' (skipped: /usr/bin/python3 has no torch)';
const B = 2, S = 16, V = 256;
const BYTE = { kind: 'byte', vocab_size: 256 };

function config(o: { d: number; f: number; L: number }): ModelConfig {
  return {
    ...parseConfig({
      vocab_size: V, hidden_size: o.d, intermediate_size: o.f, num_hidden_layers: o.L, num_attention_heads: o.d / 8, head_dim: 8,
      max_position_embeddings: 32, initializer_range: 0.1, input_mult: 3, output_mult: 0.5, mup_scale_factor: 2, rms_norm_eps: 1e-4,
    }),
    tokenizer: BYTE,
  };
}

let tmp: string;
let tokens: string;
let batch: Batch;

function randomBatch(seed: number): Batch {
  const rng = new Rng(seed);
  return {
    inputs: BigInt64Array.from({ length: B * S }, () => BigInt(rng.int(V))),
    targets: BigInt64Array.from({ length: B * S }, () => BigInt(rng.int(V))),
    batch: B, seq: S,
  };
}

/** A few AdamW steps (with the masks of `c` fed as they ramp from `rampFrom`). */
async function train(c: ModelConfig, w: Weights, steps: number, rampFrom = 0): Promise<{ config: ModelConfig; weights: Weights }> {
  const copy = new Map([...w].map(([k, t]) => [k, { ...t, data: Float32Array.from(t.data as Float32Array) }])); // TrainStep trains in place
  const step = await TrainStep.create(c, copy, { session: { threads: 1 } });
  let current = c;
  for (let s = 1; s <= steps; s++) {
    if (c.growth.masks) {
      current = { ...c, growth: { ...c.growth, masks: maskValuesAt(c.growth.masks, rampFrom + s) } };
      step.setMasks(current);
    }
    await step.step([randomBatch(100 + s)], 1e-2);
  }
  await step.release();
  return { config: current, weights: copy };
}

async function growlmLogits(c: ModelConfig, w: Weights): Promise<Float32Array> {
  const r = await DecoderRunner.create(c, w, ['logits'], { threads: 1 });
  const out = await r.run(batch);
  await r.release();
  return out.logits!;
}

/**
 * Logits of exports by the independent float64 reference: tools/reference.py's own main() for each
 * folder, in one Python process (torch is imported once).
 */
function referenceLogits(dirs: string[]): number[][] {
  const runs = dirs.map((dir) => [dir, `${dir}.ref.json`]);
  const driver = 'import sys; sys.path.insert(0, sys.argv[1]); import reference\nfor a in sys.argv[2:]: reference.main(a.split("\\t"))';
  const argvs = runs.map(([dir, out]) => ['--hf', '--float64', '--model', dir!, '--tokens', tokens, '--batch', String(B), '--seq', String(S), '--out', out!].join('\t'));
  execFileSync('/usr/bin/python3', ['-c', driver, dirname(REFERENCE), ...argvs]);
  return runs.map(([, out]) => readJson(out!).logits.data);
}

/** max |a − b| / max |b|. */
function rel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, m = 0;
  for (let i = 0; i < b.length; i++) { d = Math.max(d, Math.abs(a[i]! - b[i]!)); m = Math.max(m, Math.abs(b[i]!)); }
  return d / m;
}

function save(name: string, m: { config: ModelConfig; weights: Weights }): string {
  const dir = join(tmp, name);
  saveModelDir(dir, m);
  return dir;
}

const small = config({ d: 32, f: 48, L: 2 });
let trained: { config: ModelConfig; weights: Weights };
let grown: { config: ModelConfig; weights: Weights };

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'growlm-hf-'));
  batch = randomBatch(5);
  // the reference reads the first B·(S+1) ids as rows [inputs | last target]
  const ids: number[] = [];
  for (let r = 0; r < B; r++) ids.push(...Array.from(batch.inputs.subarray(r * S, (r + 1) * S), Number), 0);
  tokens = join(tmp, 'batch.tok');
  writeTokenFile(tokens, ids, V);
  trained = await train(small, initWeights(small, 1), 4);
  grown = growModel(trained, config({ d: 48, f: 80, L: 4 }), { method: 'msg', placement: 'interleave', seed: 2, rampSteps: 10, stagger: false });
  grown.config.tokenizer = BYTE;
});

describe('export --format hf against the float64 reference', () => {
  it.skipIf(!HAVE_TORCH)(`a trained model with μP multipliers, before growth, after growth (masks at 0) and while the masks ramp${SKIP_NOTE}`, async () => {
    const cases: [string, { config: ModelConfig; weights: Weights }][] = [['trained', trained], ['grown', grown]];
    const ramping = await train(grown.config, grown.weights, 3); // masks at 0.3 after 3 of 10 ramp steps
    expect(ramping.config.growth.masks!.hidden!.value).toBeCloseTo(0.3, 6);
    cases.push(['ramping', ramping]);
    const outs = cases.map(([name, m]) => {
      const out = join(tmp, `${name}-hf`);
      expect(exportHfModel(save(name, m), out).masks_baked).toBe(name !== 'trained');
      return out;
    });
    const got = referenceLogits(outs);
    const refs: Record<string, number[]> = {};
    for (const [i, [name, m]] of cases.entries()) {
      refs[name] = got[i]!;
      const d = rel(await growlmLogits(m.config, m.weights), refs[name]!);
      console.log(`${name}: growlm vs float64 reference of the HF export: relative Δlogit ${d.toExponential(2)}`);
      expect(d, name).toBeLessThanOrEqual(1e-5);
    }
    // the grown export computes the small export's function (growth preserved through the export)
    expect(rel(refs.grown!, refs.trained!)).toBeLessThanOrEqual(1e-5);
    expect(rel(refs.ramping!, refs.trained!)).toBeGreaterThan(1e-3); // training moved it
  });

  it.skipIf(!HAVE_TORCH)(`grouped-query attention and tied embeddings (kept tied when both factors are equal, else untied), trained and ramping${SKIP_NOTE}`, async () => {
    const gqa = (inputMult: number, d = 32, L = 2): ModelConfig => ({
      ...parseConfig({
        vocab_size: V, hidden_size: d, intermediate_size: 48, num_hidden_layers: L, num_attention_heads: d / 8, num_key_value_heads: d / 16, head_dim: 8,
        max_position_embeddings: 32, initializer_range: 0.1, tie_word_embeddings: true, input_mult: inputMult, output_mult: 1, mup_scale_factor: 2,
      }),
      tokenizer: BYTE,
    });
    const cases: { label: string; m: { config: ModelConfig; weights: Weights }; out: string; tied: boolean }[] = [];
    for (const inputMult of [0.5, 3]) {
      const base = await train(gqa(inputMult), initWeights(gqa(inputMult), 7), 3);
      const big = growModel(base, gqa(inputMult, 48, 3), { method: 'msg', placement: 'interleave', seed: 2, rampSteps: 10, stagger: false });
      big.config.tokenizer = BYTE;
      const ramping = await train(big.config, big.weights, 2);
      // (masks at 0 right after growth: the first test)
      for (const [name, m] of [['trained', base], ['ramping', ramping]] as const) {
        const out = join(tmp, `gqa-${inputMult}-${name}-hf`);
        const r = exportHfModel(save(`gqa-${inputMult}-${name}`, m), out);
        // the head's factor is 1/2: equal to input_mult 0.5 (tied kept) unless a ramping hidden mask scales the embedding's columns
        expect(r.tied, `${inputMult} ${name}`).toBe(inputMult === 0.5 && name === 'trained');
        expect(readJson(join(out, 'config.json'))).toMatchObject({ num_key_value_heads: m.config.numKvHeads, tie_word_embeddings: r.tied });
        cases.push({ label: `GQA ${m.config.numHeads}/${m.config.numKvHeads}, tied, input_mult ${inputMult}, ${name}`, m, out, tied: r.tied });
      }
    }
    const got = referenceLogits(cases.map((c) => c.out));
    for (const [i, c] of cases.entries()) {
      const d = rel(await growlmLogits(c.m.config, c.m.weights), got[i]!);
      console.log(`${c.label}: relative Δlogit ${d.toExponential(2)} (export ${c.tied ? 'tied' : 'untied'})`);
      expect(d).toBeLessThanOrEqual(1e-5);
    }
  });

  it.skipIf(!HAVE_TORCH)(`writes a plain LlamaForCausalLM config and the byte tokenizer; f16 and bf16 weights${SKIP_NOTE}`, async () => {
    const dir = save('dtypes', trained);
    const want = await growlmLogits(trained.config, trained.weights);
    const measured: Record<string, number> = {};
    const dtypes = ['float32', 'float16', 'bfloat16'] as const;
    for (const dtype of dtypes) {
      const out = join(tmp, `dtypes-${dtype}`);
      // float32 as HF shards (model.safetensors.index.json), read by the reference through the index
      const r = exportHfModel(dir, out, { dtype, ...(dtype === 'float32' ? { shardBytes: 30_000 } : {}) });
      const cfg = readJson(join(out, 'config.json'));
      expect(cfg.architectures).toEqual(['LlamaForCausalLM']);
      expect(cfg.torch_dtype).toBe(dtype);
      expect(cfg.tie_word_embeddings).toBe(false);
      for (const k of ['input_mult', 'output_mult', 'mup_scale_factor', 'growlm']) expect(cfg, k).not.toHaveProperty(k);
      if (dtype === 'float32') {
        expect(r.files).toContain('model.safetensors.index.json');
        expect(readdirSync(out).filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)).length).toBeGreaterThan(2);
        expect(existsSync(join(out, 'model.safetensors'))).toBe(false);
      } else {
        const f = SafetensorsFile.open(join(out, 'model.safetensors'));
        expect(new Set(f.header.entries.map((e) => e.dtype))).toEqual(new Set([dtype]));
        expect(f.names()).toContain('lm_head.weight');
        f.close();
      }
      expect(readJson(join(out, 'tokenizer.json'))).toEqual(byteTokenizerJson());
      expect(readJson(join(out, 'tokenizer_config.json')).tokenizer_class).toBe('PreTrainedTokenizerFast');
      expect(readJson(join(out, 'generation_config.json'))).toEqual({ _from_model_config: true });
    }
    const got = referenceLogits(dtypes.map((d) => join(tmp, `dtypes-${d}`)));
    dtypes.forEach((d, i) => { measured[d] = rel(want, got[i]!); });
    console.log(`relative Δlogit by dtype: ${JSON.stringify(measured)}`);
    expect(measured.float32).toBeLessThanOrEqual(1e-5);
    // rounding the weights: f16 keeps 11 significant bits, bf16 8 (measured 5.0e-4 and 4.8e-3 here)
    expect(measured.float16).toBeLessThanOrEqual(2e-3);
    expect(measured.bfloat16).toBeLessThanOrEqual(2e-2);
    expect(measured.bfloat16).toBeGreaterThan(measured.float16!);
  });

  it("keeps an imported model's own tokenizer files, chat template and generation config", () => {
    const dir = save('imported', { config: { ...trained.config, tokenizer: { kind: 'tokenizer.json', vocab_size: 256, file: 'tokenizer.json' } }, weights: trained.weights });
    const files = {
      'tokenizer.json': JSON.stringify(byteTokenizerJson()),
      'tokenizer_config.json': JSON.stringify({ chat_template: '{% for m in messages %}{{ m.content }}{% endfor %}', eos_token: '</s>' }),
      'generation_config.json': JSON.stringify({ eos_token_id: 2, temperature: 0.6 }),
      'special_tokens_map.json': JSON.stringify({ eos_token: '</s>' }),
    };
    for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
    const cfg = readJson(join(dir, 'config.json'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, bos_token_id: 1, eos_token_id: 2 }));
    const out = join(tmp, 'imported-hf');
    expect(exportHfModel(dir, out).tokenizer).toBe('model');
    for (const [f, text] of Object.entries(files)) expect(readFileSync(join(out, f), 'utf8'), f).toBe(text);
    expect(readJson(join(out, 'config.json'))).toMatchObject({ bos_token_id: 1, eos_token_id: 2 });
  });
});

describe('export --format hf: GPT-2 models', () => {
  it("writes GPT-2's tokenizer.json for a model trained on the gpt2 tokenizer, and its end-of-text id", async () => {
    const c = { ...parseConfig({ vocab_size: 50304, hidden_size: 16, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, head_dim: 8, max_position_embeddings: 64 }), tokenizer: { kind: 'gpt2', vocab_size: 50257, eot_id: 50256 } };
    const dir = save('gpt2', { config: c, weights: initWeights(c, 3) });
    const out = join(tmp, 'gpt2-hf');
    expect(exportHfModel(dir, out).tokenizer).toBe('gpt2');
    expect(readJson(join(out, 'config.json'))).toMatchObject({ bos_token_id: 50256, eos_token_id: 50256 });
    expect(readJson(join(out, 'generation_config.json'))).toMatchObject({ eos_token_id: 50256 });
    const { AutoTokenizer, env } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    const tok = await AutoTokenizer.from_pretrained(out, { local_files_only: true });
    expect(Array.from(tok.encode('Hello world', { add_special_tokens: false }))).toEqual([15496, 995]);
  });
});

describe('export --format hf: bad input writes nothing', () => {
  const listing = () => readdirSync(tmp).sort();

  it('refuses an existing output, a vocabulary mask below 1, and moments of a model whose masks ramp', () => {
    const dir = save('bad', trained);
    const existing = join(tmp, 'exists');
    mkdirSync(existing);
    let before = listing();
    expect(() => exportHfModel(dir, existing)).toThrow(HfExportError);
    expect(readdirSync(existing)).toEqual([]);
    const padded = growModel(trained, { ...trained.config, vocabSize: 300 }, { method: 'msg', placement: 'append', seed: 2, rampSteps: 10, stagger: false });
    const paddedDir = save('padded', padded);
    before = listing();
    expect(() => exportHfModel(paddedDir, join(tmp, 'padded-hf'))).toThrow(FoldError);
    expect(listing()).toEqual(before);
    const rampingDir = save('ramping-opt', grown);
    before = listing();
    expect(() => exportHfModel(rampingDir, join(tmp, 'deep', 'er', 'ramping-hf'), { withOptimizer: true })).toThrow(HandoffError);
    expect(listing()).toEqual(before);
    expect(existsSync(join(tmp, 'deep'))).toBe(false);
    // an untrained model has no moments to hand over
    expect(() => exportHfModel(dir, join(tmp, 'x-hf'), { withOptimizer: true })).toThrow(/has no optimizer\.safetensors/);
    expect(existsSync(join(tmp, 'x-hf'))).toBe(false);
  });

  it('the CLI: --format hf, one-line errors, usage errors', () => {
    const dir = save('cli', trained);
    const out = join(tmp, 'cli-hf');
    const r = growlm('export', '--model', dir, '--format', 'hf', '--out', out, '--dtype', 'bf16', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ out, dtype: 'bfloat16', tokenizer: 'byte', tied: false });
    expectOneLineError(growlm('export', '--model', dir, '--format', 'hf', '--out', out), /cli-hf already exists/);
    expectOneLineError(growlm('export', '--model', dir, '--format', 'hf', '--out', join(tmp, 'y'), '--with-optimizer'), /has no optimizer\.safetensors: train the model first/);
    expectOneLineError(growlm('export', '--model', dir, '--out', join(tmp, 'z.onnx'), '--with-optimizer'), /--with-optimizer applies to --format hf only/, 2);
    expectOneLineError(growlm('export', '--model', dir, '--format', 'hf', '--out', join(tmp, 'w'), '--dtype', 'f8'), /--dtype/, 2);
    expect(existsSync(join(tmp, 'y')) || existsSync(join(tmp, 'w'))).toBe(false);
  });
});
