import { existsSync } from 'node:fs';
import { freemem, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Command } from '../command.js';
import { type ModelConfig, parameterCount } from '../../model/config.js';
import { CONFIG_FILE, WEIGHTS_FILE, readConfigFile, saveModelDir } from '../../model/model-dir.js';
import { loadPreset } from '../../model/presets.js';
import { initWeights } from '../../model/weights.js';
import { GrowlmError, UsageError } from '../../util/errors.js';
import { printJson } from '../output.js';

/** A preset name or a config.json path (for options such as --to and --target). */
export function configFromSpec(spec: string): ModelConfig {
  return spec.endsWith('.json') || existsSync(spec) ? readConfigFile(spec) : loadPreset(spec);
}

export function configFromArgs(preset: string | undefined, config: string | undefined): ModelConfig {
  if ((preset === undefined) === (config === undefined)) throw new UsageError('give exactly one of --preset NAME or --config FILE');
  return preset !== undefined ? loadPreset(preset) : readConfigFile(config!);
}

export const initCommand: Command = {
  name: 'init',
  summary: 'Write a model directory (config.json + model.safetensors) with freshly initialized weights.',
  options: {
    preset: { type: 'string', arg: 'NAME', description: 'a preset from models/ (tiny, bench-small, ...)' },
    config: { type: 'string', arg: 'FILE', description: 'a config.json (Hugging Face Llama fields + μP multipliers)' },
    out: { type: 'string', arg: 'DIR', description: 'model directory to write', required: true },
    seed: { type: 'string', arg: 'N', description: 'random seed', default: '0' },
    force: { type: 'boolean', description: 'overwrite an existing model in DIR' },
    'shard-size': { type: 'string', arg: 'MB', description: 'write the weights as HF shards of at most MB megabytes' },
    json: { type: 'boolean', description: 'print JSON' },
  },
  async run(args) {
    const config = configFromArgs(args.str('preset'), args.str('config'));
    const seed = args.int('seed', 0, 0);
    const out = args.need('out');
    if (!args.flag('force') && (existsSync(join(out, CONFIG_FILE)) || existsSync(join(out, WEIGHTS_FILE)))) {
      throw new GrowlmError(`${out} already holds a model (use --force to overwrite)`);
    }
    const params = parameterCount(config);
    const bytes = params * 4;
    // initialization holds the weights once in memory; refuse early rather than die half-way
    if (bytes > Math.min(totalmem() * 0.8, freemem() + 512 * 2 ** 20)) {
      throw new GrowlmError(`this config has ${(params / 1e9).toFixed(1)}B parameters (${(bytes / 2 ** 30).toFixed(1)} GiB in float32); this machine has ${(freemem() / 2 ** 30).toFixed(1)} GiB free`);
    }
    saveModelDir(out, { config, weights: initWeights(config, seed) }, args.has('shard-size') ? args.int('shard-size') * 1e6 : Infinity);
    if (args.flag('json')) printJson({ out, parameters: params, seed });
    else console.log(`wrote ${out} (${params.toLocaleString('en-US')} parameters, seed ${seed})`);
    return 0;
  },
};
