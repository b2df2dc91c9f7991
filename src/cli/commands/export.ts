import type { Command } from '../command.js';
import { DEFAULT_EXPORT, type ExportOutput, exportModel } from '../../export/export-model.js';
import { DEFAULT_GGUF_EXPORT, GGUF_DTYPES, type GgufDtype, exportGguf } from '../../export/gguf.js';
import { UsageError } from '../errors.js';
import { printJson } from '../output.js';

export const exportCommand: Command = {
  name: 'export',
  summary: 'Write a model as a self-contained ONNX file (standard opset-17 ops; external data above 1.5 GB) or a llama.cpp GGUF file.',
  options: {
    model: { kind: 'path', arg: 'DIR', description: 'model directory', required: true },
    out: { kind: 'path', arg: 'FILE', description: 'the .onnx or .gguf file to write', required: true },
    format: { kind: 'enum', choices: ['onnx', 'gguf'], description: 'onnx, or gguf (llama.cpp: μP folded, masks baked, tokenizer included)', default: 'onnx' },
    dtype: { kind: 'enum', choices: GGUF_DTYPES, description: 'gguf: weight type of the matrices', default: DEFAULT_GGUF_EXPORT.dtype },
    tokenizer: { kind: 'string', arg: 'SPEC', description: 'gguf: byte, gpt2 or a tokenizer.json, for a model that records none' },
    outputs: { kind: 'string', arg: 'LIST', description: 'graph outputs: logits, loss or logits,loss', default: DEFAULT_EXPORT.outputs.join(',') },
    'external-data': { kind: 'boolean', description: 'always store weights in FILE.data (ONNX external data)' },
    force: { kind: 'boolean', description: 'overwrite an existing FILE' },
    json: { kind: 'boolean', description: 'print JSON' },
  },
  examples: [
    'growlm export --model m --out m.onnx',
    'growlm export --model m --out m.onnx --outputs logits,loss --external-data --force',
    'growlm export --model m --format gguf --out m.gguf --dtype f16',
  ],
  async run(args) {
    if (args.need('format') === 'gguf') {
      if (args.flag('external-data')) throw new UsageError('--external-data applies to --format onnx only');
      const r = await exportGguf(args.need('model'), args.need('out'), { dtype: args.need('dtype') as GgufDtype, force: args.flag('force'), tokenizer: args.str('tokenizer') });
      if (args.flag('json')) printJson(r);
      else console.log(`wrote ${r.out} (GGUF ${r.dtype}, ${r.tensors} tensors, ${(r.bytes / 2 ** 20).toFixed(1)} MiB)`);
      return 0;
    }
    if (args.str('tokenizer') !== undefined) throw new UsageError('--tokenizer applies to --format gguf only');
    const outputs = args.need('outputs').split(',');
    if (!outputs.every((o) => o === 'logits' || o === 'loss')) throw new UsageError(`--outputs must list logits and/or loss, got "${args.str('outputs')}"`);
    const r = exportModel(args.need('model'), args.need('out'), { outputs: outputs as ExportOutput[], externalData: args.flag('external-data'), force: args.flag('force') });
    if (args.flag('json')) printJson(r);
    else console.log(`wrote ${r.out}${r.external_data ? ` + ${r.external_data}` : ''}`);
    return 0;
  },
};
