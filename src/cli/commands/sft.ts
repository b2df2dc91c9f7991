import type { Command } from '../command.js';
import { BUILTIN_TEMPLATES } from '../../data/chat-template.js';
import { formatSelectSummary } from '../../data/sft-select.js';
import { DEFAULT_ADAMW } from '../../train/adamw.js';
import type { MetricsEntry } from '../../train/metrics.js';
import type { ScheduleKind } from '../../train/schedule.js';
import type { SftDataSummary } from '../../sft/prepare.js';
import { DEFAULT_SFT, sftModelDir } from '../../sft/sft-model-dir.js';
import { UsageError } from '../errors.js';
import { DEVICE_OPTION, device } from '../device.js';
import { note, printJson } from '../output.js';
import { Progress, formatDuration } from '../progress.js';

const counts = (r: Record<string, number>) => Object.entries(r).map(([k, n]) => `${n} ${k}`).join(', ');

/** The data summary as a few lines for stderr. */
export function describeSftData(s: SftDataSummary): string[] {
  const lines = [`${s.file}: ${s.lines} lines, ${s.samples} samples${Object.keys(s.skipped).length ? ` (skipped: ${counts(s.skipped)})` : ''}`];
  for (const e of s.skipped_examples) lines.push(`  skipped ${e}`);
  lines.push(`held out ${s.held_out}; ${formatSelectSummary(s.selection)}`);
  if (s.too_long) lines.push(`longer than the context: ${s.too_long} (${s.truncated} truncated, ${s.dropped} dropped)`);
  lines.push(`training on ${s.train_samples} samples: ${s.train_tokens} tokens, ${s.answer_tokens} answer tokens; template ${s.template} (end of turn ${JSON.stringify(s.end_of_turn)})`);
  return lines;
}

