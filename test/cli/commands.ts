/** Every subcommand name, from the CLI's own registry (so a new command gets its --help tested). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const main = readFileSync(join(import.meta.dirname, '../../src/cli/main.ts'), 'utf8');
const list = /COMMANDS: Command\[\] = \[([^\]]*)\]/.exec(main)![1]!.split(',').map((s) => s.trim()).filter(Boolean);
export const COMMAND_NAMES: string[] = list.map((ident) => {
  const file = readFileSync(join(import.meta.dirname, '../../src/cli/commands', `${/import \{[^}]*\b/.test(main) ? findFile(ident) : ''}`), 'utf8');
  return new RegExp(`export const ${ident}[^=]*=\\s*\\{\\s*name: '([^']+)'`).exec(file)![1]!;
});

function findFile(ident: string): string {
  const m = new RegExp(`import \\{[^}]*\\b${ident}\\b[^}]*\\} from './commands/([^']+)\\.js'`).exec(main);
  return `${m![1]}.ts`;
}
