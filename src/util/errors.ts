/**
 * Errors a user can cause (bad input, bad files, bad settings). Their messages are one line and
 * never name command-line flags: the library is used without the CLI. src/cli turns them into
 * flag-speak and exit codes (src/cli/errors.ts); anything else is a bug and is reported as such.
 */
export class GrowlmError extends Error {
  override name = 'GrowlmError';
}

/** A setting passed to a library function is invalid (the CLI reports it as a usage error, exit 2). */
export class InvalidSettingError extends GrowlmError {
  override name = 'InvalidSettingError';
  /** The setting's name in the library API, e.g. `tokenizer`. */
  constructor(readonly setting: string, message: string) {
    super(message);
  }
}

/** An output location already holds what would be overwritten, and overwriting was not asked for. */
export class OutputExistsError extends GrowlmError {
  override name = 'OutputExistsError';
  constructor(readonly path: string, what: string) {
    super(`${path} already holds ${what}`);
  }
}
