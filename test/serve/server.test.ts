// growlm serve on a tiny random-weight model with a byte tokenizer: the official openai client
// (models, completion, chat, streaming, a wrong key), plain fetch for bad requests, the queue limit,
// disconnects, /health during generation, /metrics, and the key property of continuous batching:
// greedy continuations of concurrent requests are identical to each prompt generated alone.
import { mkdtempSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateText } from '../../src/generate/generate.js';
import { parseConfig } from '../../src/model/config.js';
import { saveModelDir } from '../../src/model/model-dir.js';
import { initWeights } from '../../src/model/weights.js';
import { resolveTemplate } from '../../src/data/chat-template.js';
import { chatPrompt } from '../../src/generate/chat.js';
import { type RunningServer, answerClientError, authorized, exposureWarning, serveModel } from '../../src/serve/server.js';

const KEY = 'sk-test-key';
const CONFIG = {
  vocab_size: 256, hidden_size: 48, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4, max_position_embeddings: 256,
  initializer_range: 0.2, growlm: { tokenizer: { kind: 'byte', vocab_size: 256 } },
};

let dir: string;
let server: RunningServer;
let client: OpenAI;

beforeAll(async () => {
  dir = join(mkdtempSync(join(tmpdir(), 'growlm-serve-')), 'tiny');
  const config = parseConfig(CONFIG);
  saveModelDir(dir, { config, weights: initWeights(config, 3) });
  server = await serveModel(dir, { port: 0, apiKey: KEY, maxConcurrent: 4, maxQueue: 2, threads: 1 });
  client = new OpenAI({ apiKey: KEY, baseURL: `${server.url}/v1`, maxRetries: 0, timeout: 30_000 });
});

afterAll(async () => {
  await server?.close();
});

const auth = { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' };
const post = (path: string, body: unknown, headers: Record<string, string> = auth) =>
  fetch(`${server.url}${path}`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
const health = async () => (await (await fetch(`${server.url}/health`)).json()) as { status: string; active: number; queued: number };

async function until(cond: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function expectError(res: Response, status: number, code?: string): Promise<void> {
  expect(res.status).toBe(status);
  const body = (await res.json()) as { error: { message: string; type: string; param: unknown; code: unknown } };
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(body.error.message).not.toContain('\n');
  if (code) expect(body.error.code).toBe(code);
}

describe('the OpenAI client', () => {
  it('lists the model', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['tiny']);
  });

  it('completes a prompt with usage counts', async () => {
    const r = await client.completions.create({ model: 'tiny', prompt: 'Hello', max_tokens: 7, temperature: 0 });
    expect(r.object).toBe('text_completion');
    expect(r.choices[0]!.finish_reason).toBe('length');
    expect(r.usage).toEqual({ prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 });
    const alone = await generateText(dir, 'Hello', { temperature: 0, maxTokens: 7 });
    expect(r.choices[0]!.text).toBe(alone.text);
  });

  it('chats, whole and streamed, with the same greedy reply', async () => {
    const messages = [{ role: 'system' as const, content: 'Be brief.' }, { role: 'user' as const, content: 'Hi!' }];
    const whole = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 12, temperature: 0 });
    expect(whole.choices[0]!.message.role).toBe('assistant');
    // no template in the model directory: ChatML with the generation prompt, stopping at <|im_end|>
    const prompt = chatPrompt(resolveTemplate('chatml'), messages);
    expect(prompt.endsWith('<|im_start|>assistant\n')).toBe(true);
    expect(whole.usage!.prompt_tokens).toBe(Buffer.byteLength(prompt));
    const alone = await generateText(dir, prompt, { temperature: 0, maxTokens: 12, stop: ['<|im_end|>'] });
    expect(whole.choices[0]!.message.content).toBe(alone.text);

    const stream = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 12, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let text = '';
    const finishes: (string | null)[] = [];
    let usage;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      for (const c of chunk.choices) { text += c.delta.content ?? ''; finishes.push(c.finish_reason); }
    }
    expect(text).toBe(alone.text);
    expect(finishes.at(-1)).toBe('length');
    expect(finishes.slice(0, -1).every((f) => f === null)).toBe(true);
    expect(usage).toEqual(whole.usage);
  });

  it('stops at a stop string, as generate does', async () => {
    const alone = await generateText(dir, 'abc', { temperature: 0, maxTokens: 30 });
    const stop = alone.text.slice(3, 5);
    const r = await client.completions.create({ model: 'tiny', prompt: 'abc', max_tokens: 30, temperature: 0, stop: [stop] });
    const want = await generateText(dir, 'abc', { temperature: 0, maxTokens: 30, stop: [stop] });
    expect(r.choices[0]!.text).toBe(want.text);
    expect(r.choices[0]!.finish_reason).toBe('stop');
  });

  it('a wrong key is a 401 authentication error', async () => {
    const wrong = new OpenAI({ apiKey: 'sk-wrong', baseURL: `${server.url}/v1`, maxRetries: 0 });
    await expect(wrong.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    await expectError(await fetch(`${server.url}/v1/models`), 401, 'invalid_api_key');
  });
});

