/**
 * Export a model directory in the folder layout Hugging Face Optimum writes and transformers.js loads
 * for decoder-only models:
 *
 *   DIR/config.json               the Llama config of the plain model (μP folded: multipliers 1, no MSG masks)
 *   DIR/generation_config.json    greedy by default, the context length, the end-of-text id when the tokenizer has one
 *   DIR/tokenizer.json            the model's tokenizer (growlm's byte tokenizer as a byte-level BPE with the same ids)
 *   DIR/tokenizer_config.json
 *   DIR/onnx/model.onnx           the KV-cache graph (graphs/inference.ts) in standard opset-17 ops, weights as
 *                                 initializers (onnx/model.onnx_data above 1.5 GB, as transformers.js names it)
 *
 * The graph's inputs and outputs carry Optimum's names: input_ids, attention_mask, position_ids,
 * past_key_values.{i}.key|value → logits, present.{i}.key|value. μP and ramping MSG masks are folded
 * into the weights first (fold.ts), so the graph is a plain Llama.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { buildCachedDecoder } from '../../graphs/inference.js';
import { type Tokenizer, loadTokenizer } from '../data/tokenizer.js';
import { type ModelConfig, configToJson } from '../model/config.js';
import { loadModelDir } from '../model/model-dir.js';
import type { TokenizerMeta } from '../data/tokenizer.js';
import { paramSpecs } from '../model/params.js';
import { encodeModel } from '../onnx/serialize.js';
import { bakeWeights } from '../passes/bake-weights.js';
import { writeFileAtomic } from '../util/atomic.js';
import { OutputExistsError } from '../util/errors.js';
import { ExportError } from './export-model.js';
import { plainLlama } from './fold.js';
import { byteTokenizerConfig, byteTokenizerJson, withModelTemplate } from './tokenizer-files.js';

/** Protobuf cannot hold more than 2 GB; stay well below it before moving weights to external data. */
const INLINE_LIMIT = 1.5 * 2 ** 30;

export interface OnnxLayoutOptions {
  /** Always store the weights in onnx/model.onnx_data, not only above 1.5 GB. */
  externalData: boolean;
  /** Write into a folder that already holds files (those of the layout are replaced). */
  force: boolean;
}

export interface OnnxLayoutResult {
  out: string;
  /** The files written, relative to `out`. */
  files: string[];
  /** Things the folder lacks, each one line (a tokenizer growlm cannot write as tokenizer.json). */
  warnings: string[];
}

/** The files of the tokenizer: [name, JSON text or a file to copy]. */
type TokenizerFile = [name: string, content: { json: object } | { copy: string }];

/** tokenizer.json and tokenizer_config.json for the model's tokenizer; none for GPT-2 (gpt-tokenizer ships no tokenizer.json). */
export function tokenizerFiles(tok: Tokenizer, maxLength: number, modelDir: string): TokenizerFile[] {
  if (tok.kind === 'byte') return [['tokenizer.json', { json: byteTokenizerJson() }], ['tokenizer_config.json', { json: withModelTemplate(modelDir, byteTokenizerConfig(maxLength)) }]];
  if (tok.kind === 'tokenizer.json') {
    const files = (tok as Tokenizer & { files: [string, string][] }).files;
    const out: TokenizerFile[] = files.map(([path, name]) => [name, { copy: path }]);
    if (!files.some(([, name]) => name === 'tokenizer_config.json')) out.push(['tokenizer_config.json', { json: { tokenizer_class: 'PreTrainedTokenizerFast', model_max_length: maxLength } }]);
    return out;
  }
  return [];
}

/** generation_config.json: greedy, up to the context, stopping at the tokenizer's end-of-text token when it has one. */
export function generationConfig(c: ModelConfig, eotId: number | undefined): object {
  return { _from_model_config: true, do_sample: false, max_length: c.maxSeqLen, ...(eotId !== undefined ? { eos_token_id: eotId } : {}) };
}

function checkOutputDir(out: string, force: boolean): void {
  if (!existsSync(out)) return;
  if (!statSync(out).isDirectory()) throw new ExportError(`${out} is a file; give the folder to write the ONNX layout into`);
  if (!force && readdirSync(out).length > 0) throw new OutputExistsError(out, 'files');
}

export async function exportOnnxLayout(modelDir: string, out: string, options: Partial<OnnxLayoutOptions> = {}): Promise<OnnxLayoutResult> {
  const o = { externalData: false, force: false, ...options };
  checkOutputDir(out, o.force);
  const loaded = loadModelDir(modelDir);
  const warnings: string[] = [];
  let tok: Tokenizer | undefined;
  if (loaded.config.tokenizer) tok = await loadTokenizer(loaded.config.tokenizer as unknown as TokenizerMeta, modelDir);
  else warnings.push(`${modelDir} records no tokenizer (it was never trained): no tokenizer files written`);
  const toks = tok ? tokenizerFiles(tok, loaded.config.maxSeqLen, modelDir) : [];
  if (tok && toks.length === 0) warnings.push(`the ${tok.kind} tokenizer has no tokenizer.json growlm can write: no tokenizer files written`);

  // everything that can fail happens before the first write
  const { config, weights } = plainLlama(loaded.config, loaded.weights);
  const model = bakeWeights(buildCachedDecoder(config, { fusedKernels: false }), weights);
  const total = paramSpecs(config).reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 4), 0);
  const external = o.externalData || total > INLINE_LIMIT;
  const enc = encodeModel(model, external ? { externalThreshold: 1024, location: 'model.onnx_data' } : {});
  const configJson = configToJson(config, external ? { 'transformers.js_config': { use_external_data_format: true } } : {});

  mkdirSync(join(out, 'onnx'), { recursive: true });
  const files: string[] = [];
  const write = (name: string, chunks: (Uint8Array | string)[]) => { writeFileAtomic(join(out, name), chunks); files.push(name); };
  if (enc.external) write(join('onnx', enc.external.location), [enc.external.data]);
  write(join('onnx', 'model.onnx'), [enc.model]);
  write('config.json', [JSON.stringify(configJson, null, 2) + '\n']);
  write('generation_config.json', [JSON.stringify(generationConfig(config, tok?.eotId), null, 2) + '\n']);
  for (const [name, content] of toks) {
    if ('json' in content) write(name, [JSON.stringify(content.json, null, 2) + '\n']);
    else { copyFileSync(content.copy, join(out, name)); files.push(name); }
  }
  return { out, files, warnings };
}
