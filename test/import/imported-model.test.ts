// An imported model (the PyTorch-written GQA, tied, llama3-scaled Llama of test/fixtures) works with
// its own tokenizer through the built CLI: generate and eval agree with the PyTorch script's logits,
// data prepared with its tokenizer.json trains it, and growth by every method preserves its function
// (target ≤ 1e-5 relative) and keeps its tokenizer files.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { growModelDir } from '../../src/growth/model-dir.js';
import { importHfModel } from '../../src/import/hf-import.js';
import { SafetensorsFile } from '../../src/model/safetensors.js';
import { writeTokenFile } from '../../src/data/token-file.js';
import { readConfigFile } from '../../src/model/model-dir.js';
import { FIXTURES, readJson } from '../helpers.js';
import { expectOneLineError, growlm } from '../cli/run.js';

const SRC = join(FIXTURES, 'hf-llama-gqa-tied');
const tmp = mkdtempSync(join(tmpdir(), 'growlm-imported-'));
const model = join(tmp, 'llama');
const data = join(tmp, 'data');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Sequence 0 of the script (the ids of the first text of hf-tokenizer-encoded.json) and its logits. */
function reference(): { ids: number[]; logits: Float32Array; V: number } {
  const f = SafetensorsFile.open(`${SRC}.logits.safetensors`);
  try {
    const t = f.readFloat32('logits.0');
    return { ids: Array.from(f.read('ids.0').data as BigInt64Array, Number), logits: t.data, V: t.dims[1]! };
  } finally {
    f.close();
  }
}

const argmax = (row: Float32Array) => row.reduce((best, x, i) => (x > row[best]! ? i : best), 0);

beforeAll(() => {
  const r = growlm('import', '--from', SRC, '--out', model, '--json');
  expect(r.code, r.stderr).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({ architecture: 'LlamaForCausalLM', source_files: 3, source_dtypes: { bfloat16: 20 } });
});

describe('growlm import, bad input', () => {
  it('one line on stderr, exit 1, nothing written', () => {
    const bad = join(tmp, 'hf-sliding');
    cpSync(join(FIXTURES, 'hf-mistral-mha'), bad, { recursive: true });
    const cfg = readJson(join(bad, 'config.json'));
    writeFileSync(join(bad, 'config.json'), JSON.stringify({ ...cfg, sliding_window: 64 }));
    const before = readdirSync(tmp).sort();
    expectOneLineError(growlm('import', '--from', bad, '--out', join(tmp, 'x')), /^growlm: error: .*config\.json: sliding_window 64 is not supported/);
    expect(existsSync(join(tmp, 'x'))).toBe(false);
    expect(readdirSync(tmp).sort()).toEqual(before);
    expectOneLineError(growlm('import', '--from', SRC, '--out', model), /already exists/);
    expectOneLineError(growlm('import', '--from', SRC), /--out is required/, 2);
  });
});