describe('continuous batching', () => {
  it('greedy continuations of concurrent requests of different lengths are those of each prompt alone', async () => {
    const prompts = ['a', 'The quick brown fox', 'xy', 'Once upon a time, in a land far away,', 'zzzzzzzz', '0123456789'];
    const steps0 = server.scheduler.steps, rows0 = server.scheduler.stepRows;
    // the last runs alone long enough to outgrow the cache's spare columns more than once
    const maxTokens = (i: number) => (i === prompts.length - 1 ? 100 : 16 + 3 * i);
    const served = await Promise.all(prompts.map((prompt, i) =>
      client.completions.create({ model: 'tiny', prompt, max_tokens: maxTokens(i), temperature: 0 })));
    // batched: more than one row per decode step on average
    expect((server.scheduler.stepRows - rows0) / (server.scheduler.steps - steps0)).toBeGreaterThan(1.5);
    for (let i = 0; i < prompts.length; i++) {
      const alone = await generateText(dir, prompts[i]!, { temperature: 0, maxTokens: maxTokens(i) });
      expect(served[i]!.choices[0]!.text, prompts[i]).toBe(alone.text);
      expect(served[i]!.usage!.completion_tokens).toBe(alone.tokens.length);
    }
  });

  it('the same seed gives the same sampled text, alone or batched', async () => {
    const req = { model: 'tiny', prompt: 'seeded', max_tokens: 20, temperature: 0.9, top_p: 0.9, seed: 42 };
    const alone = await client.completions.create(req);
    const batched = await Promise.all([req, { ...req, prompt: 'another prompt' }, req].map((r) => client.completions.create(r)));
    expect(batched[0]!.choices[0]!.text).toBe(alone.choices[0]!.text);
    expect(batched[2]!.choices[0]!.text).toBe(alone.choices[0]!.text);
  });
});

