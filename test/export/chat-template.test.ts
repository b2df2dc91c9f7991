// A fine-tuned model's chat template travels with its exports (issue: SFT templates go with the model
// directory and the HF, GGUF and ONNX-folder exports), and a model without one gets none.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gguf as readGguf } from '@huggingface/gguf';
import { BUILTIN_TEMPLATES } from '../../src/data/chat-template.js';
import { exportGguf } from '../../src/export/gguf.js';
import { exportHfModel } from '../../src/export/hf.js';
import { exportOnnxLayout } from '../../src/export/onnx-layout.js';
import { parseConfig } from '../../src/model/config.js';
import { saveModelDir } from '../../src/model/model-dir.js';
import { initWeights } from '../../src/model/weights.js';

let tmp: string;
const TEMPLATE = BUILTIN_TEMPLATES.chatml!.template;

function modelDir(name: string, withTemplate: boolean): string {
  const dir = join(tmp, name);
  const config = {
    ...parseConfig({ vocab_size: 256, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, head_dim: 8, max_position_embeddings: 32 }),
    tokenizer: { kind: 'byte', vocab_size: 256 },
  };
  saveModelDir(dir, { config, weights: initWeights(config, 1) });
  if (withTemplate) writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ chat_template: TEMPLATE, eos_token: '<|im_end|>' }));
  return dir;
}

const json = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;

async function ggufTemplate(path: string): Promise<unknown> {
  const { metadata } = await readGguf(path, { allowLocalFile: true });
  return (metadata as Record<string, unknown>)['tokenizer.chat_template'];
}

beforeAll(() => { tmp = mkdtempSync(join(tmpdir(), 'growlm-template-')); });
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('the chat template of a byte-tokenizer model', () => {
  it('goes into the HF, GGUF and ONNX-folder exports (template only: the byte vocabulary has no special tokens)', async () => {
    const dir = modelDir('sft', true);
    exportHfModel(dir, join(tmp, 'hf'));
    const hf = json(join(tmp, 'hf', 'tokenizer_config.json'));
    expect(hf.chat_template).toBe(TEMPLATE);
    expect(hf.eos_token).toBeUndefined();
    await exportGguf(dir, join(tmp, 'm.gguf'));
    expect(await ggufTemplate(join(tmp, 'm.gguf'))).toBe(TEMPLATE);
    await exportOnnxLayout(dir, join(tmp, 'onnx'));
    expect(json(join(tmp, 'onnx', 'tokenizer_config.json')).chat_template).toBe(TEMPLATE);
  }, 60_000);

  it('is absent from the exports of a model that has none', async () => {
    const dir = modelDir('base', false);
    exportHfModel(dir, join(tmp, 'hf-base'));
    expect(json(join(tmp, 'hf-base', 'tokenizer_config.json')).chat_template).toBeUndefined();
    await exportGguf(dir, join(tmp, 'base.gguf'));
    expect(await ggufTemplate(join(tmp, 'base.gguf'))).toBeUndefined();
  }, 60_000);
});
