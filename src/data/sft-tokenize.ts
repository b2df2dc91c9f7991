/**
 * A conversation as training tokens with the answer tokens marked: only they carry loss.
 *
 * Assistant spans are found by rendering prefix by prefix. For each assistant turn i the template
 * renders the conversation before it with the generation prompt (P_i: exactly what a chat request
 * sends before the model answers) and the conversation through it (F_i); the text F_i − P_i is the
 * answer as the template writes it, including its end-of-turn marker ('<|im_end|>', '<|eot_id|>',
 * '</s>'), so the model learns to stop. Each piece is tokenized on its own, so the prompt part is
 * tokenized exactly as at inference. When P_i is not a prefix of F_i (a template whose generation
 * prompt differs from how it writes the turn), the turn is rendered once more with a sentinel as
 * its content and the answer starts where the sentinel does. This needs a template that renders a
 * prefix of a conversation as a prefix of the whole, which real templates do; one that does not is
 * an error naming the sample rather than a silently wrong mask.
 */
import { IGNORE_INDEX } from '../model/params.js';
import { GrowlmError } from '../util/errors.js';
import { type ChatTemplate, TemplateError } from './chat-template.js';
import type { ChatMessage } from './sft-format.js';
import type { Tokenizer } from './tokenizer.js';

export interface SftTokens {
  ids: number[];
  /** 1 for answer tokens (trained), 0 for prompt, system and user tokens. */
  answer: Uint8Array;
  source: string;
}

const SENTINEL = '\u0001GROWLM_ANSWER\u0001';

/**
 * Where assistant turn i starts in `through` (the render of messages[0..i]): after the generation
 * prompt when the template renders the conversation before it with add_generation_prompt as a
 * prefix of `through`; otherwise (a template whose generation prompt differs from how it writes
 * the turn, e.g. in whitespace) where the turn's content starts, found by rendering the turn with a
 * sentinel as its content.
 */
function answerStart(t: ChatTemplate, messages: readonly ChatMessage[], i: number, through: string): number | undefined {
  const prompt = t.render(messages.slice(0, i), true);
  if (through.startsWith(prompt) && through.length > prompt.length) return prompt.length;
  const marked = t.render([...messages.slice(0, i), { role: 'assistant', content: SENTINEL }], false);
  const at = marked.indexOf(SENTINEL);
  return at >= 0 && through.startsWith(marked.slice(0, at)) ? at : undefined;
}

/** The rendered conversation cut into pieces: prompt pieces (no loss) and answer pieces (loss). */
export function answerSpans(t: ChatTemplate, messages: readonly ChatMessage[], source: string): { text: string; answer: boolean }[] {
  const pieces: { text: string; answer: boolean }[] = [];
  const full = t.render(messages, false);
  let done = 0;
  const fail = (i: number, what: string) =>
    new TemplateError(`${source}: chat template ${t.origin} does not render messages[${i}] ${what}, so its answer tokens cannot be located`);
  messages.forEach((m, i) => {
    if (m.role !== 'assistant') return;
    const through = t.render(messages.slice(0, i + 1), false);
    if (!full.startsWith(through)) throw fail(i, 'as a prefix of the whole conversation');
    const start = answerStart(t, messages, i, through);
    if (start === undefined || start < done) throw fail(i, 'after its prompt');
    if (through.length === start) throw fail(i, 'as any text');
    if (start > done) pieces.push({ text: full.slice(done, start), answer: false });
    pieces.push({ text: full.slice(start, through.length), answer: true });
    done = through.length;
  });
  if (full.length > done) pieces.push({ text: full.slice(done), answer: false });
  return pieces;
}

export function tokenizeConversation(t: ChatTemplate, tok: Tokenizer, messages: readonly ChatMessage[], source: string): SftTokens {
  const ids: number[] = [];
  const flags: number[] = [];
  for (const p of answerSpans(t, messages, source)) {
    const part = tok.encode(p.text);
    for (const id of part) {
      ids.push(id);
      flags.push(p.answer ? 1 : 0);
    }
  }
  return { ids, answer: Uint8Array.from(flags), source };
}

/** One training row of a sample: inputs t[:-1], targets t[1:] with IGNORE_INDEX where the target is not an answer token. */
export interface SftRow {
  inputs: number[];
  targets: number[];
  source: string;
}

export function sampleRow(s: SftTokens): SftRow {
  const n = s.ids.length;
  const inputs = s.ids.slice(0, n - 1);
  const targets = new Array<number>(Math.max(0, n - 1));
  for (let j = 1; j < n; j++) targets[j - 1] = s.answer[j] ? s.ids[j]! : IGNORE_INDEX;
  return { inputs, targets, source: s.source };
}

/** Number of trained targets in a row. */
export const answerCount = (r: SftRow) => r.targets.reduce((a, t) => a + (t === IGNORE_INDEX ? 0 : 1), 0);

export type LongPolicy = 'error' | 'drop' | 'truncate';

/** Samples longer than the context (more than `seq` input positions). */
export class SampleTooLongError extends GrowlmError {
  override name = 'SampleTooLongError';
}

export interface FitResult {
  rows: SftRow[];
  /** Rows longer than the context. */
  tooLong: number;
  /** Of those, cut to the context (truncate). */
  truncated: number;
  /** Dropped: too long (drop), or truncated to no answer token left. */
  dropped: number;
  /** The longest row, in input positions. */
  longest: number;
}

/**
 * Fit rows to a context of `seq` positions: `error` refuses rows that are longer (naming the first),
 * `drop` drops them, `truncate` keeps their first `seq` positions (dropping a row with no answer token left).
 */
export function fitRows(rows: SftRow[], seq: number, policy: LongPolicy): FitResult {
  const out: SftRow[] = [];
  let tooLong = 0, truncated = 0, dropped = 0, longest = 0;
  let first: SftRow | undefined;
  for (const r of rows) {
    longest = Math.max(longest, r.inputs.length);
    if (r.inputs.length <= seq) { out.push(r); continue; }
    tooLong++;
    first ??= r;
    if (policy === 'drop') { dropped++; continue; }
    if (policy === 'truncate') {
      const cut = { inputs: r.inputs.slice(0, seq), targets: r.targets.slice(0, seq), source: r.source };
      if (answerCount(cut) === 0) { dropped++; continue; }
      truncated++;
      out.push(cut);
    }
  }
  if (policy === 'error' && first) {
    throw new SampleTooLongError(`${tooLong} sample(s) are longer than the context of ${seq} tokens, the first ${first.source} (${first.inputs.length + 1} tokens): drop or truncate them (setting long)`);
  }
  return { rows: out, tooLong, truncated, dropped, longest };
}
