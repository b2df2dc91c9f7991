import type { Command } from '../command.js';
import { DEFAULT_EXPORT, type ExportOutput, exportModel } from '../../export/export-model.js';
import { exportOnnxLayout } from '../../export/onnx-layout.js';
import { DEFAULT_GGUF_EXPORT, GGUF_DTYPES, type GgufDtype, exportGguf } from '../../export/gguf.js';
import { UsageError } from '../errors.js';
import { note, printJson } from '../output.js';

export const exportCommand: Command = {
  name: 'export',
  summary: 'Write a model as a self-contained ONNX file (standard opset-17 ops; external data above 1.5 GB), the transformers.js ONNX folder, or a llama.cpp GGUF file.',
  details: '--format onnx with --out FILE.onnx writes one ONNX file of the full-window decoder (logits and/or loss); with --out DIR\n' +
    '(a path not ending in .onnx) the folder transformers.js and Optimum load: config.json, generation_config.json,\n' +
    'tokenizer.json, tokenizer_config.json and onnx/model.onnx, the KV-cache graph (past_key_values.* in, present.* out), μP folded.',
  options: {
    model: { kind: 'path', arg: 'DIR', description: 'model directory', required: true },
    out: { kind: 'path', arg: 'PATH', description: 'the .onnx or .gguf file to write, or the folder of the transformers.js layout', required: true },
    format: { kind: 'enum', choices: ['onnx', 'gguf'], description: 'onnx, or gguf (llama.cpp: μP folded, masks baked, tokenizer included)', default: 'onnx' },
    dtype: { kind: 'enum', choices: GGUF_DTYPES, description: 'gguf: weight type of the matrices', default: DEFAULT_GGUF_EXPORT.dtype },
    tokenizer: { kind: 'string', arg: 'SPEC', description: 'gguf: byte, gpt2 or a tokenizer.json, for a model that records none' },
    outputs: { kind: 'string', arg: 'LIST', description: 'graph outputs: logits, loss or logits,loss', default: DEFAULT_EXPORT.outputs.join(',') },
    'external-data': { kind: 'boolean', description: 'always store weights in FILE.data (ONNX external data)' },
    force: { kind: 'boolean', description: 'overwrite an existing FILE' },
    json: { kind: 'boolean', description: 'print JSON' },
  },
  examples: [
    'growlm export --model m --out m.onnx --outputs logits,loss --external-data --force',
    'growlm export --model m --format onnx --out m-onnx',
    'growlm export --model m --format gguf --out m.gguf --dtype f16',
  ],
  async run(args) {
    if (args.need('format') === 'gguf') {
      const r = await exportGguf(args.need('model'), args.need('out'), { dtype: args.need('dtype') as GgufDtype, force: args.flag('force'), tokenizer: args.str('tokenizer') });
      if (args.flag('json')) printJson(r);
      else console.log(`wrote ${r.out} (GGUF ${r.dtype}, ${r.tensors} tensors, ${(r.bytes / 2 ** 20).toFixed(1)} MiB)`);
      return 0;
    }
    const out = args.need('out');
    if (!/\.onnx$/i.test(out)) {
      if (args.str('outputs') !== DEFAULT_EXPORT.outputs.join(',')) throw new UsageError('--outputs applies to a single .onnx file; the folder layout\'s graph outputs logits and the present cache');
      const r = await exportOnnxLayout(args.need('model'), out, { externalData: args.flag('external-data'), force: args.flag('force') });
      for (const w of r.warnings) note(`warning: ${w}`);
      if (args.flag('json')) printJson(r);
      else console.log(`wrote ${r.out}: ${r.files.join(', ')}`);
      return 0;
    }
    const outputs = args.need('outputs').split(',');
    if (!outputs.every((o) => o === 'logits' || o === 'loss')) throw new UsageError(`--outputs must list logits and/or loss, got "${args.str('outputs')}"`);
    const r = exportModel(args.need('model'), out, { outputs: outputs as ExportOutput[], externalData: args.flag('external-data'), force: args.flag('force') });
    if (args.flag('json')) printJson(r);
    else console.log(`wrote ${r.out}${r.external_data ? ` + ${r.external_data}` : ''}`);
    return 0;
  },
};
