// Chat templates: growlm's rendering (@huggingface/jinja) against Python Jinja2's reference renderings
// (test/fixtures/chat-templates.json, made by tools/chat-template-fixtures.py), errors with the
// template's line, and the answer spans found by rendering prefix by prefix.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUILTIN_TEMPLATES, TemplateError, makeTemplate, modelDirTemplate, resolveTemplate, templateConfig } from '../../src/data/chat-template.js';
import type { ChatMessage } from '../../src/data/sft-format.js';
import { answerSpans, sampleRow, tokenizeConversation } from '../../src/data/sft-tokenize.js';
import { ByteTokenizer } from '../../src/data/tokenizer.js';
import { IGNORE_INDEX } from '../../src/model/params.js';
import { FIXTURES, readJson } from '../helpers.js';

interface Fixture {
  templates: Record<string, { source: string; bos: string; eos: string }>;
  cases: { template: string; conversation: string; messages: ChatMessage[]; add_generation_prompt: boolean; rendered?: string; error?: string }[];
}
const fx = readJson<Fixture>(join(FIXTURES, 'chat-templates.json'));
const template = (name: string) => {
  const t = fx.templates[name]!;
  return makeTemplate(t.source, name, t.bos, t.eos);
};

describe('chat templates', () => {
  it('the builtins are the real templates the fixtures were rendered from', () => {
    for (const name of ['chatml', 'llama3', 'mistral']) {
      expect(BUILTIN_TEMPLATES[name]!.template).toBe(fx.templates[name]!.source);
      expect([BUILTIN_TEMPLATES[name]!.bos, BUILTIN_TEMPLATES[name]!.eos]).toEqual([fx.templates[name]!.bos, fx.templates[name]!.eos]);
    }
  });

  it('renders every template and conversation exactly as Python Jinja2 does (errors where it raises)', () => {
    expect(fx.cases.length).toBe(40);
    for (const c of fx.cases) {
      const t = template(c.template);
      const label = `${c.template} / ${c.conversation} / gen ${c.add_generation_prompt}`;
      if (c.error !== undefined) {
        expect(() => t.render(c.messages, c.add_generation_prompt), label).toThrow(c.error);
      } else {
        expect(t.render(c.messages, c.add_generation_prompt), label).toBe(c.rendered);
      }
    }
  });

  it('finds the end-of-turn marker of each template', () => {
    expect(['chatml', 'llama3', 'mistral', 'qwen2'].map((n) => template(n).endOfTurn)).toEqual(['<|im_end|>', '<|eot_id|>', '</s>', '<|im_end|>']);
  });

  it('names the line of a syntax error, of raise_exception and of an unknown filter', () => {
    expect(() => makeTemplate('{% for m in messages %}\n{{ m.role \n{% endfor %}', 't.jinja')).toThrow(/^chat template t\.jinja:3: .*Expected closing expression/);
    const raising = makeTemplate("{% for m in messages %}\n{% if m.role == 'system' %}\n{{ raise_exception('no system prompts') }}\n{% endif %}{{ m.content }}{% endfor %}", 'r.jinja');
    expect(() => raising.render([{ role: 'system', content: 'x' }], false)).toThrow(new TemplateError('chat template r.jinja:3 failed to render: no system prompts'));
    const filter = makeTemplate('{% for m in messages %}\n\n{{ m.content | shout }}{% endfor %}', 'f.jinja');
    expect(() => filter.render([{ role: 'user', content: 'x' }], false)).toThrow(/^chat template f\.jinja:3 failed to render: .*shout/);
  });

  it('takes the model directory\'s template (HF list form too), a builtin, a Jinja file or a tokenizer_config.json', () => {
    const dir = mkdtempSync(join(tmpdir(), 'growlm-tpl-'));
    expect(modelDirTemplate(dir)).toBeUndefined();
    expect(resolveTemplate(undefined, dir).origin).toBe('chatml');
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ chat_template: [{ name: 'tool_use', template: 'x' }, { name: 'default', template: fx.templates.llama3!.source }], bos_token: { content: '<|begin_of_text|>' }, eos_token: '<|eot_id|>' }));
    const own = resolveTemplate(undefined, dir);
    expect(own.render([{ role: 'user', content: 'hi' }], true)).toBe('<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n');
    expect(resolveTemplate('mistral', dir).origin).toBe('mistral');
    const file = join(dir, 'my.jinja');
    writeFileSync(file, fx.templates.qwen2!.source);
    expect(resolveTemplate(file).endOfTurn).toBe('<|im_end|>');
    expect(resolveTemplate(join(dir, 'tokenizer_config.json')).endOfTurn).toBe('<|eot_id|>');
    expect(() => resolveTemplate('nosuch')).toThrow(/neither a builtin \(chatml, llama3, mistral\) nor a file/);
    // the output's tokenizer_config.json keeps existing fields and adds the template's tokens where missing
    expect(templateConfig(resolveTemplate('chatml'), { model_max_length: 128 })).toEqual({ model_max_length: 128, chat_template: BUILTIN_TEMPLATES.chatml!.template, eos_token: '<|im_end|>' });
    expect(templateConfig(resolveTemplate('llama3'), { eos_token: '</s>' }).eos_token).toBe('</s>');
  });
});

