// import ∘ export --format hf: a Hugging Face checkpoint imported and exported again is the same
// checkpoint, and a grown (MSG masks ramping) imported model exported and imported again computes the
// same function.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exportHfModel } from '../../src/export/hf.js';
import { growModelDir } from '../../src/growth/model-dir.js';
import { importHfModel } from '../../src/import/hf-import.js';
import { CheckpointReader } from '../../src/model/checkpoint-files.js';
import { loadModelDir } from '../../src/model/model-dir.js';
import { DecoderRunner } from '../../src/runtime/forward.js';
import { FIXTURES, maxAbsDiff, readJson } from '../helpers.js';

const SRC = join(FIXTURES, 'hf-llama-gqa-tied');
const tmp = mkdtempSync(join(tmpdir(), 'growlm-roundtrip-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function logits(dir: string, ids: number[]): Promise<Float32Array> {
  const { config, weights } = loadModelDir(dir);
  const runner = await DecoderRunner.create(config, weights, ['logits']);
  try {
    return (await runner.run({ inputs: BigInt64Array.from(ids, BigInt), batch: 1, seq: ids.length })).logits!;
  } finally {
    await runner.release();
  }
}

describe('import, then export --format hf', () => {
  it('bf16 export of an imported bf16 checkpoint gives back every tensor bit for bit, and its config and tokenizer files', async () => {
    const model = join(tmp, 'imported');
    await importHfModel({ from: SRC, out: model });
    const back = join(tmp, 'exported');
    exportHfModel(model, back, { dtype: 'bfloat16' });
    const a = CheckpointReader.open(SRC), b = CheckpointReader.open(back);
    try {
      expect(b.names().sort()).toEqual(a.names().sort());
      for (const name of a.names()) {
        expect(b.spec(name)).toEqual(a.spec(name));
        expect(Buffer.from((b.read(name).data as Uint16Array).buffer).equals(Buffer.from((a.read(name).data as Uint16Array).buffer)), name).toBe(true);
      }
    } finally {
      a.close();
      b.close();
    }
    const [src, out] = [readJson(join(SRC, 'config.json')), readJson(join(back, 'config.json'))];
    for (const k of ['architectures', 'vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'head_dim', 'rope_theta', 'rope_scaling', 'tie_word_embeddings', 'rms_norm_eps', 'torch_dtype']) {
      expect(out[k], k).toEqual(src[k]);
    }
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) expect(readJson(join(back, f)), f).toEqual(readJson(join(SRC, f)));
  });

  it('a grown imported model (MSG masks ramping) exported as float32 and imported again computes the same logits', async () => {
    const model = join(tmp, 'imported-2');
    await importHfModel({ from: SRC, out: model });
    const grown = join(tmp, 'grown');
    await growModelDir({ model, out: grown, sizes: { hidden: 96, heads: 6, ffn: 256, layers: 3 }, method: 'msg' });
    expect(loadModelDir(grown).config.growth.masks).toBeDefined();
    const hf = join(tmp, 'grown-hf');
    expect(exportHfModel(grown, hf, { dtype: 'float32' }).masks_baked).toBe(true);
    const again = join(tmp, 'grown-again');
    await importHfModel({ from: hf, out: again });
    const ids = readJson(join(FIXTURES, 'hf-tokenizer-encoded.json')).encoded[1].ids as number[];
    const [x, y] = [await logits(grown, ids), await logits(again, ids)];
    const rel = maxAbsDiff(x, y) / Math.max(...Array.from(x, Math.abs));
    console.log(`grown → hf → imported: max |Δlogit| ${maxAbsDiff(x, y).toExponential(2)} (${rel.toExponential(1)} relative)`);
    expect(rel).toBeLessThanOrEqual(1e-5);
    const cfg = loadModelDir(again).config;
    expect(cfg.growth.masks).toBeUndefined();
    expect(cfg.tokenizer!.sha256).toBe(loadModelDir(model).config.tokenizer!.sha256);
  });
});
