import { join } from 'node:path';
import type { Command } from '../command.js';
import { WEIGHTS_FILE, loadModelDir } from '../../model/model-dir.js';
import { DEFAULT_ADAMW } from '../../train/adamw.js';
import type { ScheduleKind } from '../../train/schedule.js';
import type { Precision } from '../../train/train-graph.js';
import { DEFAULT_TRAIN, trainModelDir } from '../../train/train-model-dir.js';
import { readTunedLr } from '../../train/tune.js';
import type { MetricsEntry } from '../../train/metrics.js';
import { UsageError } from '../errors.js';
import { DEVICE_OPTION, device } from '../device.js';
import { argsAfter, note, printJson, shellQuote } from '../output.js';
import { Progress, formatDuration } from '../progress.js';

export const trainCommand: Command = {
  name: 'train',
  summary: 'Train a model directory on a prepared dataset (AdamW, LR schedule, validation, checkpoints, resume).',
  details: [
    'Metrics go to DIR/metrics.jsonl, checkpoints to DIR/checkpoints/step-N/ (the last --keep), the final weights to',
    'DIR/model.safetensors. --resume continues from the last checkpoint exactly (same batches, same loss curve,',
    'bit-identical weights: measured with 1, 2 and 4 threads, see the README\'s Tests). --restart first moves the earlier',
    'run\'s checkpoints and metrics.jsonl to DIR/checkpoints.old-<UTC time>/, so a later --resume continues the new run.',
    'Ctrl-C (SIGINT) finishes the step under way, writes a checkpoint and the weights, prints the command that',
    'resumes and exits 130; a second Ctrl-C exits at once. Checkpoints record a sha256 of each file; --resume passes',
    'over a damaged newest checkpoint with a warning. DIR/.growlm.lock keeps a second process off DIR while one trains.',
  ].join('\n'),
  options: {
    model: { kind: 'path', arg: 'DIR', description: 'model directory (growlm init)', required: true },
    data: { kind: 'path', arg: 'DIR', description: 'prepared dataset (growlm data prepare)', required: true },
    steps: { kind: 'int', description: 'optimizer steps' },
    tokens: { kind: 'int', description: 'train on about N tokens instead of --steps' },
    batch: { kind: 'int', description: 'sequences per micro-batch', default: DEFAULT_TRAIN.batch },
    seq: { kind: 'int', description: 'sequence length', defaultText: 'max_position_embeddings' },
    accumulate: { kind: 'int', description: 'micro-batches per optimizer step', default: DEFAULT_TRAIN.accumulate },
    lr: { kind: 'number', min: 0, exclusiveMin: true, description: 'peak learning rate', defaultText: String(DEFAULT_TRAIN.lr) },
    'lr-from': { kind: 'path', arg: 'FILE', description: 'take the peak learning rate from a growlm tune result (tune-result.json)' },
    schedule: { kind: 'enum', choices: ['cosine', 'wsd', 'constant'], description: 'learning-rate schedule', default: DEFAULT_TRAIN.schedule },
    warmup: { kind: 'int', min: 0, description: 'linear warm-up steps', defaultText: '2% of the steps' },
    'min-lr-ratio': { kind: 'number', min: 0, max: 1, description: 'final LR as a fraction of the peak', default: DEFAULT_TRAIN.minLrRatio },
    'weight-decay': { kind: 'number', min: 0, description: 'AdamW decoupled weight decay (matrices)', default: DEFAULT_ADAMW.weightDecay },
    clip: { kind: 'number', min: 0, description: 'global gradient-norm clipping (0: off)', default: DEFAULT_ADAMW.clipNorm },
    'eval-every': { kind: 'int', min: 0, description: 'validate every N steps', defaultText: '10 times per run' },
    'eval-batches': { kind: 'int', description: 'validation batches per evaluation', default: DEFAULT_TRAIN.evalBatches },
    'checkpoint-every': { kind: 'int', min: 0, description: 'checkpoint every N steps (and at the end)', default: DEFAULT_TRAIN.checkpointEvery },
    keep: { kind: 'int', arg: 'K', description: 'checkpoints to keep', default: DEFAULT_TRAIN.keep },
    'stop-at': { kind: 'int', description: 'stop after step N (checkpointed; --resume continues the same schedule)' },
    resume: { kind: 'boolean', description: 'continue from the last checkpoint in DIR/checkpoints' },
    restart: { kind: 'boolean', description: 'start over even though DIR has checkpoints (the earlier run is moved to DIR/checkpoints.old-<time>/)' },
    seed: { kind: 'int', min: 0, description: 'data sampling seed', default: DEFAULT_TRAIN.seed },
    threads: { kind: 'int', description: 'intra-op threads', defaultText: 'all cores' },
    device: DEVICE_OPTION,
    optimizer: { kind: 'enum', choices: ['js', 'graph'], default: DEFAULT_TRAIN.update, description: 'where AdamW runs: js (host loop, fastest on the CPU) or graph (in onnxruntime next to the weights: on a GPU they stay on the device)' },
    precision: { kind: 'enum', choices: ['float32', 'float16', 'bfloat16'], default: DEFAULT_TRAIN.precision, description: 'compute type of the training graph (float32 master weights and loss; float16 adds dynamic loss scaling)' },
    'max-nonfinite': { kind: 'int', description: 'stop after N consecutive non-finite steps', default: DEFAULT_TRAIN.maxNonFinite },
    json: { kind: 'boolean', description: 'print a JSON summary; no progress bar' },
  },
  examples: [
    'growlm train --model m --data data --steps 2000 --batch 16 --seq 128 --lr 3e-3',
    'growlm train --model m --data data --steps 2000 --resume',
    'growlm train --model m --data data --tokens 1000000 --lr-from runs/tune/tune-result.json',
  ],
  async run(args) {
    const modelDir = args.need('model'), dataDir = args.need('data');
    const json = args.flag('json');
    if (args.has('steps') === args.has('tokens')) throw new UsageError('give exactly one of --steps N or --tokens N');
    if (args.has('lr') && args.has('lr-from')) throw new UsageError('give --lr or --lr-from, not both');
    const lr = args.has('lr-from') ? readTunedLr(args.need('lr-from')) : args.optNum('lr') ?? DEFAULT_TRAIN.lr;
    const batch = args.int('batch'), accumulate = args.int('accumulate');
    const seq = args.optInt('seq');
    // --tokens needs the sequence length: read it from the model when not given
    const steps = args.optInt('steps') ?? Math.max(1, Math.ceil(args.int('tokens') / (batch * (seq ?? loadModelDir(modelDir).config.maxSeqLen) * accumulate)));
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
      steps, batch, seq, accumulate, lr, schedule: args.need('schedule') as ScheduleKind,
      warmup: args.optInt('warmup'),
      minLrRatio: args.num('min-lr-ratio'),
      optimizer: { weightDecay: args.num('weight-decay'), clipNorm: args.num('clip') },
      evalEvery: args.optInt('eval-every'),
      evalBatches: args.int('eval-batches'),
      checkpointEvery: args.int('checkpoint-every'),
      keep: args.int('keep'),
      seed: args.int('seed'),
      session: { threads: args.optInt('threads'), provider: await device(args) },
      update: args.need('optimizer') as 'js' | 'graph', precision: args.need('precision') as Precision,
      maxNonFinite: args.int('max-nonfinite'),
      stopAt: args.optInt('stop-at'),
      resume: args.flag('resume'), restart: args.flag('restart'), signal: stop.signal,
    }, log, (start) => {
      resumedFrom = start.resumedFrom;
      progress = new Progress(steps, !json);
      for (const w of start.warnings) note(`warning: ${w}`);
      if (start.archived) note(`moved the earlier run's checkpoints and metrics to ${start.archived}`);
      if (start.resumedFrom && !json) note(`resuming from step ${start.resumedFrom}`);
    }).finally(() => process.off('SIGINT', onSigint));
    if (result.interrupted) {
      progress.end();
      const again = ['train', ...argsAfter(process.argv, ['train']).filter((a) => a !== '--restart' && a !== '--resume'), '--resume'];
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
