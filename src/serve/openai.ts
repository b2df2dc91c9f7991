/**
 * The OpenAI-compatible request and response shapes: validation of `/v1/completions` and
 * `/v1/chat/completions` bodies into one generation request, the responses and stream chunks, and
 * the error shape `{"error": {"message", "type", "param", "code"}}`.
 */
import type { SamplingOptions } from '../generate/sample.js';

/** An HTTP error in OpenAI's shape. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly param: string | null = null, readonly code: string | null = null, readonly type = errorType(status)) {
    super(message);
  }

  body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

function errorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** A chat turn as a request gives it (the chat template decides which roles it accepts). */
export interface ChatMessage {
  role: string;
  content: string;
}

export interface ApiRequest {
  model: string;
  prompt: string;
  /** Undefined: as many as the context leaves (capped by the server's default). */
  maxTokens?: number;
  sampling: SamplingOptions;
  seed?: number;
  stop: string[];
  stream: boolean;
  /** stream_options.include_usage: a last chunk with the usage counts. */
  streamUsage: boolean;
}

type Body = Record<string, unknown>;

const bad = (param: string, message: string) => new ApiError(400, message, param, 'invalid_value');
const isObject = (v: unknown): v is Body => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A JSON body that is an object (400 otherwise). */
export function parseBody(text: string): Body {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new ApiError(400, 'the request body is not valid JSON', null, 'invalid_json');
  }
  if (!isObject(v)) throw new ApiError(400, 'the request body must be a JSON object', null, 'invalid_json');
  return v;
}

function optNumber(b: Body, key: string, check: (n: number) => boolean, range: string): number | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || !check(v)) throw bad(key, `${key} must be ${range}, got ${JSON.stringify(v)}`);
  return v;
}

function content(v: unknown, i: number): string {
  if (typeof v === 'string') return v;
  // the array form: text parts only
  if (Array.isArray(v) && v.every((p) => isObject(p) && p.type === 'text' && typeof p.text === 'string')) return v.map((p) => (p as Body).text).join('');
  throw bad(`messages[${i}].content`, `messages[${i}].content must be a string or an array of text parts`);
}

/** The common fields of both endpoints. */
function common(b: Body, prompt: string): ApiRequest {
  if (typeof b.model !== 'string' || b.model === '') throw bad('model', 'model must be a non-empty string');
  optNumber(b, 'n', (x) => x === 1, '1 (one choice per request)');
  const maxTokens = optNumber(b, 'max_completion_tokens', (x) => Number.isSafeInteger(x) && x >= 1, 'an integer ≥ 1')
    ?? optNumber(b, 'max_tokens', (x) => Number.isSafeInteger(x) && x >= 1, 'an integer ≥ 1');
  const temperature = optNumber(b, 'temperature', (x) => x >= 0 && x <= 2, 'a number in [0, 2]') ?? 1;
  const topP = optNumber(b, 'top_p', (x) => x > 0 && x <= 1, 'a number in (0, 1]') ?? 1;
  const seed = optNumber(b, 'seed', (x) => Number.isSafeInteger(x), 'an integer');
  let stop: string[] = [];
  if (typeof b.stop === 'string') stop = [b.stop];
  else if (Array.isArray(b.stop) && b.stop.every((s) => typeof s === 'string')) stop = b.stop as string[];
  else if (b.stop !== undefined && b.stop !== null) throw bad('stop', 'stop must be a string or an array of strings');
  if (stop.length > 4) throw bad('stop', `stop takes at most 4 strings, got ${stop.length}`);
  if (stop.some((s) => s === '')) throw bad('stop', 'stop strings must not be empty');
  if (b.stream !== undefined && b.stream !== null && typeof b.stream !== 'boolean') throw bad('stream', 'stream must be a boolean');
  const so = b.stream_options;
  if (so !== undefined && so !== null && !(isObject(so) && (so.include_usage === undefined || typeof so.include_usage === 'boolean'))) {
    throw bad('stream_options', 'stream_options must be an object with a boolean include_usage');
  }
  return {
    model: b.model, prompt, maxTokens, seed, stop,
    sampling: { temperature, topP, topK: 0 },
    stream: b.stream === true,
    streamUsage: isObject(so) && so.include_usage === true,
  };
}

export function completionRequest(b: Body): ApiRequest {
  let prompt = b.prompt;
  if (Array.isArray(prompt) && prompt.length === 1) prompt = prompt[0];
  if (typeof prompt !== 'string' || prompt === '') throw bad('prompt', 'prompt must be a non-empty string (one prompt per request)');
  return common(b, prompt);
}

/** A chat request; `render` turns the messages into the prompt (the model's chat template with the generation prompt), `stops` adds its end-of-turn marker to the stop strings. */
export function chatRequest(b: Body, render: (messages: ChatMessage[]) => string, stops: (stop: string[]) => string[]): ApiRequest {
  const m = b.messages;
  if (!Array.isArray(m) || m.length === 0) throw bad('messages', 'messages must be a non-empty array');
  const messages = m.map((x, i): ChatMessage => {
    if (!isObject(x) || typeof x.role !== 'string' || x.role === '') throw bad(`messages[${i}].role`, `messages[${i}] must be an object with a string role`);
    return { role: x.role, content: content(x.content, i) };
  });
  const r = common(b, '');
  return { ...r, prompt: render(messages), stop: stops(r.stop) };
}

export type FinishReason = 'stop' | 'length';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export const usage = (prompt: number, completion: number): Usage => ({ prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion });

/** A whole response, or one stream chunk (`delta` set; finish null until the last). */
export function completionObject(kind: 'completion' | 'chat', id: string, model: string, created: number, text: string, finish: FinishReason | null, opts: { chunk: boolean; role?: boolean; usage?: Usage }): Body {
  if (kind === 'completion') {
    return {
      id, object: 'text_completion', created, model,
      choices: [{ text, index: 0, logprobs: null, finish_reason: finish }],
      ...(opts.usage ? { usage: opts.usage } : {}),
    };
  }
  if (!opts.chunk) {
    return {
      id, object: 'chat.completion', created, model,
      choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: finish }],
      ...(opts.usage ? { usage: opts.usage } : {}),
    };
  }
  const delta = finish !== null && text === '' ? {} : { ...(opts.role ? { role: 'assistant' } : {}), content: text };
  return { id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] };
}
