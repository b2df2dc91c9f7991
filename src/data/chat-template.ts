/**
 * Chat templates: Hugging Face `chat_template` Jinja strings (as tokenizer_config.json holds them),
 * rendered with @huggingface/jinja. A model directory's tokenizer_config.json template is used by
 * default (imported models keep theirs there), a ChatML template otherwise; a few real templates are
 * built in by name (chatml, llama3, mistral), and any other is read from a file (a Jinja file, or a
 * tokenizer_config.json).
 *
 * The library's errors carry no position; `TemplateError` adds the template's line where it can be
 * found: for syntax errors the first line at which the template's prefix fails the same way, for
 * `raise_exception('…')` the line of the call with that message, for unknown names the line that
 * uses the name.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { GrowlmError } from '../util/errors.js';
import { TOKENIZER_CONFIG_FILE } from './meta.js';
import type { ChatMessage } from './sft-format.js';

/** HF ChatML, as SmolLM2 / Qwen-style models use it (no system prompt added). */
const CHATML = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** Meta-Llama-3-8B-Instruct's chat_template. */
const LLAMA3 = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

/** Mistral-7B-Instruct-v0.1's chat_template (user/assistant only, alternating). */
const MISTRAL = "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";

/** Named templates and the special tokens they expect. */
export const BUILTIN_TEMPLATES: Readonly<Record<string, { template: string; bos: string; eos: string }>> = {
  chatml: { template: CHATML, bos: '', eos: '<|im_end|>' },
  llama3: { template: LLAMA3, bos: '<|begin_of_text|>', eos: '<|eot_id|>' },
  mistral: { template: MISTRAL, bos: '<s>', eos: '</s>' },
};

export const DEFAULT_TEMPLATE = 'chatml';

/** A template that cannot be read, parsed or rendered; the message names the template and, where found, its line. */
export class TemplateError extends GrowlmError {
  override name = 'TemplateError';
}

/** A chat template with the special tokens it renders with. */
export interface ChatTemplate {
  /** The Jinja source. */
  source: string;
  /** Where it came from: a builtin name, a file, or DIR/tokenizer_config.json. */
  origin: string;
  bosToken: string;
  eosToken: string;
  /** The marker that ends an assistant turn (what generation stops at), found by rendering; '' if none. */
  endOfTurn: string;
  render(messages: readonly ChatMessage[], addGenerationPrompt: boolean): string;
}

/** A special token as tokenizer_config.json writes it: a string or {content}. */
function tokenString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

/** The chat_template field: a string, or HF's list of named templates (the one named "default"). */
function templateField(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    const named = v.find((t) => t && typeof t === 'object' && (t as { name?: unknown }).name === 'default') ?? v[0];
    const t = named && typeof named === 'object' ? (named as { template?: unknown }).template : undefined;
    return typeof t === 'string' ? t : undefined;
  }
  return undefined;
}

