/** The registry of subcommands, in the order `growlm --help` lists them. */
import type { Command } from '../command.js';
import { benchGenerateCommand, benchTrainCommand } from './bench.js';
import { dataPrepareCommand } from './data.js';
import { evalCommand } from './eval.js';
import { experimentCommand } from './experiment.js';
import { exportCommand } from './export.js';
import { generateCommand } from './generate.js';
import { growthPracticesCommand } from './growth-practices.js';
import { initCommand } from './init.js';
import { importCommand } from './import.js';
import { growCommand } from './grow.js';
import { inspectCommand } from './inspect.js';
import { planRunCommand, planShowCommand } from './plan.js';
import { reportCommand } from './report.js';
import { serveCommand } from './serve.js';
import { sftCommand } from './sft.js';
import { sftSizeCommand } from './sft-size.js';
import { trainCommand } from './train.js';
import { tuneCommand } from './tune.js';

export const COMMANDS: Command[] = [
  initCommand, importCommand, dataPrepareCommand, trainCommand, sftCommand, tuneCommand, growCommand, planShowCommand, planRunCommand, experimentCommand, growthPracticesCommand, sftSizeCommand, evalCommand, inspectCommand, exportCommand, benchTrainCommand, benchGenerateCommand,
  generateCommand, serveCommand, reportCommand,
];
