import type { Command } from '../command.js';
import { loadModelDir } from '../../model/model-dir.js';
import { readTokenFile } from '../../data/token-file.js';
import { DecoderRunner, evaluateLoss, windows } from '../../runtime/forward.js';
import { GrowlmError } from '../../util/errors.js';
import { printJson } from '../output.js';

export const evalCommand: Command = {
  name: 'eval',
  summary: 'Mean token cross-entropy of a model on a token file (non-overlapping windows of seq+1 tokens).',
  options: {
    model: { type: 'string', arg: 'DIR', description: 'model directory', required: true },
    tokens: { type: 'string', arg: 'FILE', description: 'token file (.tok, see README)', required: true },
    batch: { type: 'string', arg: 'N', description: 'windows per batch', default: '8' },
    seq: { type: 'string', arg: 'N', description: 'sequence length (default: the model\'s max_position_embeddings)' },
    'max-batches': { type: 'string', arg: 'N', description: 'evaluate at most N batches' },
    threads: { type: 'string', arg: 'N', description: 'intra-op threads' },
    logits: { type: 'boolean', description: 'also report logits statistics of the first batch (for checks)' },
    json: { type: 'boolean', description: 'print JSON (keys loss, perplexity, tokens)' },
  },
  async run(args) {
    const { config, weights } = loadModelDir(args.need('model'));
    const { tokens } = readTokenFile(args.need('tokens'));
    for (let i = 0; i < tokens.length; i++) {
      if (tokens[i]! >= config.vocabSize) throw new GrowlmError(`token id ${tokens[i]} at position ${i} is outside the model's vocabulary (size ${config.vocabSize})`);
    }
    const seq = args.int('seq', config.maxSeqLen);
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
      loss: r.loss, perplexity: Math.exp(r.loss), tokens: r.tokens, tokens_per_s: r.tokens / seconds,
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
    else console.log(`loss ${r.loss.toFixed(4)}  perplexity ${Math.exp(r.loss).toFixed(2)}  (${r.tokens} tokens, ${(r.tokens / seconds).toFixed(0)} tokens/s)`);
    return 0;
  },
};
