// growlm serve under hostile use, short version (the long run is tools/serve-load.ts): 32 clients
// for a few seconds (only 200s with well-formed bodies and the queue's 429s), slow clients closed by
// the header and request timeouts while others are served, clients that cut their streams free
// their slots and stop their generation, and fuzzed request bodies answered with a 4xx JSON error
// (or a 200), never a 5xx, a crash, a hang or a connection closed without an answer.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/model/config.js';
import { saveModelDir } from '../../src/model/model-dir.js';
import { initWeights } from '../../src/model/weights.js';
import { type RunningServer, serveModel } from '../../src/serve/server.js';
import { disconnectingClients, fuzzBodies, loadTest, rawRequest, serverGauges, slowloris, wellFormedStream } from '../../tools/serve-load-harness.js';

const CONFIG = {
  vocab_size: 256, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 128,
  growlm: { tokenizer: { kind: 'byte', vocab_size: 256 } },
};
let tmp: string, server: RunningServer;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'growlm-serve-load-'));
  const config = parseConfig(CONFIG);
  saveModelDir(join(tmp, 'tiny'), { config, weights: initWeights(config, 1) });
  server = await serveModel(join(tmp, 'tiny'), { port: 0, maxConcurrent: 4, maxQueue: 8, threads: 1, headersTimeoutMs: 1000, requestTimeoutMs: 2000 });
});

afterAll(async () => {
  await server?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('serve under load (short)', () => {
  it('32 clients × 3 s, streaming and not: only 200s with well-formed bodies and 429s', async () => {
    const r = await loadTest(server.url, server.modelId, { clients: 32, seconds: 3, maxTokens: 8 });
    expect(r.badSamples).toEqual([]);
    expect(r.bad).toBe(0);
    expect(r.serverErrors).toBe(0);
    expect(r.ok).toBeGreaterThan(10);
    // 32 clients against 4 slots + 8 queued: the queue limit must have answered some with 429
    expect(r.tooBusy).toBeGreaterThan(0);
    expect(r.ok + r.tooBusy).toBe(r.requests);
    expect(r.p99Ms).toBeGreaterThanOrEqual(r.p50Ms);
    expect(await (await fetch(`${server.url}/health`)).json()).toMatchObject({ status: 'ok', active: 0, queued: 0 });
  }, 60_000);

  it('clients that destroy their socket after 0–3 events of a stream: slots and queue come free, the cut sequences stop, the server still answers', async () => {
    const r = await disconnectingClients('127.0.0.1', server.port, server.url, server.modelId, { clients: 12, streams: 8, maxTokens: 64 });
    expect(r.failures).toEqual([]);
    expect(r.streams).toBe(96);
    expect(r.ok200 + r.tooBusy).toBe(96);
    expect(r.ok200).toBeGreaterThan(40);
    expect(r.aborted + r.finishedFirst).toBe(r.ok200);
    expect(r.drainMs).toBeDefined();
    expect([r.activeAfter, r.queuedAfter]).toEqual([0, 0]);
    // uncut, every answered stream would generate 64 tokens; a cut one stops within a few steps
    expect(r.tokensGenerated).toBeLessThan(r.tokensUncut / 4);
    expect(r.servedAfter).toBe(true);
  }, 60_000);

  it('a client that half-closes its socket after the request is taken for gone: no answer, its generation cancelled, its slot freed', async () => {
    const before = await serverGauges(server.url);
    const body = Buffer.from(JSON.stringify({ model: server.modelId, prompt: 'hi', max_tokens: 100 }));
    const head = `POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
    const cut = await rawRequest('127.0.0.1', server.port, head, body, 5000, { halfClose: true });
    expect(cut).toEqual({ status: undefined, body: '', timedOut: false });
    let after = await serverGauges(server.url);
    for (let i = 0; i < 100 && (after.active > 0 || after.queued > 0); i++) {
      await new Promise((r) => setTimeout(r, 20));
      after = await serverGauges(server.url);
    }
    expect(after).toMatchObject({ active: 0, queued: 0 });
    // cancelled within a few steps, not run to its 100 tokens
    expect(after.tokensGenerated - before.tokensGenerated).toBeLessThan(50);
    // the same request from a client that keeps its side open is answered
    const whole = await rawRequest('127.0.0.1', server.port, head, body, 10_000);
    expect(whole.status).toBe(200);
    expect((JSON.parse(whole.body) as { usage: { completion_tokens: number } }).usage.completion_tokens).toBe(100);
    expect(await serverGauges(server.url)).toMatchObject({ active: 0, queued: 0 });
  }, 30_000);

  it('a request node\'s HTTP parser rejects gets a 400 with a JSON error; a timed-out one a 408', async () => {
    const bad = await rawRequest('127.0.0.1', server.port, 'POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n', Buffer.from('zz\r\n{}\r\n0\r\n\r\n'), 5000);
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body)).toEqual({ error: { message: 'the request is not valid HTTP/1.1 (Invalid character in chunk size)', type: 'invalid_request_error', param: null, code: 'invalid_http_request' } });
    const junk = await rawRequest('127.0.0.1', server.port, 'GET /health HTTP/1.1\r\nHo\u0001st: x\r\n\r\n', new Uint8Array(), 5000);
    expect(junk.status).toBe(400);
    expect((JSON.parse(junk.body) as { error: { code: string } }).error.code).toBe('invalid_http_request');
    // headers never finished: the header timeout (1 s here) answers 408
    const slow = await rawRequest('127.0.0.1', server.port, 'GET /health HTTP/1.1\r\nHost: x\r\n', new Uint8Array(), 5000);
    expect(slow.status).toBe(408);
    expect((JSON.parse(slow.body) as { error: { code: string } }).error.code).toBe('request_timeout');
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/^growlm_requests_total\{endpoint="\(unparsed\)",status="400"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^growlm_requests_total\{endpoint="\(unparsed\)",status="408"\} [1-9]\d*$/m);
  }, 30_000);

  it('slow clients (headers or body a byte at a time) are closed by the timeouts; others are served meanwhile', async () => {
    const r = await slowloris('127.0.0.1', server.port, server.url, { sockets: 16, dripMs: 100, giveUpMs: 8000 });
    expect(r.closed).toBe(16);
    expect(r.maxCloseMs).toBeLessThan(6000); // request timeout 2 s, checked every 0.5 s
    expect(r.served).toBeGreaterThan(5);
    expect(r.servedOk).toBe(r.served);
  }, 30_000);

  it('fuzzed bodies (malformed JSON, wrong types, huge fields, invalid UTF-8, garbage chunks): 4xx JSON errors or 200s, then /health', async () => {
    const r = await fuzzBodies('127.0.0.1', server.port, server.modelId, { runs: 300, seed: 20261202, timeoutMs: 10_000 });
    expect(r.failures).toEqual([]);
    expect(r.inputs).toBe(300);
    expect(r.clientErrors).toBeGreaterThan(100);
    expect(r.framingErrors).toBeGreaterThan(0);
    expect(r.ok200 + r.clientErrors + r.framingErrors).toBe(300);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  }, 120_000);

  it('a stream is well-formed only when complete and ending with [DONE]', () => {
    const chunk = 'data: {"choices":[{"text":"a"}]}\n\n';
    expect(wellFormedStream(chunk + 'data: [DONE]\n\n')).toBe(true);
    expect(wellFormedStream(chunk)).toBe(false);
    expect(wellFormedStream('data: {"error":{"message":"x"},"choices":[]}\n\ndata: [DONE]\n\n')).toBe(false);
    expect(wellFormedStream('data: {not json\n\ndata: [DONE]\n\n')).toBe(false);
  });
});
