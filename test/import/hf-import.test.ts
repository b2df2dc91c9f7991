// growlm import against checkpoints nobody here wrote: tools/make_llama_checkpoint.py (PyTorch, after
// transformers' LlamaForCausalLM forward) wrote them as Hugging Face does, bf16, with their float32
// logits; tools/make-hf-fixtures.sh rebuilds them. Target: max |Δlogit| ≤ 1e-4 (float32).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HfImportError, importHfModel } from '../../src/import/hf-import.js';
import { loadModelDir } from '../../src/model/model-dir.js';
import { CheckpointReader } from '../../src/model/checkpoint-files.js';
import { SafetensorsFile, loadSafetensors, saveSafetensors } from '../../src/model/safetensors.js';
import type { Tensor } from '../../src/onnx/ir.js';
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

describe('bad input: one line naming the problem, nothing written', () => {
  let n = 0;
  /** A copy of a fixture to spoil. */
  function copy(fixture: 'hf-mistral-mha' | 'hf-llama-gqa-tied'): string {
    const dir = join(tmp, `bad-${n++}`);
    cpSync(join(FIXTURES, fixture), dir, { recursive: true });
    return dir;
  }
  const editJson = (path: string, edit: (j: Record<string, any>) => void) => {
    const j = readJson(path);
    edit(j);
    writeFileSync(path, JSON.stringify(j, null, 2));
  };
  /** Rewrite the single-file checkpoint of `dir` through `edit` of its tensors (in order). */
  const editTensors = (dir: string, edit: (t: Map<string, Tensor>) => Map<string, Tensor> | void) => {
    const { tensors } = loadSafetensors(join(dir, 'model.safetensors'));
    saveSafetensors(join(dir, 'model.safetensors'), edit(tensors) ?? tensors);
  };
  async function expectRefused(from: string, pattern: RegExp): Promise<void> {
    const out = join(tmp, `out-${n++}`);
    const before = readdirSync(tmp).length;
    const err = await importHfModel({ from, out }).then(() => undefined, (e: unknown) => e);
    expect(err, `import of ${from} should fail`).toBeInstanceOf(HfImportError);
    const message = (err as Error).message;
    expect(message).toMatch(pattern);
    expect(message).not.toContain('\n');
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(tmp).length).toBe(before); // no temporary folder left behind
  }

  it('another architecture, or a model_type that does not match', async () => {
    const a = copy('hf-mistral-mha');
    editJson(join(a, 'config.json'), (j) => { j.architectures = ['Qwen2ForCausalLM']; j.model_type = 'qwen2'; });
    await expectRefused(a, /config\.json: architecture Qwen2ForCausalLM is not supported \(supported: LlamaForCausalLM, MistralForCausalLM\)/);
    const b = copy('hf-mistral-mha');
    editJson(join(b, 'config.json'), (j) => { j.model_type = 'llama'; });
    await expectRefused(b, /model_type "llama" does not match architecture MistralForCausalLM/);
    const c = copy('hf-mistral-mha');
    editJson(join(c, 'config.json'), (j) => { delete j.architectures; });
    await expectRefused(c, /"architectures" must name one architecture/);
  });
  it('sliding-window attention (a window shorter than max_position_embeddings)', async () => {
    const a = copy('hf-mistral-mha');
    editJson(join(a, 'config.json'), (j) => { j.sliding_window = 128; });
    await expectRefused(a, /sliding_window 128 is not supported .*max_position_embeddings 256/);
    const b = copy('hf-mistral-mha');
    editJson(join(b, 'config.json'), (j) => { j.sliding_window = 256; }); // never slides: the same function
    await expect(importHfModel({ from: b, out: join(tmp, `ok-${n++}`) })).resolves.toMatchObject({ architecture: 'MistralForCausalLM' });
  });
  it('an unknown rope_scaling type, biases, another activation', async () => {
    const a = copy('hf-llama-gqa-tied');
    editJson(join(a, 'config.json'), (j) => { j.rope_scaling = { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 64 }; });
    await expectRefused(a, /rope_scaling type "yarn" is not supported/);
    const b = copy('hf-llama-gqa-tied');
    editJson(join(b, 'config.json'), (j) => { j.attention_bias = true; });
    await expectRefused(b, /attention_bias true is not supported/);
    const c = copy('hf-llama-gqa-tied');
    editJson(join(c, 'config.json'), (j) => { j.hidden_act = 'gelu'; });
    await expectRefused(c, /hidden_act "gelu" is not supported/);
    const d = copy('hf-mistral-mha');
    editTensors(d, (t) => { t.set('model.layers.1.self_attn.q_proj.bias', { dtype: 'bfloat16', dims: [64], data: new Uint16Array(64) }); });
    await expectRefused(d, /tensor model\.layers\.1\.self_attn\.q_proj\.bias is a bias/);
  });
  it('missing, extra, wrongly shaped and wrongly typed tensors', async () => {
    const a = copy('hf-mistral-mha');
    editTensors(a, (t) => { t.delete('model.layers.1.mlp.up_proj.weight'); });
    await expectRefused(a, /model\.safetensors: missing tensor model\.layers\.1\.mlp\.up_proj\.weight/);
    const b = copy('hf-mistral-mha');
    editTensors(b, (t) => { t.set('model.layers.2.mlp.up_proj.weight', t.get('model.layers.1.mlp.up_proj.weight')!); });
    await expectRefused(b, /unexpected tensor model\.layers\.2\.mlp\.up_proj\.weight/);
    const c = copy('hf-mistral-mha');
    editJson(join(c, 'config.json'), (j) => { j.intermediate_size = 180; });
    await expectRefused(c, /tensor model\.layers\.0\.mlp\.gate_proj\.weight has shape \[176,64\], config\.json needs \[180,64\]/);
    const d = copy('hf-mistral-mha');
    editTensors(d, (t) => { t.set('model.norm.weight', { dtype: 'float64', dims: [64], data: new Float64Array(64).fill(1) }); });
    await expectRefused(d, /tensor model\.norm\.weight is float64; expected float32, float16 or bfloat16/);
    const e = copy('hf-llama-gqa-tied'); // GQA: k_proj is [kv·hd, d]
    editJson(join(e, 'config.json'), (j) => { j.num_key_value_heads = 4; });
    await expectRefused(e, /tensor model\.layers\.0\.self_attn\.k_proj\.weight has shape \[32,64\], config\.json needs \[64,64\]/);
  });
  it('a tied head stored as well must be the embedding', async () => {
    const a = copy('hf-mistral-mha');
    editJson(join(a, 'config.json'), (j) => { j.tie_word_embeddings = true; });
    await expectRefused(a, /tie_word_embeddings is true but lm_head\.weight differs from model\.embed_tokens\.weight/);
    const b = copy('hf-mistral-mha');
    editJson(join(b, 'config.json'), (j) => { j.tie_word_embeddings = true; });
    editTensors(b, (t) => { t.set('lm_head.weight', t.get('model.embed_tokens.weight')!); });
    const out = join(tmp, `ok-${n++}`);
    await importHfModel({ from: b, out });
    expect(loadModelDir(out).weights.has('lm_head.weight')).toBe(false);
  });
  it('truncated shards, an index naming a missing shard, no weights at all', async () => {
    const a = copy('hf-llama-gqa-tied');
    const shard = join(a, 'model-00002-of-00003.safetensors');
    truncateSync(shard, statSync(shard).size - 100);
    await expectRefused(a, /model-00002-of-00003\.safetensors: truncated \(data ends at byte \d+, file has \d+\)/);
    const b = copy('hf-llama-gqa-tied');
    rmSync(join(b, 'model-00003-of-00003.safetensors'));
    await expectRefused(b, /model\.safetensors\.index\.json: names shard model-00003-of-00003\.safetensors \(for model\.layers\.1\.[a-z_.]+\), which does not exist/);
    const c = copy('hf-mistral-mha');
    renameSync(join(c, 'model.safetensors'), join(c, 'pytorch_model.bin'));
    await expectRefused(c, /has no model\.safetensors or model\.safetensors\.index\.json \(pytorch_model\.bin is not read: only safetensors weights are\)/);
  });
  it('a tokenizer whose ids do not fit vocab_size, or none', async () => {
    const a = copy('hf-mistral-mha');
    editJson(join(a, 'config.json'), (j) => { j.vocab_size = 600; });
    await expectRefused(a, /tokenizer\.json: the tokenizer has ids up to 656, which do not fit vocab_size 600/);
    const b = copy('hf-mistral-mha');
    rmSync(join(b, 'tokenizer.json'));
    await expectRefused(b, /has no tokenizer\.json/);
  });
  it('an output folder that exists', async () => {
    const out = join(tmp, `exists-${n++}`);
    mkdirSync(out);
    const err = await importHfModel({ from: join(FIXTURES, 'hf-mistral-mha'), out }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/already exists/);
    expect(readdirSync(out)).toEqual([]);
  });
});