describe('answer spans', () => {
  it('mark exactly each assistant turn with its end-of-turn marker, for every template and conversation', () => {
    for (const c of fx.cases) {
      if (c.error !== undefined || c.add_generation_prompt || !c.messages.some((m) => m.role === 'assistant')) continue;
      const t = template(c.template);
      const pieces = answerSpans(t, c.messages, c.conversation);
      expect(pieces.map((p) => p.text).join('')).toBe(c.rendered);
      const answers = pieces.filter((p) => p.answer).map((p) => p.text);
      const turns = c.messages.filter((m) => m.role === 'assistant');
      expect(answers.length).toBe(turns.length);
      answers.forEach((a, i) => {
        // the content (llama3 trims it; where a template's generation prompt ends in whitespace, the answer starts after it)
        const content = turns[i]!.content.trim();
        expect(a.trimStart().startsWith(content), `${c.template}/${c.conversation}: ${JSON.stringify(a)}`).toBe(true);
        expect(a.trimStart().slice(content.length).trim()).toBe(t.endOfTurn);
      });
      // no user or system text is in an answer piece
      for (const m of c.messages.filter((x) => x.role !== 'assistant')) for (const a of answers) expect(a.includes(m.content.trim())).toBe(false);
    }
  });

  it('give targets only on answer tokens (byte tokenizer: the answer bytes, IGNORE_INDEX elsewhere)', () => {
    const t = resolveTemplate('chatml');
    const messages: ChatMessage[] = [{ role: 'system', content: 'S' }, { role: 'user', content: 'Q1' }, { role: 'assistant', content: 'A1' }, { role: 'user', content: 'Q2' }, { role: 'assistant', content: 'A2' }];
    const tok = new ByteTokenizer();
    const s = tokenizeConversation(t, tok, messages, 'x');
    expect(tok.decode(s.ids)).toBe(t.render(messages, false));
    const row = sampleRow(s);
    expect(row.inputs.length).toBe(s.ids.length - 1);
    const trained = tok.decode(row.targets.filter((x) => x !== IGNORE_INDEX));
    expect(trained).toBe('A1<|im_end|>\nA2<|im_end|>\n');
  });

  it('refuses a template that does not render a conversation prefix by prefix', () => {
    // newest message first: an earlier render is not a prefix of a later one
    const t = makeTemplate('{% for m in messages | reverse %}{{ m.content }};{% endfor %}', 'odd');
    const messages: ChatMessage[] = [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }, { role: 'user', content: 'q2' }];
    expect(() => answerSpans(t, messages, 'd.jsonl:4')).toThrow(/^d\.jsonl:4: chat template odd does not render messages\[1\] as a prefix of the whole conversation/);
    // a count first: the generation prompt is not a prefix, the sentinel render finds the answer
    const counted = makeTemplate('{{ messages | length }}{% for m in messages %}{{ m.content }};{% endfor %}', 'counted');
    expect(answerSpans(counted, messages.slice(0, 2), 'x')).toEqual([{ text: '2q;', answer: false }, { text: 'a;', answer: true }]);
  });
});
