import type { Command } from '../command.js';
import { loadModelDir } from '../../model/model-dir.js';
import { readTokenFile } from '../../data/token-file.js';
import { openDataset } from '../../data/dataset.js';
import { checkDataFitsModel } from '../../train/data-link.js';
import { UsageError } from '../../util/errors.js';
import { windows } from '../../data/batch.js';
import { DecoderRunner, evaluateLoss } from '../../runtime/forward.js';
import { GrowlmError } from '../../util/errors.js';
import { printJson } from '../output.js';

export const evalCommand: Command = {
  name: 'eval',
  summary: 'Validation loss, perplexity and bits per byte of a model on a dataset (or loss on a token file).',
  details: 'Windows of seq+1 tokens, non-overlapping; the loss is the token-weighted mean cross-entropy (nats).',
  options: {
    model: { type: 'string', arg: 'DIR', description: 'model directory', required: true },
    data: { type: 'string', arg: 'DIR', description: 'prepared dataset: evaluates its validation split' },
    tokens: { type: 'string', arg: 'FILE', description: 'or a token file (.tok, see README)' },
    batch: { type: 'string', arg: 'N', description: 'windows per batch', default: '8' },
    seq: { type: 'string', arg: 'N', description: 'sequence length (default: the model\'s max_position_embeddings)' },
    'max-batches': { type: 'string', arg: 'N', description: 'evaluate at most N batches' },
    threads: { type: 'string', arg: 'N', description: 'intra-op threads' },
    logits: { type: 'boolean', description: 'also report logits statistics of the first batch (for checks)' },
    json: { type: 'boolean', description: 'print JSON (keys loss, perplexity, bpb, tokens)' },
  },
  async run(args) {
    const { config, weights } = loadModelDir(args.need('model'));
    if (args.has('data') === args.has('tokens')) throw new UsageError('give exactly one of --data DIR or --tokens FILE');
    let tokens: Uint16Array | Uint32Array;
    let bytesPerToken: number | undefined;
    if (args.has('data')) {
      const data = openDataset(args.need('data'));
      data.close();
      checkDataFitsModel(config, data.meta);
      tokens = data.val;
      bytesPerToken = data.meta.val.bytes / data.meta.val.tokens;
    } else {
      tokens = readTokenFile(args.need('tokens')).tokens;
    }
    for (let i = 0; i < tokens.length; i++) {
      if (tokens[i]! >= config.vocabSize) throw new GrowlmError(`token id ${tokens[i]} at position ${i} is outside the model's vocabulary (size ${config.vocabSize})`);
    }
    const seq = args.int('seq', Math.min(config.maxSeqLen, tokens.length - 1));
    if (seq > config.maxSeqLen) throw new GrowlmError(`--seq ${seq} exceeds the model's max_position_embeddings ${config.maxSeqLen}`);
    const batch = args.int('batch', 8);
    if (tokens.length < seq + 1) throw new GrowlmError(`token file has ${tokens.length} tokens, fewer than one window of ${seq + 1}`);
    const threads = args.has('threads') ? args.int('threads') : undefined;
    const maxBatches = args.has('max-batches') ? args.int('max-batches') : Infinity;
    const runner = await DecoderRunner.create(config, weights, ['loss'], { threads });
    const t0 = performance.now();
    const r = await evaluateLoss(runner, tokens, batch, seq, maxBatches);
    const seconds = (performance.now() - t0) / 1000;
    const result: Record<string, unknown> = {
      loss: r.loss, perplexity: Math.exp(r.loss), bpb: bytesPerToken ? r.loss / Math.LN2 / bytesPerToken : null,
      tokens: r.tokens, tokens_per_s: r.tokens / seconds,
    };
    if (args.flag('logits')) {
      const first = windows(tokens, batch, seq).next().value!;
      const lr = await DecoderRunner.create(config, weights, ['logits'], { threads });
      const logits = (await lr.run(first)).logits!;
      let absMax = 0, sum = 0;
      for (const v of logits) { absMax = Math.max(absMax, Math.abs(v)); sum += v; }
      result.logits = { shape: [first.batch, seq, config.vocabSize], abs_max: absMax, mean: sum / logits.length, first: Array.from(logits.slice(0, 8)) };
    }
    if (args.flag('json')) printJson(result);
    else console.log(`loss ${r.loss.toFixed(4)}  perplexity ${Math.exp(r.loss).toFixed(2)}${bytesPerToken ? `  ${(result.bpb as number).toFixed(3)} bits/byte` : ''}  (${r.tokens} tokens, ${(r.tokens / seconds).toFixed(0)} tokens/s)`);
    return 0;
  },
};
