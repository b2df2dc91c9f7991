/** Presets: HF-style config files in the package's models/ folder, referred to by file stem. */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { modelsDir } from '../util/paths.js';
import { ConfigError, type ModelConfig } from './config.js';
import { readConfigFile } from './model-dir.js';

export function presetNames(): string[] {
  return readdirSync(modelsDir())
    .filter((f) => f.endsWith('.json') && !f.includes('.plan'))
    .map((f) => f.slice(0, -5))
    .sort();
}

export function loadPreset(name: string): ModelConfig {
  const names = presetNames();
  if (!names.includes(name)) throw new ConfigError(`unknown preset "${name}" (known: ${names.join(', ')})`);
  return readConfigFile(join(modelsDir(), `${name}.json`));
}

/** A preset name or a config.json path. */
export function configFromSpec(spec: string): ModelConfig {
  return spec.endsWith('.json') || existsSync(spec) ? readConfigFile(spec) : loadPreset(spec);
}
