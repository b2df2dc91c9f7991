import type { Command } from '../command.js';
import { DEFAULT_EXPORT, type ExportOutput, exportModel } from '../../export/export-model.js';
import { GGUF_DTYPES, type GgufDtype, exportGguf } from '../../export/gguf.js';
import { type HfDType, exportHfModel } from '../../export/hf.js';
import { exportOnnxLayout } from '../../export/onnx-layout.js';
import { UsageError } from '../errors.js';
import { note, printJson } from '../output.js';

/** --dtype's short names → the stored dtypes. */
const HF_DTYPE: Record<string, HfDType> = { f32: 'float32', f16: 'float16', bf16: 'bfloat16' };

export const exportCommand: Command = {
  name: 'export',
  summary: 'Write a model as a self-contained ONNX file (standard opset-17 ops; external data above 1.5 GB) or the transformers.js ONNX folder, as a plain Hugging Face Llama folder (--format hf) or as a llama.cpp GGUF file (--format gguf).',
  details: '--format onnx with --out FILE.onnx writes one ONNX file of the full-window decoder (logits and/or loss); with --out DIR\n' +
    '(a path not ending in .onnx) the folder transformers.js and Optimum load: config.json, generation_config.json,\n' +
    'tokenizer.json, tokenizer_config.json and onnx/model.onnx, the KV-cache graph (past_key_values.* in, present.* out), μP folded.',
  options: {
    model: { kind: 'path', arg: 'DIR', description: 'model directory', required: true },
    format: { kind: 'enum', choices: ['onnx', 'hf', 'gguf'], description: 'onnx: one .onnx file; hf: a LlamaForCausalLM folder transformers loads (μP folded, masks baked, tokenizer files); gguf: one llama.cpp file (the same folding, tokenizer included)', default: 'onnx' },
    out: { kind: 'path', arg: 'PATH', description: 'onnx: the .onnx file to write, or the folder of the transformers.js layout; hf: the new folder; gguf: the .gguf file', required: true },
    outputs: { kind: 'string', arg: 'LIST', description: 'onnx: graph outputs: logits, loss or logits,loss', default: DEFAULT_EXPORT.outputs.join(',') },
    'external-data': { kind: 'boolean', description: 'onnx: always store weights in FILE.data (ONNX external data)' },
    dtype: { kind: 'enum', choices: ['f32', 'f16', 'bf16'], description: `hf: the dtype of model.safetensors; gguf: of the matrices (${GGUF_DTYPES.join(' or ')})`, default: 'f32' },
    tokenizer: { kind: 'string', arg: 'SPEC', description: 'gguf: byte, gpt2 or a tokenizer.json, for a model that records none' },
    'shard-size': { kind: 'int', arg: 'MB', description: 'hf: write the weights as HF shards of at most MB megabytes' },
    'with-optimizer': { kind: 'boolean', description: 'hf: also write the AdamW moments, step, LR schedule and data position (optimizer.safetensors + optimizer.json) for another trainer' },
    force: { kind: 'boolean', description: 'onnx, gguf: overwrite an existing FILE' },
    json: { kind: 'boolean', description: 'print JSON' },
  },
  examples: [
    'growlm export --model m --format onnx --out m-onnx',
    'growlm export --model m --format hf --out m-hf --dtype bf16 --with-optimizer',
    'growlm export --model m --format gguf --out m.gguf --dtype f16',
  ],
  async run(args) {
    if (args.str('format') === 'gguf') {
      for (const f of ['external-data', 'with-optimizer', 'shard-size']) if (args.has(f)) throw new UsageError(`--${f} does not apply to --format gguf`);
      const dtype = args.need('dtype');
      if (!(GGUF_DTYPES as readonly string[]).includes(dtype)) throw new UsageError(`--dtype must be ${GGUF_DTYPES.join(' or ')} for --format gguf, got "${dtype}"`);
      const r = await exportGguf(args.need('model'), args.need('out'), { dtype: dtype as GgufDtype, force: args.flag('force'), tokenizer: args.str('tokenizer') });
      if (args.flag('json')) printJson(r);
      else console.log(`wrote ${r.out} (GGUF ${r.dtype}, ${r.tensors} tensors, ${(r.bytes / 2 ** 20).toFixed(1)} MiB)`);
      return 0;
    }
    if (args.has('tokenizer')) throw new UsageError('--tokenizer applies to --format gguf only');
    if (args.str('format') === 'hf') {
      for (const f of ['external-data', 'force']) if (args.flag(f)) throw new UsageError(`--${f} applies to --format onnx only`);
      const r = exportHfModel(args.need('model'), args.need('out'), {
        dtype: HF_DTYPE[args.need('dtype')]!, withOptimizer: args.flag('with-optimizer'),
        shardBytes: args.has('shard-size') ? args.int('shard-size') * 1e6 : Infinity,
      });
      if (args.flag('json')) printJson(r);
      else console.log(`wrote ${r.out}: ${r.files.join(', ')}`);
      return 0;
    }
    for (const f of ['with-optimizer', 'shard-size']) if (args.has(f)) throw new UsageError(`--${f} applies to --format hf only`);
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
