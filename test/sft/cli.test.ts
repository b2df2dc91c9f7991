// growlm sft and growlm generate --chat through the built executable: a run with its summary, every kind of
// bad input (one line naming file:line, nothing written), the counts of skipped, dropped and truncated samples,
// and a chat with the fine-tuned model's template.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectOneLineError, growlm } from '../cli/run.js';

let tmp: string, base: string, good: string;
const jsonl = (name: string, rows: unknown[]) => {
  const p = join(tmp, name);
  writeFileSync(p, rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n');
  return p;
};
const qa = (i: number) => ({ prompt: `Q${i}?`, completion: `A${i}` });

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'growlm-sft-cli-'));
  base = join(tmp, 'base');
  const cfg = join(tmp, 'c.json');
  writeFileSync(cfg, JSON.stringify({ vocab_size: 256, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 2, max_position_embeddings: 160, growlm: { tokenizer: { kind: 'byte', vocab_size: 256 } } }));
  expect(growlm('init', '--config', cfg, '--out', base, '--seed', '1').code).toBe(0);
  good = jsonl('good.jsonl', Array.from({ length: 24 }, (_, i) => qa(i)));
});

const sft = (data: string, out: string, ...extra: string[]) =>
  growlm('sft', '--model', base, '--data', data, '--out', out, '--steps', '2', '--batch', '4', '--threads', '1', ...extra);

describe('growlm sft', () => {
  it('fine-tunes, reports its data, and the result chats with its template', () => {
    const out = join(tmp, 'ok');
    const r = sft(good, out, '--json');
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.steps).toBe(2);
    expect(s.data).toMatchObject({ lines: 24, samples: 24, held_out: 1, train_samples: 23, template: 'chatml', end_of_turn: '<|im_end|>' });
    expect(s.val_answer_loss).toBeGreaterThan(0);
    expect(JSON.parse(readFileSync(join(out, 'tokenizer_config.json'), 'utf8')).chat_template).toContain('<|im_start|>');
    const g = growlm('generate', '--model', out, '--chat', '--system', 'Be brief.', '--prompt', 'Q1?', '--temperature', '0', '--max-tokens', '4', '--json');
    expect(g.code, g.stderr).toBe(0);
    expect(JSON.parse(g.stdout).chat_prompt).toBe('<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nQ1?<|im_end|>\n<|im_start|>assistant\n');
    expectOneLineError(sft(good, out), /ok\/checkpoints holds checkpoints of an earlier run: pass --resume to continue it or --restart/);
    expect(growlm('generate', '--model', out, '--prompt', 'x', '--system', 'y').code).toBe(2);
  });

  it('stops at the first bad line with its file:line and writes nothing; --skip-bad-lines counts them', () => {
    const cases: [unknown, RegExp][] = [
      ['{"prompt": "a", "completion": ', /bad\.jsonl:3: not valid JSON .*--skip-bad-lines/],
      [{ messages: [{ content: 'hi' }, { role: 'assistant', content: 'x' }] }, /bad\.jsonl:3: messages\[0\] has no "role"/],
      [{ messages: [{ role: 'robot', content: 'hi' }, { role: 'assistant', content: 'x' }] }, /bad\.jsonl:3: messages\[0\] has the unknown role "robot" \(use system, user, assistant\)/],
      [{ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: '  ' }] }, /bad\.jsonl:3: messages\[1\]: the assistant turn is empty/],
      [{ messages: [{ role: 'user', content: 'hi' }] }, /bad\.jsonl:3: the conversation has no assistant turn/],
      [{ text: 'plain' }, /bad\.jsonl:3: unknown format/],
    ];
    for (const [line, pattern] of cases) {
      const data = jsonl('bad.jsonl', [qa(1), qa(2), line, qa(4)]);
      const out = join(tmp, 'never');
      expectOneLineError(sft(data, out), pattern);
      expect(existsSync(out)).toBe(false);
    }
    const mixed = jsonl('mixed.jsonl', [...Array.from({ length: 20 }, (_, i) => qa(i)), '{oops', { messages: [{ role: 'user', content: 'q' }] }, { messages: [{ role: 'robot', content: 'q' }, { role: 'assistant', content: 'a' }] }]);
    const r = sft(mixed, join(tmp, 'skipped'), '--skip-bad-lines', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).data).toMatchObject({ lines: 23, samples: 20, skipped: { 'malformed JSON': 1, 'no assistant turn': 1, 'unknown role': 1 } });
  });

  it('refuses samples longer than the context unless told to drop or truncate them, and counts them', () => {
    const long = jsonl('long.jsonl', [...Array.from({ length: 20 }, (_, i) => qa(i)), { prompt: 'x'.repeat(60), completion: 'y'.repeat(60) }]);
    expectOneLineError(sft(long, join(tmp, 'l0'), '--val-fraction', '0'), /1 sample\(s\) are longer than the context of 160 tokens, the first .*long\.jsonl:21 \(\d+ tokens\): pass --drop-long to leave them out or --truncate to cut them/);
    expect(existsSync(join(tmp, 'l0'))).toBe(false);
    const dropped = JSON.parse(sft(long, join(tmp, 'l1'), '--val-fraction', '0', '--drop-long', '--json').stdout).data;
    expect(dropped).toMatchObject({ too_long: 1, dropped: 1, truncated: 0, train_samples: 20 });
    const cut = JSON.parse(sft(long, join(tmp, 'l2'), '--val-fraction', '0', '--truncate', '--json').stdout).data;
    expect(cut).toMatchObject({ too_long: 1, dropped: 0, truncated: 1, train_samples: 21 });
    expect(sft(long, join(tmp, 'l3'), '--drop-long', '--truncate').code).toBe(2);
  });

  it('reports a template that fails with the template\'s line, before writing anything', () => {
    const tpl = join(tmp, 'broken.jinja');
    writeFileSync(tpl, "{% for m in messages %}\n{% if m.role == 'user' %}\n{{ raise_exception('users are not welcome') }}\n{% endif %}{% endfor %}");
    expectOneLineError(sft(good, join(tmp, 't1'), '--template', tpl), /chat template .*broken\.jinja:3 failed to render: users are not welcome/);
    writeFileSync(tpl, '{% for m in messages %}\n{{ m.content }\n{% endfor %}');
    expectOneLineError(sft(good, join(tmp, 't2'), '--template', tpl), /chat template .*broken\.jinja:2: /);
    expect(existsSync(join(tmp, 't1')) || existsSync(join(tmp, 't2'))).toBe(false);
    const r = sft(good, join(tmp, 't3'), '--template', 'llama3', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(tmp, 't3', 'tokenizer_config.json'), 'utf8'))).toMatchObject({ bos_token: '<|begin_of_text|>', eos_token: '<|eot_id|>' });
  });
});
