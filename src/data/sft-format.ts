/**
 * Fine-tuning data as TRL / Hugging Face users write it, one JSON object per line:
 *
 *   {"messages": [{"role": "system"|"user"|"assistant", "content": "…"}, …]}   (multi-turn, system prompts)
 *   {"prompt": "…", "completion": "…"}                                           (one exchange)
 *   {"instruction": "…", "input": "…", "output": "…"}                            (Alpaca; input optional)
 *
 * Each line becomes a conversation. Problems name the file and line: a line that is not JSON or
 * not one of the shapes, a missing or unknown role, an empty assistant turn, a conversation with
 * no assistant turn. With `skipBad` such lines are counted by reason and skipped; otherwise the
 * first one is fatal (nothing is read further).
 */
import { readFileSync } from 'node:fs';
import { GrowlmError } from '../util/errors.js';

export type ChatRole = 'system' | 'user' | 'assistant';
export const CHAT_ROLES: readonly ChatRole[] = ['system', 'user', 'assistant'];

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

/** One training conversation and where it came from (file:line). */
export interface SftSample {
  messages: ChatMessage[];
  source: string;
}

/** A line of fine-tuning data that cannot be used; the message starts with file:line. */
export class SftDataError extends GrowlmError {
  override name = 'SftDataError';
  constructor(readonly source: string, readonly reason: string, detail: string) {
    super(`${source}: ${detail}`);
  }
}

export interface SftReadResult {
  samples: SftSample[];
  /** Lines read (blank lines excluded). */
  lines: number;
  /** Skipped lines by reason (only with skipBad). */
  skipped: Record<string, number>;
  /** The first few skipped lines' messages, for the summary. */
  examples: string[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function text(v: unknown, where: string, field: string, reason: string, optional = false): string {
  if (v === undefined && optional) return '';
  if (typeof v !== 'string') throw new SftDataError(where, reason, `"${field}" must be a string${v === undefined ? ' (missing)' : `, got ${v === null ? 'null' : typeof v}`}`);
  return v;
}

/** Check a conversation: known roles, a non-empty assistant turn, at least one of them. */
export function checkConversation(messages: ChatMessage[], where: string): void {
  if (!messages.some((m) => m.role === 'assistant')) throw new SftDataError(where, 'no assistant turn', 'the conversation has no assistant turn (nothing to train on)');
  messages.forEach((m, i) => {
    if (m.role === 'assistant' && m.content.trim() === '') throw new SftDataError(where, 'empty assistant turn', `messages[${i}]: the assistant turn is empty`);
  });
}

/** Parse one JSONL line (already known to be non-blank) into a conversation. */
export function parseSftLine(line: string, where: string): SftSample {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    throw new SftDataError(where, 'malformed JSON', `not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (!isObject(v)) throw new SftDataError(where, 'not an object', 'each line must be a JSON object');
  let messages: ChatMessage[];
  if ('messages' in v) {
    if (!Array.isArray(v.messages) || v.messages.length === 0) throw new SftDataError(where, 'bad messages', '"messages" must be a non-empty array');
    messages = v.messages.map((m: unknown, i: number): ChatMessage => {
      if (!isObject(m)) throw new SftDataError(where, 'bad messages', `messages[${i}] must be an object with "role" and "content"`);
      if (m.role === undefined) throw new SftDataError(where, 'missing role', `messages[${i}] has no "role"`);
      if (typeof m.role !== 'string' || !(CHAT_ROLES as readonly string[]).includes(m.role)) {
        throw new SftDataError(where, 'unknown role', `messages[${i}] has the unknown role ${JSON.stringify(m.role)} (use ${CHAT_ROLES.join(', ')})`);
      }
      return { role: m.role as ChatRole, content: text(m.content, where, `messages[${i}].content`, 'bad content') };
    });
  } else if ('prompt' in v || 'completion' in v) {
    messages = [
      { role: 'user', content: text(v.prompt, where, 'prompt', 'bad prompt') },
      { role: 'assistant', content: text(v.completion, where, 'completion', 'bad completion') },
    ];
  } else if ('instruction' in v || 'output' in v) {
    const instruction = text(v.instruction, where, 'instruction', 'bad instruction');
    const input = text(v.input, where, 'input', 'bad input', true);
    messages = [
      { role: 'user', content: input.trim() === '' ? instruction : `${instruction}\n\n${input}` },
      { role: 'assistant', content: text(v.output, where, 'output', 'bad output') },
    ];
  } else {
    throw new SftDataError(where, 'unknown format', `unknown format: expected "messages", "prompt"/"completion" or "instruction"/"output" (keys: ${Object.keys(v).slice(0, 5).join(', ') || 'none'})`);
  }
  checkConversation(messages, where);
  return { messages, source: where };
}

/** Parse JSONL text (named `file` in messages). */
export function parseSftJsonl(content: string, file: string, opts: { skipBad?: boolean } = {}): SftReadResult {
  const samples: SftSample[] = [];
  const skipped: Record<string, number> = {};
  const examples: string[] = [];
  let lines = 0;
  const all = content.split('\n');
  for (let i = 0; i < all.length; i++) {
    const line = all[i]!.replace(/\r$/, '');
    if (line.trim() === '') continue;
    lines++;
    try {
      samples.push(parseSftLine(line, `${file}:${i + 1}`));
    } catch (e) {
      if (!(e instanceof SftDataError) || !opts.skipBad) throw e;
      skipped[e.reason] = (skipped[e.reason] ?? 0) + 1;
      if (examples.length < 5) examples.push(e.message);
    }
  }
  return { samples, lines, skipped, examples };
}

/** Read a JSONL file of fine-tuning samples. */
export function readSftFile(path: string, opts: { skipBad?: boolean } = {}): SftReadResult {
  let content: string;
  try {
    content = readFileSync(path, 'utf8');
  } catch (e) {
    throw new SftDataError(path, 'unreadable', `cannot read the file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const r = parseSftJsonl(content, path, opts);
  if (r.samples.length === 0) throw new SftDataError(path, 'no samples', r.lines === 0 ? 'the file holds no samples' : `none of its ${r.lines} lines is a usable sample`);
  return r;
}
