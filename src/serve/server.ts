/**
 * `growlm serve`: an OpenAI-compatible HTTP server (node:http) over one model directory.
 *
 *   GET  /health               {"status":"ok",...} (no key needed: for load balancers and probes)
 *   GET  /metrics              Prometheus text format (metrics.ts)
 *   GET  /v1/models            the one model, named after its directory
 *   POST /v1/completions       prompt → text; `stream: true` as server-sent events ending with [DONE]
 *   POST /v1/chat/completions  messages rendered with the model's chat template (its tokenizer_config.json,
 *                              else ChatML) and the generation prompt; stops at the end of the turn; same options
 *
 * Generation goes through one Scheduler (continuous batching). Bounds: request bodies (413), the
 * context (400), slots + queue (429 with Retry-After). With an API key every route but /health
 * needs `Authorization: Bearer KEY`; keys are compared as SHA-256 digests in constant time. A client
 * that disconnects cancels its sequence, which frees its slot at the next step; so does one that
 * half-closes its socket after the request (node's HTTP server ends the connection on the client's
 * FIN; kept, since for a non-streaming request it is the only sign that the client left). A request node's HTTP parser rejects (broken
 * framing, bad characters) or that times out gets a JSON error too (400/431/408, answerClientError).
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { basename, resolve } from 'node:path';
import { DEFAULT_MAX_TOKENS, type GenerationModel, type OpenOptions, encodePrompt, openModel } from '../generate/generate.js';
import { type ChatTemplate, resolveTemplate } from '../data/chat-template.js';
import type { ChatMessage as TemplateMessage } from '../data/sft-format.js';
import { chatPrompt, chatStops } from '../generate/chat.js';
import { GrowlmError, InvalidSettingError } from '../util/errors.js';
import { Metrics } from './metrics.js';
import { type ApiRequest, ApiError, chatRequest, completionObject, completionRequest, parseBody, usage } from './openai.js';
import { QueueFullError, Scheduler, type SequenceResult } from './scheduler.js';

export interface ServeOptions extends OpenOptions {
  host?: string;
  /** 0 = any free port. */
  port?: number;
  /** Require `Authorization: Bearer KEY`. */
  apiKey?: string;
  /** Sequences decoded together at most. */
  maxConcurrent?: number;
  /** Requests waiting for a slot at most (beyond: 429). */
  maxQueue?: number;
  /** Context length a request may use (prompt + max_tokens); default and at most the model's max_position_embeddings. */
  ctx?: number;
  /** Largest request body in bytes (beyond: 413). */
  maxBodyBytes?: number;
  /** Chat template for /v1/chat/completions: a builtin name or a file (default: the model directory's, else ChatML). */
  template?: string;
  /**
   * A client must send a request's headers within this many ms, and the whole request (headers and
   * body) within `requestTimeoutMs`; else the server answers 408 and closes the connection (slow
   * clients cannot hold connections open). Checked every `min(1 s, headersTimeoutMs / 2)`.
   */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
}

export const DEFAULT_SERVE = { host: '127.0.0.1', port: 8080, maxConcurrent: 8, maxQueue: 32, maxBodyBytes: 1 << 20, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000 } as const;

/** Seconds a client told 429 is asked to wait. */
const RETRY_AFTER_S = 1;

export interface RunningServer {
  /** http://host:port */
  url: string;
  port: number;
  /** The model's id in the API. */
  modelId: string;
  /** The context length requests are held to. */
  ctx: number;
  readonly scheduler: Scheduler;
  close(): Promise<void>;
}

/** A warning for a bind address reachable from other machines without an API key (undefined: none needed). */
export function exposureWarning(host: string, apiKey: string | undefined): string | undefined {
  if (apiKey !== undefined || ['127.0.0.1', '::1', 'localhost'].includes(host)) return undefined;
  return `serving on ${host} without an API key: anyone who can reach this address can use the model`;
}

/** Constant-time comparison of a request's Authorization header with the key (as SHA-256 digests, so lengths do not leak). */
export function authorized(header: string | undefined, apiKey: string): boolean {
  const given = /^Bearer (.+)$/.exec(header ?? '')?.[1] ?? '';
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(apiKey)) && given !== '';
}