describe('an imported GQA tied Llama through the CLI', () => {
  const text = readJson(join(FIXTURES, 'hf-tokenizer-encoded.json')).encoded[0].text as string;

  it('generate encodes the prompt with its tokenizer and greedily picks PyTorch\'s argmax', () => {
    const { ids, logits, V } = reference();
    const r = growlm('generate', '--model', model, '--prompt', text, '--max-tokens', '1', '--temperature', '0', '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.prompt_tokens).toBe(ids.length);
    expect(out.tokens).toEqual([argmax(logits.subarray((ids.length - 1) * V))]);
  });

  it('eval gives the cross-entropy of PyTorch\'s logits (≤ 1e-5 relative)', () => {
    const { ids, logits, V } = reference();
    const tok = join(tmp, 'seq0.tok');
    writeTokenFile(tok, ids, V);
    let ce = 0;
    for (let t = 0; t + 1 < ids.length; t++) {
      const row = logits.subarray(t * V, (t + 1) * V);
      const m = Math.max(...row);
      let s = 0;
      for (const x of row) s += Math.exp(x - m);
      ce += m + Math.log(s) - row[ids[t + 1]!]!;
    }
    ce /= ids.length - 1;
    const r = growlm('eval', '--model', model, '--tokens', tok, '--seq', String(ids.length - 1), '--batch', '1', '--json');
    expect(r.code, r.stderr).toBe(0);
    const loss = JSON.parse(r.stdout).loss as number;
    console.log(`eval on sequence 0: loss ${loss.toFixed(6)}, from PyTorch's logits ${ce.toFixed(6)}`);
    expect(Math.abs(loss - ce) / ce).toBeLessThanOrEqual(1e-5);
  });

  it('data prepared with its tokenizer.json trains it; its tokenizer files stay', async () => {
    mkdirSync(join(tmp, 'corpus'));
    for (let d = 0; d < 6; d++) {
      writeFileSync(join(tmp, 'corpus', `d${d}.txt`), Array.from({ length: 20 }, (_, i) => `Document ${d}, line ${i}: ${text}`).join('\n'));
    }
    let r = growlm('data', 'prepare', '--input', join(tmp, 'corpus'), '--tokenizer', join(model, 'tokenizer.json'), '--val-fraction', '0.2', '--out', data, '--json');
    expect(r.code, r.stderr).toBe(0);
    const own = readConfigFile(join(model, 'config.json')).tokenizer!;
    expect(readJson(join(data, 'meta.json')).tokenizer.sha256).toBe(own.sha256);
    const trained = join(tmp, 'trained');
    await importHfModel({ from: SRC, out: trained });
    r = growlm('eval', '--model', trained, '--data', data, '--seq', '32', '--json');
    expect(r.code, r.stderr).toBe(0);
    const before = JSON.parse(r.stdout).loss as number;
    r = growlm('train', '--model', trained, '--data', data, '--steps', '8', '--batch', '4', '--seq', '32', '--lr', '3e-3', '--warmup', '0', '--json');
    expect(r.code, r.stderr).toBe(0);
    r = growlm('eval', '--model', trained, '--data', data, '--seq', '32', '--json');
    expect(r.code, r.stderr).toBe(0);
    const after = JSON.parse(r.stdout).loss as number;
    console.log(`imported model on data of its own tokenizer: val loss ${before.toFixed(4)} → ${after.toFixed(4)} after 8 steps`);
    expect(after).toBeLessThan(before - 0.1);
    const cfg = readConfigFile(join(trained, 'config.json'));
    expect(cfg.tieWordEmbeddings).toBe(true);
    expect(cfg.tokenizer!.sha256).toBe(own.sha256);
    expect(readJson(join(trained, 'tokenizer_config.json')).chat_template).toContain('<|assistant|>');
  });
});

describe('growth of the imported GQA tied model', () => {
  const sizes = { msg: { hidden: 96, heads: 6, ffn: 256, layers: 3 }, 'mask-free': { hidden: 96, heads: 6, ffn: 256, layers: 3 }, clone: { hidden: 128, heads: 8, ffn: 352 } } as const;
  for (const method of ['msg', 'mask-free', 'clone'] as const) {
    it(`${method}: function preserved to ≤ 1e-5 relative, kv groups and tying kept, tokenizer files kept`, async () => {
      const out = join(tmp, `grown-${method}`);
      const r = await growModelDir({ model, out, sizes: sizes[method], method, check: true, data });
      const rel = r.max_abs_logit_diff! / r.max_abs_logit!;
      console.log(`${method}: max |Δlogit| ${r.max_abs_logit_diff!.toExponential(2)} of max |logit| ${r.max_abs_logit!.toFixed(2)} (${rel.toExponential(1)} relative)`);
      expect(r.max_abs_logit!).toBeGreaterThan(1);
      expect(rel).toBeLessThanOrEqual(1e-5);
      const cfg = readConfigFile(join(out, 'config.json'));
      expect(cfg.numHeads / cfg.numKvHeads).toBe(2);
      expect(cfg.tieWordEmbeddings).toBe(true);
      expect(cfg.ropeScaling?.type).toBe('llama3');
      expect(readJson(join(out, 'tokenizer_config.json')).chat_template).toContain('<|assistant|>');
      expect(readJson(join(out, 'generation_config.json')).eos_token_id).toBe(656);
    });
  }

  it('the grown model generates through the CLI with the same first greedy token', () => {
    const { ids, logits, V } = reference();
    const text = readJson(join(FIXTURES, 'hf-tokenizer-encoded.json')).encoded[0].text as string;
    const r = growlm('generate', '--model', join(tmp, 'grown-msg'), '--prompt', text, '--max-tokens', '1', '--temperature', '0', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).tokens).toEqual([argmax(logits.subarray((ids.length - 1) * V))]);
  });
});
