import type { Command } from '../command.js';
import { DEFAULT_EVALUATE, evaluateModelDir } from '../../train/evaluate.js';
import { UsageError } from '../errors.js';
import { DEVICE_OPTION, device } from '../device.js';
import { printJson } from '../output.js';

export const evalCommand: Command = {
  name: 'eval',
  summary: 'Validation loss, perplexity and bits per byte of a model on a dataset (or loss on a token file).',
  details: 'Windows of seq+1 tokens, non-overlapping; the loss is the token-weighted mean cross-entropy (nats).',
  options: {
    model: { kind: 'path', arg: 'DIR', description: 'model directory', required: true },
    data: { kind: 'path', arg: 'DIR', description: 'prepared dataset: evaluates its validation split' },
    tokens: { kind: 'path', arg: 'FILE', description: 'or a token file (.tok, see README)' },
    batch: { kind: 'int', description: 'windows per batch', default: DEFAULT_EVALUATE.batch },
    seq: { kind: 'int', description: 'sequence length', defaultText: 'the model\'s max_position_embeddings' },
    'max-batches': { kind: 'int', description: 'evaluate at most N batches' },
    threads: { kind: 'int', description: 'intra-op threads' },
    device: DEVICE_OPTION,
    logits: { kind: 'boolean', description: 'also report logits statistics of the first batch (for checks)' },
    json: { kind: 'boolean', description: 'print JSON (keys loss, perplexity, bpb, tokens)' },
  },
  examples: [
    'growlm eval --model m --data data',
    'growlm eval --model m --tokens text.tok --seq 64 --json',
  ],
  async run(args) {
    if (args.has('data') === args.has('tokens')) throw new UsageError('give exactly one of --data DIR or --tokens FILE');
    const source = args.has('data') ? { data: args.need('data') } : { tokens: args.need('tokens') };
    const result = await evaluateModelDir(args.need('model'), {
      ...source, batch: args.int('batch'), seq: args.optInt('seq'), maxBatches: args.optInt('max-batches'),
      session: { threads: args.optInt('threads'), provider: await device(args) }, logits: args.flag('logits'),
    });
    if (args.flag('json')) printJson(result);
    else console.log(`loss ${result.loss.toFixed(4)}  perplexity ${result.perplexity.toFixed(2)}${result.bpb !== null ? `  ${result.bpb.toFixed(3)} bits/byte` : ''}  (${result.tokens} tokens, ${result.tokens_per_s.toFixed(0)} tokens/s)`);
    return 0;
  },
};