export async function serveModel(dir: string, opts: ServeOptions = {}): Promise<RunningServer> {
  const o = { ...DEFAULT_SERVE, ...stripUndefined(opts) };
  if (o.apiKey === '') throw new InvalidSettingError('apiKey', 'the API key is empty');
  const template = resolveTemplate(o.template, dir);
  const model = await openModel(dir, opts);
  const ctx = o.ctx ?? model.config.maxSeqLen;
  if (!(Number.isSafeInteger(ctx) && ctx >= 2 && ctx <= model.config.maxSeqLen)) {
    await model.release();
    throw new InvalidSettingError('ctx', `the context must be an integer in [2, ${model.config.maxSeqLen}] (the model's max_position_embeddings), got ${ctx}`);
  }
  const scheduler = new Scheduler(model, { maxConcurrent: o.maxConcurrent, maxQueue: o.maxQueue });
  const modelId = basename(resolve(dir));
  const metrics = new Metrics();
  const app: App = { model, template, modelId, ctx, scheduler, metrics, apiKey: o.apiKey, maxBodyBytes: o.maxBodyBytes, created: Math.floor(Date.now() / 1000) };
  // the response under way on each connection, so that a parse error after its headers went out writes nothing more
  const inFlight = new WeakMap<Socket, ServerResponse>();
  const server = createServer({
    headersTimeout: o.headersTimeoutMs, requestTimeout: Math.max(o.requestTimeoutMs, o.headersTimeoutMs),
    connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(o.headersTimeoutMs / 2))),
  }, (req, res) => {
    inFlight.set(req.socket, res);
    res.on('finish', () => { if (inFlight.get(req.socket) === res) inFlight.delete(req.socket); });
    void handle(app, req, res);
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => answerClientError(err, socket, inFlight.get(socket as Socket), app.metrics));
  try {
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      server.listen(o.port, o.host, () => { server.off('error', fail); ok(); });
    });
  } catch (e) {
    await model.release();
    throw new GrowlmError(`cannot listen on ${o.host}:${o.port}: ${(e as Error).message}`);
  }
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`, port, modelId, ctx, scheduler,
    close: () => closeServer(server, app),
  };
}

/**
 * A request node's HTTP parser rejected before it reached `handle` (broken framing such as a chunk
 * size that is not hex, invalid characters in the head, headers too large) or one that timed out
 * (headersTimeoutMs / requestTimeoutMs): answered like node's default (400, 431, 413 or 408, then the
 * connection is closed) but with a JSON error in OpenAI's shape. Nothing is written when the client
 * is gone or when a response's headers already went out on the connection (a later pipelined
 * request was broken): the connection is just closed.
 */
export function answerClientError(err: NodeJS.ErrnoException & { reason?: string }, socket: Duplex, inFlight: ServerResponse | undefined, metrics?: Metrics): void {
  const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW' ? 413 : 400;
  if (err.code !== 'ECONNRESET' && socket.writable && !inFlight?.headersSent) {
    const message = status === 408 ? 'the request did not arrive in time'
      : status === 431 ? 'the request headers are too large'
      : status === 413 ? 'the chunk extensions are too large'
      : `the request is not valid HTTP/1.1 (${err.reason ?? err.code ?? 'parse error'})`;
    const e = new ApiError(status, message, null, status === 408 ? 'request_timeout' : 'invalid_http_request');
    const text = JSON.stringify(e.body());
    const reason = { 400: 'Bad Request', 408: 'Request Timeout', 413: 'Payload Too Large', 431: 'Request Header Fields Too Large' }[status];
    socket.write(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
    // a request that reached `handle` (e.g. its body timed out) is counted by its response's close, with this status
    if (inFlight) inFlight.statusCode = status;
    else metrics?.request('(unparsed)', status, 0);
  }
  socket.destroy();
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

async function closeServer(server: Server, app: App): Promise<void> {
  await app.scheduler.close();
  server.closeAllConnections();
  await new Promise<void>((ok) => server.close(() => ok()));
  await app.model.release();
}

interface App {
  model: GenerationModel;
  template: ChatTemplate;
  modelId: string;
  ctx: number;
  scheduler: Scheduler;
  metrics: Metrics;
  apiKey?: string;
  maxBodyBytes: number;
  created: number;
}

const ROUTES: Record<string, string> = {
  '/health': 'GET', '/metrics': 'GET', '/v1/models': 'GET', '/v1/completions': 'POST', '/v1/chat/completions': 'POST',
};

async function handle(app: App, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const t0 = performance.now();
  const path = (req.url ?? '/').split('?')[0]!;
  const route = Object.hasOwn(ROUTES, path) ? path : path.startsWith('/v1/models/') ? '/v1/models/{id}' : 'other';
  res.on('close', () => app.metrics.request(route, res.statusCode, (performance.now() - t0) / 1000));
  try {
    const method = route === '/v1/models/{id}' ? 'GET' : route === 'other' ? undefined : ROUTES[route];
    if (method === undefined) throw new ApiError(404, `no route ${req.method} ${path}`, null, 'unknown_url');
    if (req.method !== method) throw new ApiError(405, `${path} takes ${method}, not ${req.method}`, null, 'method_not_allowed');
    if (route === '/health') return sendJson(res, 200, { status: 'ok', active: app.scheduler.activeCount, queued: app.scheduler.queueLength });
    if (app.apiKey !== undefined && !authorized(req.headers.authorization, app.apiKey)) {
      throw new ApiError(401, 'a valid API key is required (Authorization: Bearer KEY)', null, 'invalid_api_key');
    }
    if (route === '/metrics') {
      const s = app.scheduler;
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(app.metrics.render({ tokensGenerated: s.tokensGenerated, queueLength: s.queueLength, activeSequences: s.activeCount }));
      return;
    }
    const model = { id: app.modelId, object: 'model', created: app.created, owned_by: 'growlm' };
    if (route === '/v1/models') return sendJson(res, 200, { object: 'list', data: [model] });
    if (route === '/v1/models/{id}') {
      const id = path.slice('/v1/models/'.length);
      if (safeDecode(id) !== app.modelId) throw unknownModel(id);
      return sendJson(res, 200, model);
    }
    const body = parseBody(await readBody(req, app.maxBodyBytes));
    const kind = route === '/v1/completions' ? 'completion' : 'chat';
    await complete(app, kind, kind === 'completion' ? completionRequest(body)
      : chatRequest(body, (messages) => chatPrompt(app.template, messages as TemplateMessage[]), (stop) => chatStops(app.template, stop)), res);
  } catch (e) {
    const err = e instanceof ApiError ? e
      : e instanceof QueueFullError ? new ApiError(429, `the server is busy: ${e.message}; retry later`, null, 'rate_limit_exceeded')
      : e instanceof GrowlmError ? new ApiError(400, e.message)
      : new ApiError(500, `internal error: ${(e as Error).message}`, null, 'internal_error');
    if (res.headersSent) {
      // mid-stream: the status is sent; end the stream with the error
      if (!res.writableEnded) res.end(`data: ${JSON.stringify(err.body())}\n\n`);
      return;
    }
    if (err.status === 429) res.setHeader('Retry-After', String(RETRY_AFTER_S));
    if (err.status === 413) res.setHeader('Connection', 'close');
    sendJson(res, err.status, err.body());
  }
}

const unknownModel = (id: string) => new ApiError(404, `the model "${id}" does not exist (this server serves one model: see /v1/models)`, 'model', 'model_not_found');

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** The body as text; 413 beyond `limit` bytes (the rest is read and dropped, so the client gets the answer). */
function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((ok, fail) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    const tooLarge = () => new ApiError(413, `the request body is larger than ${limit} bytes`, null, 'request_too_large');
    if (declared > limit) { req.resume(); fail(tooLarge()); return; }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      if (size > limit) return;
      size += c.length;
      if (size <= limit) chunks.push(c);
      else { chunks.length = 0; fail(tooLarge()); }
    });
    req.on('end', () => { if (size <= limit) ok(Buffer.concat(chunks).toString('utf8')); });
    req.on('error', fail);
  });
}

/** Check a request against the model and context, run it through the scheduler, answer (whole or streamed). */
async function complete(app: App, kind: 'completion' | 'chat', r: ApiRequest, res: ServerResponse): Promise<void> {
  if (r.model !== app.modelId) throw unknownModel(r.model);
  const promptIds = encodePrompt(app.model, r.prompt);
  const room = app.ctx - promptIds.length;
  if (room < 1) {
    throw new ApiError(400, `the prompt is ${promptIds.length} tokens; the context is ${app.ctx}, which leaves no room to generate`, kind === 'chat' ? 'messages' : 'prompt', 'context_length_exceeded');
  }
  if (r.maxTokens !== undefined && r.maxTokens > room) {
    throw new ApiError(400, `max_tokens ${r.maxTokens} + the prompt's ${promptIds.length} tokens exceed the context of ${app.ctx} tokens`, 'max_tokens', 'context_length_exceeded');
  }
  const maxTokens = r.maxTokens ?? Math.min(DEFAULT_MAX_TOKENS, room);
  const abort = new AbortController();
  res.on('close', () => { if (!res.writableFinished) abort.abort(); });
  const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);
  const chunk = (text: string, finish: 'stop' | 'length' | null, role = false) =>
    `data: ${JSON.stringify(completionObject(kind, id, app.modelId, created, text, finish, { chunk: true, role }))}\n\n`;
  const seq = {
    promptIds, maxTokens, stop: r.stop, sampling: r.sampling, signal: abort.signal,
    seed: r.seed ?? Math.floor(Math.random() * 2 ** 31),
  };
  if (!r.stream) {
    const result = await app.scheduler.submit(seq);
    if (result.finishReason === 'cancelled') return;
    sendJson(res, 200, completionObject(kind, id, app.modelId, created, result.text, result.finishReason, { chunk: false, usage: usageOf(result) }));
    return;
  }
  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    if (kind === 'chat') res.write(chunk('', null, true));
  };
  const done = app.scheduler.submit({ ...seq, onText: (piece) => { start(); if (!res.destroyed) res.write(chunk(piece, null)); } });
  start(); // after submit, so that a full queue is still a 429
  const result = await done;
  if (result.finishReason === 'cancelled' || res.writableEnded) return;
  res.write(chunk('', result.finishReason));
  if (r.streamUsage) {
    res.write(`data: ${JSON.stringify({ id, object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion', created, model: app.modelId, choices: [], usage: usageOf(result) })}\n\n`);
  }
  res.end('data: [DONE]\n\n');
}

const usageOf = (r: SequenceResult) => usage(r.promptTokens, r.tokens.length);
