// sftModelDir end to end on a small byte-level model: the output directory, the template it carries, resume, and fatal input that writes nothing.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/model/config.js';
import { initModelDir } from '../../src/model/init-model-dir.js';
import { readConfigFile, writeConfig } from '../../src/model/model-dir.js';
import { sftModelDir } from '../../src/sft/sft-model-dir.js';
import { evaluateSft } from '../../src/sft/evaluate.js';
import { parseSftJsonl } from '../../src/data/sft-format.js';

let tmp: string, base: string, data: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'growlm-sft-'));
  base = join(tmp, 'base');
  initModelDir(base, parseConfig({ vocab_size: 256, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 2, max_position_embeddings: 128 }), { seed: 1 });
  writeConfig(base, { ...readConfigFile(join(base, 'config.json')), tokenizer: { kind: 'byte', vocab_size: 256 } });
  const lines: string[] = [];
  for (let i = 0; i < 40; i++) {
    if (i % 3 === 0) lines.push(JSON.stringify({ messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: `What is ${i}+1?` }, { role: 'assistant', content: `${i + 1}` }] }));
    else if (i % 3 === 1) lines.push(JSON.stringify({ prompt: `Say ${i}`, completion: `${i}` }));
    else lines.push(JSON.stringify({ instruction: 'Double it', input: `${i}`, output: `${2 * i}` }));
  }
  data = join(tmp, 'data.jsonl');
  writeFileSync(data, lines.join('\n') + '\n');
});

const settings = { batch: 4, lr: 1e-2, session: { threads: 1 }, checkpointEvery: 2, packing: 'pack' as const };

describe('sftModelDir', () => {
  it('fine-tunes (packed rows) into a new directory that carries the template, resumes exactly, and evaluates', async () => {
    const out = join(tmp, 'out');
    const r = await sftModelDir({ model: base, out, data, steps: 4, ...settings });
    expect(r.finalStep).toBe(4);
    expect(r.summary.samples).toBe(40);
    expect(r.summary.held_out).toBe(2);
    expect(r.summary.train_samples).toBe(38);
    expect(r.valLoss).toBeGreaterThan(0);
    const cfg = JSON.parse(readFileSync(join(out, 'tokenizer_config.json'), 'utf8'));
    expect(cfg.chat_template).toContain('<|im_start|>');
    expect(cfg.eos_token).toBe('<|im_end|>');
    expect(existsSync(join(base, 'tokenizer_config.json'))).toBe(false);
    // stopped at 2 and resumed: the same losses
    const out2 = join(tmp, 'out2');
    await sftModelDir({ model: base, out: out2, data, steps: 4, stopAt: 2, ...settings });
    await sftModelDir({ model: base, out: out2, data, steps: 4, resume: true, ...settings });
    const losses = (d: string) => readFileSync(join(d, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).loss);
    expect(losses(out2)).toEqual(losses(out));
    // evaluation of the fine-tuned model on held-out conversations
    const held = parseSftJsonl(readFileSync(data, 'utf8'), 'data.jsonl').samples.slice(0, 4);
    const ev = await evaluateSft(out, held, { threads: 1 });
    expect(ev.samples).toBe(4);
    expect(ev.generated).toBe(4);
    expect(ev.answer_loss).toBeGreaterThan(0);
    expect(ev.answer_tokens).toBeGreaterThan(4);
    expect(ev.exact_match).toBeGreaterThanOrEqual(0);
    expect(ev.predictions[0]!.expected).toBe('1');
  });
});
