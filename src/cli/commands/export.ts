import { mkdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Command } from '../command.js';
import { buildDecoder } from '../../../graphs/decoder.js';
import { loadModelDir } from '../../model/model-dir.js';
import { maskTensors } from '../../model/masks.js';
import { paramSpecs } from '../../model/params.js';
import { encodeModel } from '../../onnx/serialize.js';
import { bakeWeights } from '../../passes/bake-weights.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { UsageError } from '../../util/errors.js';
import { printJson } from '../output.js';

/** Protobuf cannot hold more than 2 GB; stay well below it before moving weights to external data. */
const INLINE_LIMIT = 1.5 * 2 ** 30;

export const exportCommand: Command = {
  name: 'export',
  summary: 'Write a self-contained ONNX file of a model (standard opset-17 ops; weights as initializers; external data above 1.5 GB).',
  options: {
    model: { type: 'string', arg: 'DIR', description: 'model directory', required: true },
    out: { type: 'string', arg: 'FILE', description: 'the .onnx file to write', required: true },
    outputs: { type: 'string', arg: 'LIST', description: 'graph outputs: logits, loss or logits,loss', default: 'logits' },
    'external-data': { type: 'boolean', description: 'always store weights in FILE.data (ONNX external data)' },
    json: { type: 'boolean', description: 'print JSON' },
  },
  async run(args) {
    const outputs = args.need('outputs').split(',');
    if (!outputs.every((o) => o === 'logits' || o === 'loss')) throw new UsageError(`--outputs must list logits and/or loss, got "${args.str('outputs')}"`);
    const { config, weights } = loadModelDir(args.need('model'));
    // a model whose MSG masks are still ramping exports with their current values baked in
    const model = bakeWeights(buildDecoder(config, { outputs: outputs as Array<'logits' | 'loss'>, fusedKernels: false }), new Map([...weights, ...maskTensors(config)]));
    const total = paramSpecs(config).reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 4), 0);
    const out = args.need('out');
    const external = args.flag('external-data') || total > INLINE_LIMIT;
    const enc = encodeModel(model, external ? { externalThreshold: 1024, location: `${basename(out)}.data` } : {});
    mkdirSync(dirname(out), { recursive: true });
    if (enc.external) writeFileAtomic(join(dirname(out), enc.external.location), [enc.external.data]);
    writeFileAtomic(out, [enc.model]);
    const result = { out, bytes: enc.model.byteLength, external_data: enc.external ? join(dirname(out), enc.external.location) : null };
    if (args.flag('json')) printJson(result);
    else console.log(`wrote ${out}${enc.external ? ` + ${result.external_data}` : ''}`);
    return 0;
  },
};
