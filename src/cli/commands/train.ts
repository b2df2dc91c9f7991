import { join } from 'node:path';
import type { Command } from '../command.js';
import { WEIGHTS_FILE, loadModelDir } from '../../model/model-dir.js';
import type { ScheduleKind } from '../../train/schedule.js';
import { DEFAULT_TRAIN, trainModelDir } from '../../train/train-model-dir.js';
import { readTunedLr } from '../../train/tune.js';
import type { MetricsEntry } from '../../train/metrics.js';
import { EarlierRunError, ResumeError } from '../../train/train-model-dir.js';
import { GrowlmError, UsageError } from '../../util/errors.js';
import { note, printJson } from '../output.js';
import { Progress, formatDuration } from '../progress.js';

/** The arguments after `train` on this process's command line (to print the command that resumes). */
function trainArgv(argv: string[]): string[] {
  const i = argv.indexOf('train');
  return i < 0 ? [] : argv.slice(i + 1);
}

const shellQuote = (a: string): string => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);

export const trainCommand: Command = {
  name: 'train',
  summary: 'Train a model directory on a prepared dataset (AdamW, LR schedule, validation, checkpoints, resume).',
  details: [
    'Metrics go to DIR/metrics.jsonl, checkpoints to DIR/checkpoints/step-N/ (the last --keep), the final weights to',
    'DIR/model.safetensors. --resume continues from the last checkpoint exactly (same batches, same loss curve,',
    'bit-identical weights: measured with 1, 2 and 4 threads, see the README\'s Tests). --restart first moves the earlier',
    'run\'s checkpoints and metrics.jsonl to DIR/checkpoints.old-<UTC time>/, so a later --resume continues the new run.',
    'Ctrl-C (SIGINT) finishes the step under way, writes a checkpoint and the weights, prints the command that',
    'resumes and exits 130; a second Ctrl-C exits at once.',
  ].join('\n'),
  options: {
    model: { type: 'string', arg: 'DIR', description: 'model directory (growlm init)', required: true },
    data: { type: 'string', arg: 'DIR', description: 'prepared dataset (growlm data prepare)', required: true },
    steps: { type: 'string', arg: 'N', description: 'optimizer steps' },
    tokens: { type: 'string', arg: 'N', description: 'train on about N tokens instead of --steps' },
    batch: { type: 'string', arg: 'N', description: 'sequences per micro-batch', default: '8' },
    seq: { type: 'string', arg: 'N', description: 'sequence length (default: max_position_embeddings)' },
    accumulate: { type: 'string', arg: 'N', description: 'micro-batches per optimizer step', default: '1' },
    lr: { type: 'string', arg: 'X', description: 'peak learning rate (default 1e-3)' },
    'lr-from': { type: 'string', arg: 'FILE', description: 'take the peak learning rate from a growlm tune result (tune-result.json)' },
    schedule: { type: 'string', arg: 'KIND', description: 'cosine | wsd | constant', default: 'cosine' },
    warmup: { type: 'string', arg: 'N', description: 'linear warm-up steps (default: 2% of the steps)' },
    'min-lr-ratio': { type: 'string', arg: 'X', description: 'final LR as a fraction of the peak', default: '0.1' },
    'weight-decay': { type: 'string', arg: 'X', description: 'AdamW decoupled weight decay (matrices)', default: '0.1' },
    clip: { type: 'string', arg: 'X', description: 'global gradient-norm clipping (0: off)', default: '1.0' },
    'eval-every': { type: 'string', arg: 'N', description: 'validate every N steps (default: 10 times per run)' },
    'eval-batches': { type: 'string', arg: 'N', description: 'validation batches per evaluation', default: '8' },
    'checkpoint-every': { type: 'string', arg: 'N', description: 'checkpoint every N steps (and at the end)', default: '100' },
    keep: { type: 'string', arg: 'K', description: 'checkpoints to keep', default: '3' },
    'stop-at': { type: 'string', arg: 'N', description: 'stop after step N (checkpointed; --resume continues the same schedule)' },
    resume: { type: 'boolean', description: 'continue from the last checkpoint in DIR/checkpoints' },
    restart: { type: 'boolean', description: 'start over even though DIR has checkpoints (the earlier run is moved to DIR/checkpoints.old-<time>/)' },
    seed: { type: 'string', arg: 'N', description: 'data sampling seed', default: '0' },
    threads: { type: 'string', arg: 'N', description: 'intra-op threads (default: all cores)' },
    'max-nonfinite': { type: 'string', arg: 'N', description: 'stop after N consecutive non-finite steps', default: '10' },
    json: { type: 'boolean', description: 'print a JSON summary; no progress bar' },
  },
  async run(args) {
    const modelDir = args.need('model'), dataDir = args.need('data');
    const json = args.flag('json');
    if (args.has('steps') === args.has('tokens')) throw new UsageError('give exactly one of --steps N or --tokens N');
    const kind = args.need('schedule') as ScheduleKind;
    if (!['cosine', 'wsd', 'constant'].includes(kind)) throw new UsageError(`--schedule must be cosine, wsd or constant, got "${kind}"`);
    if (args.has('lr') && args.has('lr-from')) throw new UsageError('give --lr or --lr-from, not both');
    const lr = args.has('lr-from') ? readTunedLr(args.need('lr-from')) : args.num('lr', 1e-3);
    if (!(lr > 0)) throw new UsageError('--lr must be positive');
    const batch = args.int('batch', 8), accumulate = args.int('accumulate', 1);
    const seq = args.has('seq') ? args.int('seq') : undefined;
    // --tokens needs the sequence length: read it from the model when not given
    const steps = args.has('steps') ? args.int('steps')
      : Math.max(1, Math.ceil(args.int('tokens') / (batch * (seq ?? loadModelDir(modelDir).config.maxSeqLen) * accumulate)));
    let progress = new Progress(steps, !json);
    let resumedFrom = 0;
    const log = (e: MetricsEntry) => {
      const eta = ((steps - e.step) * e.elapsed_s) / Math.max(1, e.step - resumedFrom);
      progress.update(e.step, `loss ${e.loss.toFixed(4)}  lr ${e.lr.toExponential(2)}  ${e.tokens_per_s.toFixed(0)} tok/s  ETA ${formatDuration(eta)}${e.skipped ? '  (skipped: non-finite)' : ''}`);
      if (e.val_loss !== undefined) progress.log(`step ${e.step}: val loss ${e.val_loss.toFixed(4)}, ${e.val_bpb!.toFixed(3)} bits/byte`);
    };
    if (args.flag('resume') && args.flag('restart')) throw new UsageError('give --resume or --restart, not both');
    // Ctrl-C: the trainer finishes the step and checkpoints; a second one exits at once
    const stop = new AbortController();
    const onSigint = (): void => {
      if (stop.signal.aborted) process.exit(130);
      stop.abort();
    };
    process.on('SIGINT', onSigint);
    const result = await trainModelDir(modelDir, dataDir, {
      ...DEFAULT_TRAIN,
      steps, batch, seq, accumulate, lr, schedule: kind,
      warmup: args.has('warmup') ? args.int('warmup', 0, 0) : undefined,
      minLrRatio: args.num('min-lr-ratio', 0.1),
      optimizer: { weightDecay: args.num('weight-decay', 0.1), clipNorm: args.num('clip', 1) },
      evalEvery: args.has('eval-every') ? args.int('eval-every', 0, 0) : undefined,
      evalBatches: args.int('eval-batches', 8),
      checkpointEvery: args.int('checkpoint-every', 100, 0),
      keep: args.int('keep', 3),
      seed: args.int('seed', 0, 0),
      session: { threads: args.has('threads') ? args.int('threads') : undefined },
      maxNonFinite: args.int('max-nonfinite', 10),
      stopAt: args.has('stop-at') ? args.int('stop-at') : undefined,
      resume: args.flag('resume'), restart: args.flag('restart'), signal: stop.signal,
    }, log, (start) => {
      resumedFrom = start.resumedFrom;
      progress = new Progress(steps, !json);
      for (const w of start.warnings) note(`warning: ${w}`);
      if (start.archived) note(`moved the earlier run's checkpoints and metrics to ${start.archived}`);
      if (start.resumedFrom && !json) note(`resuming from step ${start.resumedFrom}`);
    }).catch((e: unknown) => {
      if (e instanceof EarlierRunError) throw new GrowlmError(`${e.checkpoints} holds checkpoints of an earlier run: pass --resume to continue it or --restart to start over (which archives them)`);
      if (e instanceof ResumeError) throw new GrowlmError(`--resume: ${e.message}`);
      throw e;
    }).finally(() => process.off('SIGINT', onSigint));
    if (result.interrupted) {
      progress.end();
      const again = ['train', ...trainArgv(process.argv).filter((a) => a !== '--restart' && a !== '--resume'), '--resume'];
      note(`interrupted at step ${result.finalStep}; resume with: growlm ${again.map(shellQuote).join(' ')}`);
      if (json) printJson({ interrupted: true, steps: result.finalStep, model: modelDir });
      return 130;
    }
    const summary = {
      steps: result.finalStep, loss: result.lastLoss, val_loss: result.valLoss, val_bpb: result.valBpb,
      tokens_per_s: result.tokensPerS, skipped_steps: result.skippedSteps, model: modelDir,
      masks: result.config.growth.masks ?? null,
    };
    if (json) printJson(summary);
    else console.log(`trained to step ${result.finalStep} of ${steps}: loss ${result.lastLoss.toFixed(4)}, val loss ${result.valLoss?.toFixed(4)}, ${result.valBpb?.toFixed(3)} bits/byte; weights in ${join(modelDir, WEIGHTS_FILE)}`);
    return 0;
  },
};
