import type { Command } from '../command.js';
import { DEFAULT_EXPORT, type ExportOutput, exportModel } from '../../export/export-model.js';
import { UsageError } from '../errors.js';
import { printJson } from '../output.js';

export const exportCommand: Command = {
  name: 'export',
  summary: 'Write a self-contained ONNX file of a model (standard opset-17 ops; weights as initializers; external data above 1.5 GB).',
  options: {
    model: { kind: 'path', arg: 'DIR', description: 'model directory', required: true },
    out: { kind: 'path', arg: 'FILE', description: 'the .onnx file to write', required: true },
    outputs: { kind: 'string', arg: 'LIST', description: 'graph outputs: logits, loss or logits,loss', default: DEFAULT_EXPORT.outputs.join(',') },
    'external-data': { kind: 'boolean', description: 'always store weights in FILE.data (ONNX external data)' },
    force: { kind: 'boolean', description: 'overwrite an existing FILE' },
    json: { kind: 'boolean', description: 'print JSON' },
  },
  examples: [
    'growlm export --model m --out m.onnx',
    'growlm export --model m --out m.onnx --outputs logits,loss --external-data --force',
  ],
  async run(args) {
    const outputs = args.need('outputs').split(',');
    if (!outputs.every((o) => o === 'logits' || o === 'loss')) throw new UsageError(`--outputs must list logits and/or loss, got "${args.str('outputs')}"`);
    const r = exportModel(args.need('model'), args.need('out'), { outputs: outputs as ExportOutput[], externalData: args.flag('external-data'), force: args.flag('force') });
    if (args.flag('json')) printJson(r);
    else console.log(`wrote ${r.out}${r.external_data ? ` + ${r.external_data}` : ''}`);
    return 0;
  },
};
