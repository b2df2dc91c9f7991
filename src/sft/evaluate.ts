/**
 * Evaluation of a fine-tuned model on held-out conversations: the answer loss (mean cross-entropy
 * over answer tokens only, each assistant turn with its end-of-turn marker, as in training) and
 * the exact-match accuracy of greedy answers to the last user turn, compared after normalising
 * case, punctuation and whitespace.
 */
import { resolveTemplate } from '../data/chat-template.js';
import type { SftSample } from '../data/sft-format.js';
import { answerCount, fitRows } from '../data/sft-tokenize.js';
import { loadModelDir } from '../model/model-dir.js';
import { DecoderRunner } from '../runtime/forward.js';
import type { Provider } from '../runtime/session.js';
import { generateChat } from '../generate/chat.js';
import { openModel } from '../generate/generate.js';
import { InvalidSettingError } from '../util/errors.js';
import { conversationRows } from './prepare.js';
import { rowsLoss } from './sft-model-dir.js';

/** Lower case, punctuation removed, whitespace collapsed (NFKC first). */
export function normalizeAnswer(s: string): string {
  return s.normalize('NFKC').toLowerCase().replace(/[\p{P}\p{S}]/gu, ' ').replace(/\s+/g, ' ').trim();
}

export interface EvaluateSftOptions {
  /** Chat template (default: the model directory's, else ChatML). */
  template?: string;
  /** Rows per batch for the answer loss. */
  batch: number;
  /** Samples whose answers are generated for exact match (default: all). */
  maxGenerate?: number;
  /** New tokens allowed beyond the reference answer's length. */
  extraTokens: number;
  threads?: number;
  provider?: Provider;
  /** Keep this many predictions in the result (for reports). */
  keepPredictions: number;
}

export const DEFAULT_EVALUATE_SFT: EvaluateSftOptions = { batch: 8, extraTokens: 16, keepPredictions: 20 };

export interface SftPrediction {
  source: string;
  question: string;
  expected: string;
  got: string;
  match: boolean;
}

export interface EvaluateSftResult {
  /** Mean cross-entropy (nats) over answer tokens. */
  answer_loss: number;
  answer_tokens: number;
  /** Fraction of generated answers equal to the reference after normalisation. */
  exact_match: number;
  /** Samples evaluated for the loss / generated for exact match. */
  samples: number;
  generated: number;
  /** Samples longer than the context, left out of the loss (still generated). */
  too_long: number;
  predictions: SftPrediction[];
  seconds: number;
}

export async function evaluateSft(modelDir: string, samples: readonly SftSample[], options: Partial<EvaluateSftOptions> = {}): Promise<EvaluateSftResult> {
  const o = { ...DEFAULT_EVALUATE_SFT, ...options };
  if (samples.length === 0) throw new InvalidSettingError('samples', 'no samples to evaluate');
  const t0 = performance.now();
  const template = resolveTemplate(o.template, modelDir);
  const model = await openModel(modelDir, { threads: o.threads, provider: o.provider });
  try {
    const fit = fitRows(conversationRows(samples, template, model.tokenizer), model.config.maxSeqLen, 'drop');
    const { config, weights } = loadModelDir(modelDir);
    const runner = await DecoderRunner.create(config, weights, ['loss'], { threads: o.threads, provider: o.provider });
    const loss = await rowsLoss(runner, fit.rows, o.batch, config.maxSeqLen, 'pad').finally(() => runner.release());
    const toGenerate = samples.slice(0, o.maxGenerate ?? samples.length);
    const predictions: SftPrediction[] = [];
    let matches = 0;
    for (const s of toGenerate) {
      const last = s.messages.map((m) => m.role).lastIndexOf('assistant');
      const expected = s.messages[last]!.content;
      const r = await generateChat(model, s.messages.slice(0, last), {
        template, temperature: 0, maxTokens: model.tokenizer.encode(expected).length + o.extraTokens,
      });
      const match = normalizeAnswer(r.text) === normalizeAnswer(expected);
      if (match) matches++;
      if (predictions.length < o.keepPredictions) predictions.push({ source: s.source, question: s.messages[last - 1]?.content ?? '', expected, got: r.text, match });
    }
    return {
      answer_loss: loss.loss, answer_tokens: fit.rows.reduce((a, r) => a + answerCount(r), 0),
      exact_match: toGenerate.length > 0 ? matches / toGenerate.length : NaN,
      samples: fit.rows.length, generated: toGenerate.length, too_long: fit.tooLong,
      predictions, seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    await model.release();
  }
}
