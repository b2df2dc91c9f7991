/** Run the built CLI (dist/) as a user would; `npm test` builds first. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/** The built CLI's entry point. */
export const MAIN = join(import.meta.dirname, '../../dist/src/cli/main.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function growlm(...args: string[]): CliResult {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { ...process.env, GROWLM_DEBUG: '' } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The failure contract: non-zero exit, exactly one line on stderr, no stack trace. */
export function expectOneLineError(r: CliResult, pattern: RegExp, code = 1): void {
  const lines = r.stderr.trim().split('\n');
  if (r.code !== code || lines.length !== 1 || /\n\s+at /.test(r.stderr) || !pattern.test(r.stderr)) {
    throw new Error(`expected exit ${code} with one line matching ${pattern}, got exit ${r.code}:\n${r.stderr}`);
  }
}
