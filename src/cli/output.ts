/** Output helpers shared by the subcommands. */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** Human progress goes to stderr so that stdout stays machine-readable. */
export function note(msg: string): void {
  process.stderr.write(msg + '\n');
}
