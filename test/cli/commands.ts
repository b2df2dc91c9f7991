/** Every subcommand name, from the CLI's own registry (so a new command gets its --help tested). */
import { COMMANDS } from '../../src/cli/commands/index.js';

export const COMMAND_NAMES: string[] = COMMANDS.map((c) => c.name);