describe('bad requests (plain fetch)', () => {
  it('malformed JSON, wrong types and missing fields are 400s', async () => {
    await expectError(await post('/v1/completions', '{"model": "tiny", '), 400, 'invalid_json');
    await expectError(await post('/v1/completions', '[1, 2]'), 400, 'invalid_json');
    await expectError(await post('/v1/completions', { model: 'tiny' }), 400);
    await expectError(await post('/v1/completions', { prompt: 'x' }), 400);
    await expectError(await post('/v1/completions', { model: 'tiny', prompt: 'x', temperature: 'hot' }), 400);
    await expectError(await post('/v1/completions', { model: 'tiny', prompt: 'x', max_tokens: 1.5 }), 400);
    await expectError(await post('/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: 5 }] }), 400);
    await expectError(await post('/v1/chat/completions', { model: 'tiny', messages: 'hi' }), 400);
  });

  it('an unknown model is a 404, an unknown route a 404, a wrong method a 405', async () => {
    await expectError(await post('/v1/completions', { model: 'gpt-4', prompt: 'x' }), 404, 'model_not_found');
    await expectError(await fetch(`${server.url}/v2/things`, { headers: auth }), 404);
    await expectError(await fetch(`${server.url}/__proto__`, { headers: auth }), 404, 'unknown_url');
    await expectError(await fetch(`${server.url}/v1/completions`, { headers: auth }), 405);
    expect((await (await fetch(`${server.url}/v1/models/tiny`, { headers: auth })).json()) as object).toMatchObject({ id: 'tiny', object: 'model' });
    await expectError(await fetch(`${server.url}/v1/models/%E0%A4%A`, { headers: auth }), 404, 'model_not_found');
  });

  it('an oversized body is a 413', async () => {
    await expectError(await post('/v1/completions', { model: 'tiny', prompt: 'x'.repeat(1.5 * 2 ** 20) }), 413, 'request_too_large');
  });

  it('a prompt or max_tokens beyond the context is a 400', async () => {
    await expectError(await post('/v1/completions', { model: 'tiny', prompt: 'x'.repeat(256) }), 400, 'context_length_exceeded');
    await expectError(await post('/v1/completions', { model: 'tiny', prompt: 'x'.repeat(200), max_tokens: 57 }), 400, 'context_length_exceeded');
    const ok = await post('/v1/completions', { model: 'tiny', prompt: 'x'.repeat(200), max_tokens: 56, temperature: 0 });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens).toBe(56);
  });
});

describe('load and disconnects', () => {
  it('answers /health during generation, 429s beyond slots + queue, and frees the slots of clients that disconnect', async () => {
    const aborts = Array.from({ length: 6 }, () => new AbortController());
    const requests = aborts.map((a) => fetch(`${server.url}/v1/completions`, {
      method: 'POST', headers: auth, signal: a.signal,
      body: JSON.stringify({ model: 'tiny', prompt: 'long', max_tokens: 250, stream: true }),
    }).catch(() => undefined));
    await until(async () => { const h = await health(); return h.active === 4 && h.queued === 2; }, '4 active and 2 queued');
    const tokens0 = server.scheduler.tokensGenerated;
    // the event loop is free while the batch decodes
    const h = await health();
    expect(h.status).toBe('ok');
    const full = await post('/v1/completions', { model: 'tiny', prompt: 'one more', max_tokens: 2 });
    expect(full.headers.get('retry-after')).toBe('1');
    await expectError(full, 429, 'rate_limit_exceeded');
    for (const a of aborts) a.abort();
    await Promise.all(requests);
    await until(async () => { const h = await health(); return h.active === 0 && h.queued === 0; }, 'the slots to be freed');
    // the cancelled sequences stopped early: far fewer than 6 × 250 tokens
    expect(server.scheduler.tokensGenerated - tokens0).toBeLessThan(4 * 250);
    const after = await client.completions.create({ model: 'tiny', prompt: 'still serving', max_tokens: 3, temperature: 0 });
    expect(after.usage!.completion_tokens).toBe(3);
  });

  it('/metrics counts requests by endpoint and status, tokens, queue, active sequences and latency', async () => {
    const res = await fetch(`${server.url}/metrics`, { headers: auth });
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toMatch(/^growlm_requests_total\{endpoint="\/v1\/completions",status="200"\} [1-9]\d*$/m);
    expect(text).toMatch(/^growlm_requests_total\{endpoint="\/v1\/completions",status="429"\} 1$/m);
    expect(text).toMatch(/^growlm_requests_total\{endpoint="\/v1\/models",status="401"\} 2$/m);
    expect(Number(/^growlm_tokens_generated_total (\d+)$/m.exec(text)![1])).toBe(server.scheduler.tokensGenerated);
    expect(text).toMatch(/^growlm_queue_length 0$/m);
    expect(text).toMatch(/^growlm_active_sequences 0$/m);
    const count = Number(/^growlm_request_duration_seconds_count (\d+)$/m.exec(text)![1]);
    expect(text).toContain(`growlm_request_duration_seconds_bucket{le="+Inf"} ${count}`);
    expect(text).toMatch(/^# TYPE growlm_request_duration_seconds histogram$/m);
  });
});

describe('security helpers', () => {
  it('compares keys exactly, and warns for a public bind address without a key', () => {
    expect(authorized(`Bearer ${KEY}`, KEY)).toBe(true);
    expect(authorized(`Bearer ${KEY}x`, KEY)).toBe(false);
    expect(authorized(KEY, KEY)).toBe(false);
    expect(authorized(undefined, KEY)).toBe(false);
    expect(exposureWarning('127.0.0.1', undefined)).toBeUndefined();
    expect(exposureWarning('0.0.0.0', 'k')).toBeUndefined();
    expect(exposureWarning('0.0.0.0', undefined)).toMatch(/without an API key/);
  });
});

describe('requests the HTTP parser rejects (clientError)', () => {
  const fakeSocket = (writable = true) => {
    const s = { writable, written: [] as string[], destroyed: false, write(t: string) { s.written.push(t); return true; }, destroy() { s.destroyed = true; return s; } };
    return s;
  };
  const parseError = (code: string, reason?: string) => Object.assign(new Error(`Parse Error: ${reason}`), { code, reason });

  it('answers with a JSON error and the status node would give (400, 408, 431), then closes', () => {
    const cases: [Error, number, string][] = [
      [parseError('HPE_INVALID_CHUNK_SIZE', 'Invalid character in chunk size'), 400, 'the request is not valid HTTP/1.1 (Invalid character in chunk size)'],
      [parseError('ERR_HTTP_REQUEST_TIMEOUT'), 408, 'the request did not arrive in time'],
      [parseError('HPE_HEADER_OVERFLOW', 'Header overflow'), 431, 'the request headers are too large'],
    ];
    for (const [err, status, message] of cases) {
      const s = fakeSocket();
      answerClientError(err, s as unknown as Duplex, undefined);
      expect(s.destroyed).toBe(true);
      expect(s.written).toHaveLength(1);
      const [head, body] = s.written[0]!.split('\r\n\r\n');
      expect(head).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      expect(head).toContain(`Content-Length: ${Buffer.byteLength(body!)}`);
      expect(head).toContain('Connection: close');
      expect(JSON.parse(body!).error.message).toBe(message);
    }
  });

  it('writes nothing after a response\'s headers went out on the connection, to a reset or to an unwritable socket', () => {
    for (const [err, writable, inFlight] of [
      [parseError('HPE_INVALID_METHOD', 'Invalid method'), true, { headersSent: true }],
      [Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), true, undefined],
      [parseError('HPE_INVALID_METHOD', 'Invalid method'), false, undefined],
    ] as const) {
      const s = fakeSocket(writable);
      answerClientError(err, s as unknown as Duplex, inFlight as unknown as ServerResponse | undefined);
      expect(s.written).toEqual([]);
      expect(s.destroyed).toBe(true);
    }
  });
});
