/**
 * Chat with a model: the conversation is rendered with the model's chat template (its
 * tokenizer_config.json, or ChatML when it has none; see src/data/chat-template.ts) with the
 * generation prompt added, and generation stops at the template's end-of-turn marker.
 */
import { type ChatTemplate, resolveTemplate } from '../data/chat-template.js';
import type { ChatMessage } from '../data/sft-format.js';
import { type GenerateOptions, type GenerateResult, type GenerationModel, GenerateError, generate } from './generate.js';

export interface ChatOptions extends GenerateOptions {
  /** The template (default: the model directory's, else ChatML). */
  template?: ChatTemplate;
}

/** The prompt a chat sends: the messages rendered with the generation prompt. */
export function chatPrompt(template: ChatTemplate, messages: readonly ChatMessage[]): string {
  if (messages.length === 0) throw new GenerateError('the conversation has no messages');
  return template.render(messages, true);
}

/** Stop strings of a chat: the caller's plus the template's end-of-turn marker. */
export function chatStops(template: ChatTemplate, stop: readonly string[] = []): string[] {
  return template.endOfTurn && !stop.includes(template.endOfTurn) ? [...stop, template.endOfTurn] : [...stop];
}

/** The assistant's reply to `messages` (its text ends before the end-of-turn marker). */
export async function generateChat(model: GenerationModel, messages: readonly ChatMessage[], opts: ChatOptions = {}): Promise<GenerateResult> {
  const template = opts.template ?? resolveTemplate(undefined, model.dir);
  return generate(model, chatPrompt(template, messages), { ...opts, stop: chatStops(template, opts.stop) });
}
