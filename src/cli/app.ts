/**
 * growlm command line. Exit codes: 0 success, 1 failure (bad input, bad files, runtime errors),
 * 2 usage errors. User errors print one line on stderr; set GROWLM_DEBUG=1 to see stack traces.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Command, commandHelp, parseCommandArgs } from './command.js';
import { COMMANDS } from './commands/index.js';
import { UsageError, describeError } from './errors.js';
import { GrowlmError } from '../util/errors.js';
import { packageRoot } from '../util/paths.js';

function commandList(cmds: Command[]): string[] {
  const width = Math.max(...cmds.map((c) => c.name.length)) + 2;
  return cmds.map((c) => `  ${c.name.padEnd(width)} ${c.summary.split('. ')[0]!.replace(/\.$/, '')}`);
}

function mainHelp(): string {
  return [
    'usage: growlm <command> [options]',
    '',
    'Build, grow, train and run decoder language models as ONNX graphs.',
    '',
    'commands:',
    ...commandList(COMMANDS),
    '',
    'options:',
    '  --help, -h     show this help',
    '  --version      print the version',
    '',
    'Run growlm help <command> (or growlm <command> --help) for the options of a command.',
  ].join('\n');
}

/** The subcommands of a group such as `data` or `bench`, when argv names only the group. */
function groupHelp(group: string, cmds: Command[]): string {
  return [`usage: growlm ${group} <subcommand> [options]`, '', 'subcommands:', ...commandList(cmds), '', `Run growlm help ${group} <subcommand> for its options.`].join('\n');
}

/** Find the command named by the leading words of argv (longest match: 'bench train' before 'bench'). */
function findCommand(argv: string[]): { cmd: Command; rest: string[] } | undefined {
  for (const words of [2, 1]) {
    const name = argv.slice(0, words).join(' ');
    const cmd = COMMANDS.find((c) => c.name === name);
    if (cmd) return { cmd, rest: argv.slice(words) };
  }
  return undefined;
}

export async function main(argv: string[]): Promise<number> {
  if (argv.length === 0) {
    console.error(mainHelp());
    return 2;
  }
  if (argv[0] === '--help' || argv[0] === '-h' || (argv[0] === 'help' && argv.length === 1)) {
    console.log(mainHelp());
    return 0;
  }
  if (argv[0] === 'help') return main([...argv.slice(1), '--help']);
  if (argv[0] === '--version') {
    console.log(JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version);
    return 0;
  }
  const found = findCommand(argv);
  if (!found) {
    const group = COMMANDS.filter((c) => c.name.startsWith(`${argv[0]} `));
    if (group.length && (argv.length === 1 || argv[1] === '--help' || argv[1] === '-h')) {
      const help = groupHelp(argv[0]!, group);
      if (argv.length === 1) {
        console.error(help);
        return 2;
      }
      console.log(help);
      return 0;
    }
    if (group.length) throw new UsageError(`unknown subcommand "${argv[0]} ${argv[1]}" (run growlm ${argv[0]} --help)`);
    throw new UsageError(`unknown command "${argv[0]}" (run growlm --help)`);
  }
  const args = parseCommandArgs(found.cmd, found.rest);
  if (args.flag('help')) {
    console.log(commandHelp(found.cmd));
    return 0;
  }
  return (await found.cmd.run(args)) ?? 0;
}

function report(e: unknown): number {
  if (process.env.GROWLM_DEBUG) console.error(e);
  if (e instanceof GrowlmError) {
    const { code, message } = describeError(e);
    console.error(`growlm: ${message}`);
    return code;
  }
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ENOSPC') console.error('growlm: error: no space left on device');
  else if (err?.code === 'EACCES' || err?.code === 'EPERM') console.error(`growlm: error: permission denied${err.path ? `: ${err.path}` : ''}`);
  else console.error(`growlm: internal error: ${err?.message?.split('\n')[0] ?? String(e)} (set GROWLM_DEBUG=1 for details)`);
  return 1;
}

/** Run the CLI with these arguments and set the process exit code. */
export async function runCli(argv: string[]): Promise<void> {
  try {
    process.exitCode = await main(argv);
  } catch (e) {
    process.exitCode = report(e);
  }
}