// the fixtures were made with Debian bookworm's torch 1.13 (another version may draw other random numbers)
const hasTorch = spawnSync('/usr/bin/python3', ['-c', "import torch, numpy; assert torch.__version__.startswith('1.13')"], { stdio: 'ignore' }).status === 0;

describe.skipIf(!hasTorch)('the fixtures come from the committed scripts (Debian python3-torch 1.13)', () => {
  it('tools/make-hf-fixtures.sh writes the same checkpoints, and logits within 1e-6', () => {
    const dir = join(tmp, 'remade');
    const r = spawnSync('bash', [join(import.meta.dirname, '../../tools/make-hf-fixtures.sh'), dir], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    for (const fixture of ['hf-llama-gqa-tied', 'hf-mistral-mha']) {
      for (const f of readdirSync(join(FIXTURES, fixture))) {
        expect(readFileSync(join(dir, fixture, f)).equals(readFileSync(join(FIXTURES, fixture, f))), `${fixture}/${f}`).toBe(true);
      }
      const ours = referenceLogits(join(dir, `${fixture}.logits.safetensors`)), committed = referenceLogits(join(FIXTURES, `${fixture}.logits.safetensors`));
      expect(ours.map((s) => s.ids)).toEqual(committed.map((s) => s.ids));
      ours.forEach((s, k) => expect(maxAbsDiff(s.logits, committed[k]!.logits)).toBeLessThanOrEqual(1e-6));
    }
    expect(readFileSync(join(dir, 'hf-tokenizer-encoded.json'), 'utf8')).toBe(readFileSync(join(FIXTURES, 'hf-tokenizer-encoded.json'), 'utf8'));
  });
});

describe("GPT-2's whole BPE (50,257 ids) as a tokenizer.json", () => {
  it('encodes like gpt-tokenizer, refuses a model whose vocab_size is too small, imports one with padding rows', async () => {
    const tok = join(tmp, 'gpt2-tok');
    const r = spawnSync(process.execPath, [join(import.meta.dirname, '../../tools/gpt2-tokenizer-json.mjs'), '--out', tok], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0); // the script itself checks its encoder against gpt-tokenizer
    const hfTok = await loadTokenizer(join(tok, 'tokenizer.json'));
    const gpt2 = await loadTokenizer('gpt2');
    expect(hfTok.vocabSize).toBe(50257);
    expect(hfTok.eotId).toBe(50256);
    for (const text of ['Hello world', ' the cat sat on the mat.\n\nNew paragraph — naïve café 東京 🙂', "It's 2024: don't    stop!"]) {
      expect(hfTok.encode(text)).toEqual(gpt2.encode(text));
    }
    // a Mistral directory with this tokenizer: 672 rows are too few; 50304 rows (padded) fit
    const small = join(tmp, 'gpt2-small');
    cpSync(join(FIXTURES, 'hf-mistral-mha'), small, { recursive: true });
    cpSync(join(tok, 'tokenizer.json'), join(small, 'tokenizer.json'));
    rmSync(join(small, 'tokenizer_config.json'));
    await expect(importHfModel({ from: small, out: join(tmp, 'gpt2-small-out') })).rejects.toThrow(/ids up to 50256, which do not fit vocab_size 672/);
    const big = join(tmp, 'gpt2-big');
    cpSync(small, big, { recursive: true });
    editJsonFile(join(big, 'config.json'), (j) => { j.vocab_size = 50304; });
    const { tensors } = loadSafetensors(join(big, 'model.safetensors'));
    for (const name of ['model.embed_tokens.weight', 'lm_head.weight']) {
      const t = tensors.get(name)!, data = new Uint16Array(50304 * 64);
      data.set(t.data as Uint16Array);
      tensors.set(name, { dtype: 'bfloat16', dims: [50304, 64], data });
    }
    saveSafetensors(join(big, 'model.safetensors'), tensors);
    const out = join(tmp, 'gpt2-big-out');
    const res = await importHfModel({ from: big, out });
    expect(res.tokenizer).toMatchObject({ vocab_size: 50257, eot_id: 50256 });
    const { config } = loadModelDir(out);
    expect(config.vocabSize).toBe(50304);
    expect(config.tokenizer).toMatchObject({ kind: 'tokenizer.json', vocab_size: 50257, eot_id: 50256 });
  });
});

function editJsonFile(path: string, edit: (j: Record<string, any>) => void): void {
  const j = readJson(path);
  edit(j);
  writeFileSync(path, JSON.stringify(j, null, 2));
}

describe('chat templates and output folders', () => {
  it('a chat_template.jinja beside the tokenizer goes into the kept tokenizer_config.json; missing parent folders are made', async () => {
    const src = join(tmp, 'jinja');
    cpSync(join(FIXTURES, 'hf-mistral-mha'), src, { recursive: true });
    rmSync(join(src, 'tokenizer_config.json'));
    writeFileSync(join(src, 'chat_template.jinja'), '{% for m in messages %}{{ m.content }}{% endfor %}');
    const out = join(tmp, 'new-parent', 'deeper', 'model');
    const r = await importHfModel({ from: src, out });
    expect(r.files).toContain('tokenizer_config.json');
    expect(readJson(join(out, 'tokenizer_config.json'))).toEqual({ chat_template: '{% for m in messages %}{{ m.content }}{% endfor %}' });
    expect(loadModelDir(out).config.tokenizer!.config_file).toBe('tokenizer_config.json');
  });
  it('a refused import into a new parent folder makes no folder', async () => {
    const src = join(tmp, 'bad-parent');
    cpSync(join(FIXTURES, 'hf-mistral-mha'), src, { recursive: true });
    editJsonFile(join(src, 'config.json'), (j) => { j.mlp_bias = true; });
    const parent = join(tmp, 'never-made');
    await expect(importHfModel({ from: src, out: join(parent, 'm') })).rejects.toThrow(/mlp_bias true is not supported/);
    expect(existsSync(parent)).toBe(false);
  });
});
