// The data formats line by line, and chat at inference: the server and generateChat render with the
// template in the model directory and stop at its end-of-turn marker.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUILTIN_TEMPLATES, resolveTemplate } from '../../src/data/chat-template.js';
import { SftDataError, parseSftJsonl } from '../../src/data/sft-format.js';
import { chatPrompt, chatStops, generateChat } from '../../src/generate/chat.js';
import { openModel } from '../../src/generate/generate.js';
import { parseConfig } from '../../src/model/config.js';
import { saveModelDir } from '../../src/model/model-dir.js';
import { initWeights } from '../../src/model/weights.js';
import { serveModel } from '../../src/serve/server.js';

describe('fine-tuning data', () => {
  it('reads the three shapes as conversations, with file:line', () => {
    const text = [
      JSON.stringify({ messages: [{ role: 'system', content: 'S' }, { role: 'user', content: 'Q' }, { role: 'assistant', content: 'A' }] }),
      '',
      JSON.stringify({ prompt: 'P', completion: 'C' }),
      JSON.stringify({ instruction: 'I', input: 'X', output: 'O' }),
      JSON.stringify({ instruction: 'I', output: 'O' }) + '\r',
    ].join('\n');
    const r = parseSftJsonl(text, 'd.jsonl');
    expect(r.lines).toBe(4);
    expect(r.samples.map((s) => s.source)).toEqual(['d.jsonl:1', 'd.jsonl:3', 'd.jsonl:4', 'd.jsonl:5']);
    expect(r.samples.map((s) => s.messages)).toEqual([
      [{ role: 'system', content: 'S' }, { role: 'user', content: 'Q' }, { role: 'assistant', content: 'A' }],
      [{ role: 'user', content: 'P' }, { role: 'assistant', content: 'C' }],
      [{ role: 'user', content: 'I\n\nX' }, { role: 'assistant', content: 'O' }],
      [{ role: 'user', content: 'I' }, { role: 'assistant', content: 'O' }],
    ]);
  });

  it('refuses bad lines with the reason, or counts them when skipping', () => {
    const bad = ['{"prompt": 1, "completion": "x"}', '{"prompt": "x"}', '[1]', '{"messages": []}', '{"messages": [{"role": "user", "content": ["a"]}]}'];
    const reasons = bad.map((l) => {
      try {
        parseSftJsonl(l, 'b.jsonl');
        return 'parsed';
      } catch (e) {
        expect(e).toBeInstanceOf(SftDataError);
        expect((e as Error).message).toMatch(/^b\.jsonl:1: /);
        return (e as SftDataError).reason;
      }
    });
    expect(reasons).toEqual(['bad prompt', 'bad completion', 'not an object', 'bad messages', 'bad content']);
    const r = parseSftJsonl([...bad, '{"prompt": "ok", "completion": "ok"}'].join('\n'), 'b.jsonl', { skipBad: true });
    expect(r.samples.length).toBe(1);
    expect(Object.values(r.skipped).reduce((a, b) => a + b, 0)).toBe(5);
    expect(r.examples[1]).toMatch(/^b\.jsonl:2: "completion" must be a string \(missing\)/);
  });
});

describe('chat at inference', () => {
  it('the server renders chats with the model directory\'s template and stops at its end of turn', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'growlm-chat-')), 'm');
    const config = parseConfig({ vocab_size: 256, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 2, max_position_embeddings: 256, growlm: { tokenizer: { kind: 'byte', vocab_size: 256 } } });
    saveModelDir(dir, { config, weights: initWeights(config, 2) });
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ chat_template: BUILTIN_TEMPLATES.llama3!.template, bos_token: '<|begin_of_text|>', eos_token: '<|eot_id|>' }));
    const template = resolveTemplate(undefined, dir);
    const messages = [{ role: 'user' as const, content: 'Hi' }];
    const prompt = chatPrompt(template, messages);
    expect(prompt).toBe('<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n');
    expect(chatStops(template, ['\n\n'])).toEqual(['\n\n', '<|eot_id|>']);
    const server = await serveModel(dir, { port: 0, threads: 1 });
    try {
      const res = await fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ model: 'm', messages, max_tokens: 6, temperature: 0 }) });
      const body = await res.json() as { usage: { prompt_tokens: number }; choices: { message: { content: string } }[] };
      expect(body.usage.prompt_tokens).toBe(Buffer.byteLength(prompt));
      const model = await openModel(dir, { threads: 1 });
      const alone = await generateChat(model, messages, { temperature: 0, maxTokens: 6 }).finally(() => model.release());
      expect(body.choices[0]!.message.content).toBe(alone.text);
      // a template that refuses the conversation: 400 with its message
      const sys = await fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }], max_tokens: 2 }) });
      expect(sys.status).toBe(200); // llama3 accepts any order of roles
    } finally {
      await server.close();
    }
    const mistral = await serveModel(dir, { port: 0, threads: 1, template: 'mistral' });
    try {
      const res = await fetch(`${mistral.url}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'system', content: 'S' }, { role: 'user', content: 'Q' }], max_tokens: 2 }) });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/chat template mistral:1 failed to render: Conversation roles must alternate/);
    } finally {
      await mistral.close();
    }
  });
});
