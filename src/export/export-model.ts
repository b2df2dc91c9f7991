/**
 * Export a model directory as a self-contained ONNX file: standard opset-17 ops only (no fused
 * onnxruntime kernels), weights as initializers, ONNX external data above 1.5 GB.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { buildDecoder } from '../../graphs/decoder.js';
import { loadModelDir } from '../model/model-dir.js';
import { maskTensors } from '../model/masks.js';
import { paramSpecs } from '../model/params.js';
import { encodeModel } from '../onnx/serialize.js';
import { bakeWeights } from '../passes/bake-weights.js';
import { writeFileAtomic } from '../util/atomic.js';
import { GrowlmError, InvalidSettingError, OutputExistsError } from '../util/errors.js';

/** Protobuf cannot hold more than 2 GB; stay well below it before moving weights to external data. */
const INLINE_LIMIT = 1.5 * 2 ** 30;

export type ExportOutput = 'logits' | 'loss';

export interface ExportOptions {
  /** Graph outputs. */
  outputs: ExportOutput[];
  /** Always store the weights in FILE.data (ONNX external data), not only above 1.5 GB. */
  externalData: boolean;
  /** Overwrite an existing file. */
  force: boolean;
}

export const DEFAULT_EXPORT: ExportOptions = { outputs: ['logits'], externalData: false, force: false };

export interface ExportResult {
  out: string;
  bytes: number;
  /** The external data file, when the weights went there. */
  external_data: string | null;
}

export class ExportError extends GrowlmError {}

/** Refuse an output path that is a directory, sits under a file, or would overwrite without `force`. */
export function checkOutputFile(path: string, force: boolean): void {
  if (existsSync(path)) {
    if (statSync(path).isDirectory()) throw new ExportError(`${path} is a directory; give the path of a file to write`);
    if (!force) throw new OutputExistsError(path, 'a file');
  }
  let dir = dirname(path);
  while (!existsSync(dir)) dir = dirname(dir);
  if (!statSync(dir).isDirectory()) throw new ExportError(`${dir} is a file, not a directory`);
}

export function exportModel(modelDir: string, out: string, options: Partial<ExportOptions> = {}): ExportResult {
  const o = { ...DEFAULT_EXPORT, ...options };
  if (o.outputs.length === 0 || !o.outputs.every((x) => x === 'logits' || x === 'loss')) throw new InvalidSettingError('outputs', `outputs must list logits and/or loss, got "${o.outputs.join(',')}"`);
  checkOutputFile(out, o.force);
  const { config, weights } = loadModelDir(modelDir);
  // a model whose MSG masks are still ramping exports with their current values baked in
  const model = bakeWeights(buildDecoder(config, { outputs: o.outputs, fusedKernels: false }), new Map([...weights, ...maskTensors(config)]));
  const total = paramSpecs(config).reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 4), 0);
  const external = o.externalData || total > INLINE_LIMIT;
  const location = `${basename(out)}.data`;
  if (external) checkOutputFile(join(dirname(out), location), o.force);
  const enc = encodeModel(model, external ? { externalThreshold: 1024, location } : {});
  mkdirSync(dirname(out), { recursive: true });
  if (enc.external) writeFileAtomic(join(dirname(out), enc.external.location), [enc.external.data]);
  writeFileAtomic(out, [enc.model]);
  return { out, bytes: enc.model.byteLength, external_data: enc.external ? join(dirname(out), enc.external.location) : null };
}
