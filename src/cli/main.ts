#!/usr/bin/env node
/**
 * growlm's executable. It first re-executes itself once with tuned glibc malloc settings
 * (src/runtime/malloc-tuning.ts: they are read only at start-up), and only then loads the CLI.
 */
import { exitWithParent, needsMallocTuning, relaunchWithTunedMalloc } from '../runtime/malloc-tuning.js';

if (needsMallocTuning()) {
  process.exitCode = await relaunchWithTunedMalloc();
} else {
  exitWithParent();
  const { runCli } = await import('./app.js');
  await runCli(process.argv.slice(2));
}
