import type { Command } from '../command.js';
import { importHfModel } from '../../import/hf-import.js';
import { printJson } from '../output.js';

export const importCommand: Command = {
  name: 'import',
  summary: 'Turn a Hugging Face LlamaForCausalLM/MistralForCausalLM directory into a growlm model directory.',
  details: 'Reads config.json, model.safetensors or shards (model.safetensors.index.json) in float32, float16 or bfloat16,\n' +
    'and tokenizer.json; writes float32 weights, keeps tokenizer.json, tokenizer_config.json and generation_config.json,\n' +
    'and records the tokenizer so eval, train, grow and generate use it (prepare data with --tokenizer OUT/tokenizer.json).\n' +
    'Everything is checked before anything is written; OUT must not exist.',
  options: {
    from: { kind: 'path', arg: 'HF_DIR', description: 'the Hugging Face model directory', required: true },
    out: { kind: 'path', arg: 'DIR', description: 'model directory to create', required: true },
    'shard-size': { kind: 'int', arg: 'MB', description: 'write the weights as HF shards of at most MB megabytes' },
    json: { kind: 'boolean', description: 'print JSON' },
  },
  examples: [
    'growlm import --from llama-hf --out llama',
    'growlm import --from llama-hf --out llama --shard-size 2000 --json',
  ],
  async run(args) {
    const shardMb = args.optInt('shard-size');
    const r = await importHfModel({ from: args.need('from'), out: args.need('out'), ...(shardMb !== undefined ? { shardBytes: shardMb * 1e6 } : {}) });
    if (args.flag('json')) printJson(r);
    else {
      const dtypes = Object.entries(r.source_dtypes).map(([d, n]) => `${n} ${d}`).join(', ');
      console.log(`imported ${r.architecture} from ${r.from} into ${r.out}: ${r.parameters.toLocaleString('en-US')} parameters (${dtypes} tensors → float32), tokenizer vocabulary ${r.tokenizer.vocab_size}; kept ${r.files.join(', ')}`);
    }
    return 0;
  },
};
