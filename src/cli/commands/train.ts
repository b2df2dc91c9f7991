import { join } from 'node:path';
import type { Command } from '../command.js';
import { BatchSampler, type BatchSamplerState, openDataset } from '../../data/dataset.js';
import { CONFIG_FILE, loadModelDir } from '../../model/model-dir.js';
import { configToJson } from '../../model/config.js';
import { listCheckpoints } from '../../train/checkpoint.js';
import { adoptTokenizer, checkDataFitsModel } from '../../train/data-link.js';
import { type ScheduleKind, DEFAULT_SCHEDULE } from '../../train/schedule.js';
import { type StepLog, latestCheckpoint, train } from '../../train/trainer.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { GrowlmError, UsageError } from '../../util/errors.js';
import { note, printJson } from '../output.js';
import { Progress, formatDuration } from '../progress.js';

export const trainCommand: Command = {
  name: 'train',
  summary: 'Train a model directory on a prepared dataset (AdamW, LR schedule, validation, checkpoints, resume).',
  details: 'Metrics go to DIR/metrics.jsonl, checkpoints to DIR/checkpoints/step-N/ (the last --keep), the final weights to\nDIR/model.safetensors. --resume continues from the last checkpoint exactly (same batches, same loss curve).',
  options: {
    model: { type: 'string', arg: 'DIR', description: 'model directory (growlm init)', required: true },
    data: { type: 'string', arg: 'DIR', description: 'prepared dataset (growlm data prepare)', required: true },
    steps: { type: 'string', arg: 'N', description: 'optimizer steps' },
    tokens: { type: 'string', arg: 'N', description: 'train on about N tokens instead of --steps' },
    batch: { type: 'string', arg: 'N', description: 'sequences per micro-batch', default: '8' },
    seq: { type: 'string', arg: 'N', description: 'sequence length (default: max_position_embeddings)' },
    accumulate: { type: 'string', arg: 'N', description: 'micro-batches per optimizer step', default: '1' },
    lr: { type: 'string', arg: 'X', description: 'peak learning rate', default: '1e-3' },
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
    restart: { type: 'boolean', description: 'start over even though DIR has checkpoints (they are replaced as new ones are written)' },
    seed: { type: 'string', arg: 'N', description: 'data sampling seed', default: '0' },
    threads: { type: 'string', arg: 'N', description: 'intra-op threads (default: all cores)' },
    'max-nonfinite': { type: 'string', arg: 'N', description: 'stop after N consecutive non-finite steps', default: '10' },
    json: { type: 'boolean', description: 'print a JSON summary; no progress bar' },
  },
  async run(args) {
    const modelDir = args.need('model'), dataDir = args.need('data');
    const json = args.flag('json');
    let { config, weights } = loadModelDir(modelDir);
    const data = openDataset(dataDir);
    try {
      checkDataFitsModel(config, data.meta);
      const seq = args.int('seq', config.maxSeqLen);
      if (seq > config.maxSeqLen) throw new GrowlmError(`--seq ${seq} exceeds the model's max_position_embeddings ${config.maxSeqLen}`);
      const batch = args.int('batch', 8), accumulate = args.int('accumulate', 1);
      if (args.has('steps') === args.has('tokens')) throw new UsageError('give exactly one of --steps N or --tokens N');
      const steps = args.has('steps') ? args.int('steps') : Math.max(1, Math.ceil(args.int('tokens') / (batch * seq * accumulate)));
      const kind = args.need('schedule') as ScheduleKind;
      if (!['cosine', 'wsd', 'constant'].includes(kind)) throw new UsageError(`--schedule must be cosine, wsd or constant, got "${kind}"`);
      const lr = args.num('lr', 1e-3);
      if (!(lr > 0)) throw new UsageError('--lr must be positive');
      if (data.val.length < seq + 1) throw new GrowlmError(`the validation split has ${data.val.length} tokens, fewer than one window of ${seq + 1}`);

      const hasCheckpoints = listCheckpoints(modelDir).length > 0;
      if (hasCheckpoints && !args.flag('resume') && !args.flag('restart')) {
        throw new GrowlmError(`${join(modelDir, 'checkpoints')} holds checkpoints of an earlier run: pass --resume to continue it or --restart to start over`);
      }
      const resume = args.flag('resume') ? latestCheckpoint(modelDir, config) : undefined;
      if (args.flag('resume') && !resume) throw new GrowlmError(`--resume: no checkpoint in ${join(modelDir, 'checkpoints')}`);
      if (resume && resume.state.step >= steps) throw new GrowlmError(`--resume: the last checkpoint is at step ${resume.state.step}, not before the requested ${steps} steps`);

      if (!config.tokenizer) {
        config = adoptTokenizer(config, data.meta, dataDir, modelDir);
        writeFileAtomic(join(modelDir, CONFIG_FILE), [JSON.stringify(configToJson(config), null, 2) + '\n']);
      }
      const sampler = new BatchSampler(data.train, { batch, seq, seed: args.int('seed', 0, 0) });
      const progress = new Progress(steps, !json);
      if (resume && !json) note(`resuming from ${resume.dir} (step ${resume.state.step})`);
      const log = (e: StepLog) => {
        const eta = ((steps - e.step) * e.elapsed_s) / Math.max(1, e.step - (resume?.state.step ?? 0));
        progress.update(e.step, `loss ${e.loss.toFixed(4)}  lr ${e.lr.toExponential(2)}  ${e.tokens_per_s.toFixed(0)} tok/s  ETA ${formatDuration(eta)}${e.skipped ? '  (skipped: non-finite)' : ''}`);
        if (e.val_loss !== undefined) progress.log(`step ${e.step}: val loss ${e.val_loss.toFixed(4)}, ${e.val_bpb!.toFixed(3)} bits/byte`);
      };
      const result = await train(modelDir, config, weights, {
        sampler: { next: () => sampler.next(), state: () => sampler.state(), restore: (s) => sampler.restore(s as BatchSamplerState) },
        val: data.val,
        valBytesPerToken: data.meta.val.bytes / data.meta.val.tokens,
      }, {
        steps, accumulate,
        schedule: { ...DEFAULT_SCHEDULE, kind, peakLr: lr, total: steps, warmup: args.int('warmup', Math.round(steps * 0.02), 0), minRatio: args.num('min-lr-ratio', 0.1) },
        optimizer: { weightDecay: args.num('weight-decay', 0.1), clipNorm: args.num('clip', 1) },
        evalEvery: args.int('eval-every', Math.max(1, Math.round(steps / 10)), 0),
        evalBatches: args.int('eval-batches', 8),
        evalBatchSize: batch,
        evalSeq: seq,
        checkpointEvery: args.int('checkpoint-every', 100, 0),
        keepCheckpoints: args.int('keep', 3),
        session: { threads: args.has('threads') ? args.int('threads') : undefined },
        maxNonFinite: args.int('max-nonfinite', 10),
        stopAt: args.has('stop-at') ? args.int('stop-at') : undefined,
      }, log, resume);
      if (JSON.stringify(result.config.growth) !== JSON.stringify(config.growth)) {
        writeFileAtomic(join(modelDir, CONFIG_FILE), [JSON.stringify(configToJson(result.config), null, 2) + '\n']);
      }
      const summary = {
        steps: result.finalStep, loss: result.lastLoss, val_loss: result.valLoss, val_bpb: result.valBpb,
        tokens_per_s: result.tokensPerS, skipped_steps: result.skippedSteps, model: modelDir,
        masks: result.config.growth.masks ?? null,
      };
      if (json) printJson(summary);
      else console.log(`trained to step ${result.finalStep} of ${steps}: loss ${result.lastLoss.toFixed(4)}, val loss ${result.valLoss?.toFixed(4)}, ${result.valBpb?.toFixed(3)} bits/byte; weights in ${join(modelDir, 'model.safetensors')}`);
      return 0;
    } finally {
      data.close();
    }
  },
};
