/**
 * The CLI's side of errors: usage errors (thrown only here, exit 2) and the flag-speak for library
 * errors, whose messages name no flags (src/util/errors.ts).
 */
import { GrowlmError, InvalidSettingError, OutputExistsError } from '../util/errors.js';
import { MissingTextFieldError } from '../data/prepare.js';
import { NoTokenizerError, TokenizerMismatchError } from '../generate/generate.js';
import { ProviderUnavailableError } from '../runtime/session.js';
import { StreamingCheckError } from '../growth/model-dir.js';
import { CheckpointsExistError, NoCheckpointError, ResumePastEndError } from '../train/train-model-dir.js';
import { SftDataError } from '../data/sft-format.js';
import { SampleTooLongError } from '../data/sft-tokenize.js';
import { SftOutputExistsError } from '../sft/sft-model-dir.js';

/** Wrong command-line usage: exit code 2. */
export class UsageError extends GrowlmError {
  override name = 'UsageError';
}

/** Exit code and one-line message (without the "growlm: " prefix) for an error a user caused. */
export function describeError(e: GrowlmError): { code: number; message: string } {
  if (e instanceof UsageError || e instanceof InvalidSettingError) return { code: 2, message: e.message };
  const fail = (message: string) => ({ code: 1, message: `error: ${message}` });
  if (e instanceof StreamingCheckError) return { code: 2, message: '--check loads both models into memory; it cannot be combined with streaming growth (--stream or a sharded checkpoint)' };
  if (e instanceof OutputExistsError) return fail(`${e.message} (use --force to overwrite)`);
  if (e instanceof CheckpointsExistError) return fail(`${e.dir} holds checkpoints of an earlier run: pass --resume to continue it or --restart to start over (which archives them)`);
  if (e instanceof NoCheckpointError) return fail(`--resume: no checkpoint in ${e.dir}`);
  if (e instanceof ResumePastEndError) return fail(`--resume: the last checkpoint is at step ${e.checkpointStep}, past the requested ${e.steps} steps`);
  if (e instanceof MissingTextFieldError) return fail(`${e.message} (set --text-field)`);
  if (e instanceof TokenizerMismatchError) return fail(e.message.replace(/^tokenizer /, '--tokenizer '));
  if (e instanceof NoTokenizerError) return fail(`${e.dir} has no recorded tokenizer: train it first or pass --tokenizer byte|gpt2|PATH`);
  if (e instanceof SftOutputExistsError) return fail(`${e.dir} already holds a model: pass --resume to continue its run or --restart to fine-tune it again from the base`);
  if (e instanceof SampleTooLongError) return fail(e.message.replace(/: drop or truncate them \(setting long\)$/, ': pass --drop-long to leave them out or --truncate to cut them'));
  if (e instanceof SftDataError && ['malformed JSON', 'not an object', 'unknown format', 'missing role', 'unknown role', 'bad messages', 'bad content', 'bad prompt', 'bad completion', 'bad instruction', 'bad input', 'bad output', 'empty assistant turn', 'no assistant turn'].includes(e.reason)) {
    return fail(`${e.message} (--skip-bad-lines skips and counts such lines)`);
  }
  if (e instanceof ProviderUnavailableError) return fail(`--device ${e.provider}: ${e.message}`);
  return fail(e.message);
}