export const sftCommand: Command = {
  name: 'sft',
  summary: 'Supervised fine-tuning on chat data (JSONL): loss on the answers only, the model\'s chat template.',
  details: [
    'Each line of --data is {"messages":[{"role","content"},…]} (roles system, user, assistant; multi-turn), {"prompt","completion"}',
    'or {"instruction","input","output"}. Conversations are rendered with the chat template (the base model\'s',
    'tokenizer_config.json chat_template, else ChatML; --template chatml|llama3|mistral or a Jinja / tokenizer_config.json file);',
    'only assistant turns, each with its end-of-turn marker, carry loss. The base model is copied to --out with the template',
    '(tokenizer_config.json) and trained there as `train` trains: metrics.jsonl, checkpoints, --resume, Ctrl-C. Samples are',
    'padded one per row to the longest of its batch (--packing pack: several to a row without attention across them). A bad line stops with its file:line',
    '(--skip-bad-lines: skipped and counted); a sample longer than the context stops the run unless --drop-long or --truncate.',
    'A held-out part (--val-fraction, or --val-data) gives the validation answer loss.',
  ].join('\n'),
  options: {
    model: { kind: 'path', arg: 'DIR', description: 'base model directory (not modified)', required: true },
    data: { kind: 'path', arg: 'FILE', description: 'JSONL samples', required: true },
    out: { kind: 'path', arg: 'DIR', description: 'the fine-tuned model directory', required: true },
    template: { kind: 'string', arg: 'NAME|FILE', description: `chat template: ${Object.keys(BUILTIN_TEMPLATES).join(', ')} or a file`, defaultText: 'the model\'s, else chatml' },
    tokenizer: { kind: 'string', arg: 'SPEC', description: 'byte, gpt2 or a tokenizer.json path, for a base model with no recorded tokenizer' },
    'max-samples': { kind: 'int', description: 'train on at most N samples' },
    select: { kind: 'enum', choices: ['random', 'diverse'], description: 'how --max-samples chooses', default: DEFAULT_SFT.select },
    'val-data': { kind: 'path', arg: 'FILE', description: 'held-out JSONL samples for validation' },
    'val-fraction': { kind: 'number', min: 0, max: 0.5, description: 'hold out this fraction of --data (at most 200 samples) when there is no --val-data', default: DEFAULT_SFT.valFraction },
    'skip-bad-lines': { kind: 'boolean', description: 'skip and count unusable lines instead of stopping' },
    'drop-long': { kind: 'boolean', description: 'leave out samples longer than the context (counted)' },
    truncate: { kind: 'boolean', description: 'cut samples longer than the context (counted)' },
    epochs: { kind: 'int', description: 'passes over the samples', defaultText: String(DEFAULT_SFT.epochs) },
    steps: { kind: 'int', description: 'optimizer steps instead of --epochs' },
    batch: { kind: 'int', description: 'rows per batch', default: DEFAULT_SFT.batch },
    seq: { kind: 'int', description: 'row length (context)', defaultText: 'max_position_embeddings' },
    packing: { kind: 'enum', choices: ['pack', 'pad'], description: 'one sample per row, padded (pad), or several per row (pack)', default: DEFAULT_SFT.packing },
    lr: { kind: 'number', min: 0, exclusiveMin: true, description: 'peak learning rate', default: DEFAULT_SFT.lr },
    schedule: { kind: 'enum', choices: ['cosine', 'wsd', 'constant'], description: 'learning-rate schedule', default: DEFAULT_SFT.schedule },
    warmup: { kind: 'int', min: 0, description: 'linear warm-up steps', defaultText: '3% of the steps' },
    'min-lr-ratio': { kind: 'number', min: 0, max: 1, description: 'final LR as a fraction of the peak', default: DEFAULT_SFT.minLrRatio },
    'weight-decay': { kind: 'number', min: 0, description: 'AdamW decoupled weight decay (matrices)', default: DEFAULT_ADAMW.weightDecay },
    clip: { kind: 'number', min: 0, description: 'global gradient-norm clipping (0: off)', default: DEFAULT_ADAMW.clipNorm },
    'eval-every': { kind: 'int', min: 0, description: 'validate every N steps', defaultText: '10 times per run' },
    'checkpoint-every': { kind: 'int', min: 0, description: 'checkpoint every N steps (and at the end)', default: DEFAULT_SFT.checkpointEvery },
    keep: { kind: 'int', arg: 'K', description: 'checkpoints to keep', default: DEFAULT_SFT.keep },
    'stop-at': { kind: 'int', description: 'stop after step N (checkpointed; --resume continues)' },
    resume: { kind: 'boolean', description: 'continue the run in --out from its last checkpoint' },
    restart: { kind: 'boolean', description: 'fine-tune again from the base although --out holds a model (its checkpoints are archived)' },
    seed: { kind: 'int', min: 0, description: 'seed of the held-out split, the selection and the batch order', default: DEFAULT_SFT.seed },
    threads: { kind: 'int', description: 'intra-op threads', defaultText: 'all cores' },
    device: DEVICE_OPTION,
    'max-nonfinite': { kind: 'int', description: 'stop after N consecutive non-finite steps', default: DEFAULT_SFT.maxNonFinite },
    json: { kind: 'boolean', description: 'print a JSON summary; no progress bar' },
  },
  examples: [
    'growlm sft --model m --data chat.jsonl --out m-chat --epochs 3',
    'growlm sft --model m --data chat.jsonl --out m-chat --template llama3 --max-samples 1000 --drop-long --skip-bad-lines',
    'growlm sft --model m --data chat.jsonl --out m-chat --resume',
  ],
  async run(args) {
    const json = args.flag('json');
    if (args.flag('drop-long') && args.flag('truncate')) throw new UsageError('give --drop-long or --truncate, not both');
    if (args.flag('resume') && args.flag('restart')) throw new UsageError('give --resume or --restart, not both');
    if (args.has('steps') && args.has('epochs')) throw new UsageError('give --epochs or --steps, not both');
    let progress: Progress | undefined;
    let resumedFrom = 0, steps = 0;
    const log = (e: MetricsEntry) => {
      const eta = ((steps - e.step) * e.elapsed_s) / Math.max(1, e.step - resumedFrom);
      progress?.update(e.step, `loss ${e.loss.toFixed(4)}  lr ${e.lr.toExponential(2)}  ${e.tokens_per_s.toFixed(0)} tok/s  ETA ${formatDuration(eta)}${e.skipped ? '  (skipped: non-finite)' : ''}`);
      if (e.val_loss !== undefined) progress?.log(`step ${e.step}: held-out answer loss ${e.val_loss.toFixed(4)}`);
    };
    const stop = new AbortController();
    const onSigint = (): void => {
      if (stop.signal.aborted) process.exit(130);
      stop.abort();
    };
    process.on('SIGINT', onSigint);
    const out = args.need('out');
    const result = await sftModelDir({
      model: args.need('model'), data: args.need('data'), out,
      template: args.str('template'), tokenizer: args.str('tokenizer'),
      maxSamples: args.optInt('max-samples'), select: args.need('select') as 'random' | 'diverse',
      valData: args.str('val-data'), valFraction: args.num('val-fraction'),
      skipBadLines: args.flag('skip-bad-lines'), long: args.flag('drop-long') ? 'drop' : args.flag('truncate') ? 'truncate' : 'error',
      epochs: args.optInt('epochs') ?? DEFAULT_SFT.epochs, steps: args.optInt('steps'), batch: args.int('batch'), seq: args.optInt('seq'),
      packing: args.need('packing') as 'pack' | 'pad',
      lr: args.num('lr'), schedule: args.need('schedule') as ScheduleKind, warmup: args.optInt('warmup'), minLrRatio: args.num('min-lr-ratio'),
      optimizer: { weightDecay: args.num('weight-decay'), clipNorm: args.num('clip') },
      evalEvery: args.optInt('eval-every'), checkpointEvery: args.int('checkpoint-every'), keep: args.int('keep'),
      stopAt: args.optInt('stop-at'), resume: args.flag('resume'), restart: args.flag('restart'), seed: args.int('seed'),
      session: { threads: args.optInt('threads'), provider: await device(args) }, maxNonFinite: args.int('max-nonfinite'),
      signal: stop.signal,
    }, log, (start) => {
      resumedFrom = start.resumedFrom;
      steps = start.steps;
      progress = new Progress(steps, !json);
      if (!json) for (const l of describeSftData(start.summary)) note(l);
      for (const w of start.warnings) note(`warning: ${w}`);
      if (!json) note(`${steps} steps (${start.batchesPerEpoch} batches per epoch)${start.resumedFrom ? `, resuming from step ${start.resumedFrom}` : ''}`);
    }).finally(() => process.off('SIGINT', onSigint));
    if (result.interrupted) {
      progress?.end();
      note(`interrupted at step ${result.finalStep}; continue with the same command and --resume`);
      if (json) printJson({ interrupted: true, steps: result.finalStep, out });
      return 130;
    }
    const summary = { steps: result.finalStep, loss: result.lastLoss, val_answer_loss: result.valLoss, tokens_per_s: result.tokensPerS, skipped_steps: result.skippedSteps, out, data: result.summary };
    if (json) printJson(summary);
    else console.log(`fine-tuned to step ${result.finalStep}: loss ${result.lastLoss.toFixed(4)}${result.valLoss !== undefined ? `, held-out answer loss ${result.valLoss.toFixed(4)}` : ''}; model in ${out}`);
    return 0;
  },
};
