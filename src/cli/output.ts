/** Output helpers shared by the subcommands. */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** Human progress goes to stderr so that stdout stays machine-readable. */
export function note(msg: string): void {
  process.stderr.write(msg + '\n');
}

/** A word as a POSIX shell reads it back (quoted when it has anything but safe characters). */
export function shellQuote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/** The arguments given after the command's words (e.g. ['plan', 'run']) in argv. */
export function argsAfter(argv: string[], words: string[]): string[] {
  for (let i = 0; i + words.length <= argv.length; i++) {
    if (words.every((w, k) => argv[i + k] === w)) return argv.slice(i + words.length);
  }
  return [];
}
