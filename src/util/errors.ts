/**
 * Errors a user can cause (bad input, bad files, bad flags). The CLI prints their message as one
 * line and exits non-zero; anything else is a bug and is reported as such.
 */
export class GrowlmError extends Error {
  override name = 'GrowlmError';
}

/** Wrong command-line usage: exit code 2. */
export class UsageError extends GrowlmError {}
