import type { Command } from '../command.js';
import type { ModelConfig } from '../../model/config.js';
import { readConfigFile } from '../../model/model-dir.js';
import { DEFAULT_INIT, initModelDir } from '../../model/init-model-dir.js';
import { configFromSpec, loadPreset } from '../../model/presets.js';
import { UsageError } from '../errors.js';
import { printJson } from '../output.js';

export { configFromSpec };

export function configFromArgs(preset: string | undefined, config: string | undefined): ModelConfig {
  if ((preset === undefined) === (config === undefined)) throw new UsageError('give exactly one of --preset NAME or --config FILE');
  return preset !== undefined ? loadPreset(preset) : readConfigFile(config!);
}

export const initCommand: Command = {
  name: 'init',
  summary: 'Write a model directory (config.json + model.safetensors) with freshly initialized weights.',
  options: {
    preset: { kind: 'string', arg: 'NAME', description: 'a preset from models/ (tiny, bench-small, ...)' },
    config: { kind: 'path', arg: 'FILE', description: 'a config.json (Hugging Face Llama fields + μP multipliers)' },
    out: { kind: 'path', arg: 'DIR', description: 'model directory to write', required: true },
    seed: { kind: 'int', min: 0, description: 'random seed', default: DEFAULT_INIT.seed },
    force: { kind: 'boolean', description: 'overwrite an existing model in DIR' },
    'shard-size': { kind: 'int', arg: 'MB', description: 'write the weights as HF shards of at most MB megabytes' },
    json: { kind: 'boolean', description: 'print JSON' },
  },
  examples: [
    'growlm init --preset tiny --out m',
    'growlm init --config my-config.json --out big --shard-size 1000',
  ],
  async run(args) {
    const config = configFromArgs(args.str('preset'), args.str('config'));
    const shardMb = args.optInt('shard-size');
    const r = initModelDir(args.need('out'), config, { seed: args.int('seed'), force: args.flag('force'), shardBytes: shardMb !== undefined ? shardMb * 1e6 : Infinity });
    if (args.flag('json')) printJson(r);
    else console.log(`wrote ${r.out} (${r.parameters.toLocaleString('en-US')} parameters, seed ${r.seed})`);
    return 0;
  },
};