function readJson(path: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new TemplateError(`${path}: ${(e as NodeJS.ErrnoException).code ? `cannot read it (${(e as NodeJS.ErrnoException).code})` : `not valid JSON (${(e as Error).message.split('\n')[0]})`}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new TemplateError(`${path}: not a JSON object`);
  return v as Record<string, unknown>;
}

/** The 1-based line of `source` at which a parse error first appears (the shortest failing prefix of lines with the same message). */
function syntaxErrorLine(source: string, message: string): number | undefined {
  const lines = source.split('\n');
  for (let k = 1; k <= lines.length; k++) {
    try {
      new Template(lines.slice(0, k).join('\n'));
    } catch (e) {
      if ((e as Error).message === message) return k;
    }
  }
  return undefined;
}

/** The line of a runtime error: a raise_exception call with that message, or the first line using a name the message quotes. */
function runtimeErrorLine(source: string, message: string): number | undefined {
  const lines = source.split('\n');
  const find = (pred: (l: string) => boolean) => {
    const i = lines.findIndex(pred);
    return i >= 0 ? i + 1 : undefined;
  };
  const raised = find((l) => /raise_exception\s*\(/.test(l) && l.includes(message));
  if (raised !== undefined) return raised;
  // quoted names, then the identifier a message ends with ("Unknown StringValue filter: nofilter")
  const names = [...message.matchAll(/"([^"]+)"|'([^']+)'/g)].map((m) => m[1] ?? m[2]!);
  const last = /([A-Za-z_][A-Za-z0-9_]*)\W*$/.exec(message)?.[1];
  if (last) names.push(last);
  for (const name of names) {
    const at = find((l) => l.includes(name));
    if (at !== undefined) return at;
  }
  return undefined;
}

const where = (origin: string, line: number | undefined) => (line === undefined ? origin : `${origin}:${line}`);

/** Parse a template (TemplateError naming the line of a syntax error). */
export function makeTemplate(source: string, origin: string, bosToken = '', eosToken = ''): ChatTemplate {
  let compiled: Template;
  try {
    compiled = new Template(source);
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0]!;
    throw new TemplateError(`chat template ${where(origin, syntaxErrorLine(source, msg))}: ${msg}`);
  }
  const render = (messages: readonly ChatMessage[], addGenerationPrompt: boolean): string => {
    try {
      return compiled.render({ messages, add_generation_prompt: addGenerationPrompt, bos_token: bosToken, eos_token: eosToken });
    } catch (e) {
      const msg = (e as Error).message.split('\n')[0]!;
      throw new TemplateError(`chat template ${where(origin, runtimeErrorLine(source, msg))} failed to render: ${msg}`);
    }
  };
  return { source, origin, bosToken, eosToken, endOfTurn: findEndOfTurn(render), render };
}

/**
 * The marker after an assistant turn: render a user turn and an assistant turn whose content is a
 * sentinel and take what follows it, without surrounding whitespace ('<|im_end|>', '<|eot_id|>',
 * '</s>'). '' when the template fails on that conversation or puts nothing after the turn.
 */
function findEndOfTurn(render: ChatTemplate['render']): string {
  const sentinel = '\u0001GROWLM_SENTINEL\u0001';
  try {
    const text = render([{ role: 'user', content: 'x' }, { role: 'assistant', content: sentinel }], false);
    const at = text.indexOf(sentinel);
    return at < 0 ? '' : text.slice(at + sentinel.length).trim();
  } catch {
    return '';
  }
}

/** The template stored in a model directory's tokenizer_config.json, if any. */
export function modelDirTemplate(modelDir: string): ChatTemplate | undefined {
  const path = join(modelDir, TOKENIZER_CONFIG_FILE);
  if (!existsSync(path)) return undefined;
  const cfg = readJson(path);
  const source = templateField(cfg.chat_template);
  if (source === undefined) return undefined;
  return makeTemplate(source, path, tokenString(cfg.bos_token) ?? '', tokenString(cfg.eos_token) ?? '');
}

/**
 * The template to use: `spec` = a builtin name or a file (a Jinja source, or a JSON file with a
 * chat_template such as tokenizer_config.json); without one, the model directory's, else ChatML.
 */
export function resolveTemplate(spec: string | undefined, modelDir?: string): ChatTemplate {
  if (spec === undefined) {
    const own = modelDir !== undefined ? modelDirTemplate(modelDir) : undefined;
    if (own) return own;
    spec = DEFAULT_TEMPLATE;
  }
  const builtin = BUILTIN_TEMPLATES[spec];
  if (builtin) return makeTemplate(builtin.template, spec, builtin.bos, builtin.eos);
  if (!existsSync(spec)) throw new TemplateError(`chat template "${spec}" is neither a builtin (${Object.keys(BUILTIN_TEMPLATES).join(', ')}) nor a file`);
  if (/\.json$/i.test(spec)) {
    const cfg = readJson(spec);
    const source = templateField(cfg.chat_template);
    if (source === undefined) throw new TemplateError(`${spec}: no "chat_template" string in it`);
    return makeTemplate(source, spec, tokenString(cfg.bos_token) ?? '', tokenString(cfg.eos_token) ?? '');
  }
  let source: string;
  try {
    source = readFileSync(spec, 'utf8');
  } catch (e) {
    throw new TemplateError(`cannot read chat template ${spec} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return makeTemplate(source, spec);
}

/**
 * The tokenizer_config.json a fine-tuned model directory carries: the existing one's fields with the
 * template's chat_template, and its bos/eos tokens where the file had none.
 */
export function templateConfig(t: ChatTemplate, existing: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ...existing,
    chat_template: t.source,
    ...(existing.bos_token === undefined && t.bosToken ? { bos_token: t.bosToken } : {}),
    ...(existing.eos_token === undefined && (t.eosToken || t.endOfTurn) ? { eos_token: t.eosToken || t.endOfTurn } : {}),
  };
}
