import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type Command } from '../command.js';
import { loadModelFile } from '../../onnx/serialize.js';
import { formatSummary, summarize } from '../../onnx/inspect.js';
import { CONFIG_FILE } from '../../model/model-dir.js';
import { describeModelDir, formatModelDescription } from '../../model/describe.js';
import { GrowlmError } from '../../util/errors.js';
import { printJson } from '../output.js';

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'Print inputs, outputs, op counts, parameter count and opset of an ONNX file, or the config, masks and growth history of a model directory.',
  positionals: [{ name: 'PATH', description: 'a .onnx file or a growlm model directory', required: true }],
  options: {
    json: { kind: 'boolean', description: 'print JSON' },
  },
  examples: ['growlm inspect model.onnx', 'growlm inspect m --json'],
  async run(args) {
    const path = args.positionals[0]!;
    if (!existsSync(path)) throw new GrowlmError(`${path} does not exist`);
    if (statSync(path).isDirectory()) {
      if (!existsSync(join(path, CONFIG_FILE))) throw new GrowlmError(`${path} is a directory without ${CONFIG_FILE}`);
      const d = describeModelDir(path);
      if (args.flag('json')) printJson(d);
      else console.log(formatModelDescription(d));
      return 0;
    }
    const s = summarize(loadModelFile(path, { skipExternalData: true }));
    if (args.flag('json')) printJson(s);
    else console.log(formatSummary(s));
    return 0;
  },
};
