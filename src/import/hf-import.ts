/**
 * Import a Hugging Face `LlamaForCausalLM` / `MistralForCausalLM` directory as a growlm model
 * directory (docs/import.md): config.json through parseConfig (GQA, tied embeddings, rope_theta and
 * llama3 rope_scaling carry over), weights as float32 (F16/BF16 widened exactly) from
 * `model.safetensors` or shards with `model.safetensors.index.json`, and the model's own tokenizer:
 * `tokenizer.json`, `tokenizer_config.json` (with its `chat_template`) and `generation_config.json`
 * are kept beside config.json and the tokenizer is recorded in the config, so eval, train (on data
 * prepared with that tokenizer.json), grow and generate use it.
 *
 * Everything is checked before anything is written (architecture, fields, every tensor's name,
 * shape and dtype, the shards' headers and sizes, the tokenizer against vocab_size); the model is
 * written into a temporary folder beside OUT and renamed to OUT at the end, so a failure leaves
 * nothing.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { GrowlmError } from '../util/errors.js';
import { writeFileAtomic } from '../util/atomic.js';
import { ConfigError, type ModelConfig, parameterCount, parseConfig } from '../model/config.js';
import { CheckpointReader, INDEX_FILE, WEIGHTS_FILE, writeCheckpointStream } from '../model/checkpoint-files.js';
import { CONFIG_FILE, writeConfig } from '../model/model-dir.js';
import { EMBED, LM_HEAD, paramSpecs } from '../model/params.js';
import { isStoreDType } from '../model/half-float.js';
import { loadTokenizer } from '../data/tokenizer.js';
import { GENERATION_CONFIG_FILE, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE } from '../data/meta.js';

/** A Hugging Face directory growlm cannot import; the message names the problem. */
export class HfImportError extends GrowlmError {
  override name = 'HfImportError';
}

/** Newer transformers versions save the chat template in its own file. */
const CHAT_TEMPLATE_FILE = 'chat_template.jinja';
export const SUPPORTED_ARCHITECTURES = ['LlamaForCausalLM', 'MistralForCausalLM'] as const;
const MODEL_TYPES: Record<string, string> = { LlamaForCausalLM: 'llama', MistralForCausalLM: 'mistral' };

/** HF config fields that change the computation in ways growlm's decoder does not have. */
const UNSUPPORTED_FIELDS: [string, (v: unknown) => boolean, string][] = [
  ['attention_bias', (v) => v === true, 'biases in the attention projections'],
  ['mlp_bias', (v) => v === true, 'biases in the MLP projections'],
  ['hidden_act', (v) => v !== undefined && v !== 'silu', 'only silu is supported'],
  ['use_sliding_window', (v) => v === true, 'sliding-window attention'],
];

export interface ImportOptions {
  /** The Hugging Face model directory. */
  from: string;
  /** The growlm model directory to create (must not exist). */
  out: string;
  /** Write the weights as HF shards of at most this many bytes (default: one model.safetensors). */
  shardBytes?: number;
}

export interface ImportResult {
  from: string;
  out: string;
  architecture: string;
  parameters: number;
  /** How many tensors had each stored dtype (float32, float16, bfloat16). */
  source_dtypes: Record<string, number>;
  /** Source shards read (1 for a single model.safetensors). */
  source_files: number;
  tokenizer: { vocab_size: number; eot_id: number | null; model_type: string | null };
  /** Files kept beside config.json. */
  files: string[];
  seconds: number;
}

function readJson(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new HfImportError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new HfImportError(`${path}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new HfImportError(`${path}: not a JSON object`);
  return j as Record<string, unknown>;
}

/** The architecture of an HF config, or an error naming what is unsupported. */
export function checkHfConfig(hf: Record<string, unknown>, where: string): string {
  const archs = hf.architectures;
  if (!Array.isArray(archs) || archs.length !== 1 || typeof archs[0] !== 'string') {
    throw new HfImportError(`${where}: "architectures" must name one architecture (supported: ${SUPPORTED_ARCHITECTURES.join(', ')}), got ${JSON.stringify(archs)}`);
  }
  const arch = archs[0];
  if (!(SUPPORTED_ARCHITECTURES as readonly string[]).includes(arch)) {
    throw new HfImportError(`${where}: architecture ${arch} is not supported (supported: ${SUPPORTED_ARCHITECTURES.join(', ')})`);
  }
  if (hf.model_type !== undefined && hf.model_type !== MODEL_TYPES[arch]) {
    throw new HfImportError(`${where}: model_type ${JSON.stringify(hf.model_type)} does not match architecture ${arch} (expected "${MODEL_TYPES[arch]}")`);
  }
  for (const [key, bad, what] of UNSUPPORTED_FIELDS) {
    if (bad(hf[key])) throw new HfImportError(`${where}: ${key} ${JSON.stringify(hf[key])} is not supported (${what})`);
  }
  const sw = hf.sliding_window;
  if (sw !== undefined && sw !== null) {
    const max = hf.max_position_embeddings;
    if (typeof sw !== 'number' || typeof max !== 'number' || sw < max) {
      throw new HfImportError(`${where}: sliding_window ${JSON.stringify(sw)} is not supported (sliding-window attention; only null or ≥ max_position_embeddings ${JSON.stringify(max)})`);
    }
  }
  return arch;
}

/** The growlm config of an HF config (fields growlm does not use are dropped; parseConfig's errors name the field). */
function growlmConfig(hf: Record<string, unknown>, where: string): ModelConfig {
  const { growlm: _ignored, ...fields } = hf;
  try {
    return parseConfig(fields);
  } catch (e) {
    if (e instanceof ConfigError) throw new HfImportError(`${where}: ${e.message.replace(/^config: /, '')}`);
    throw e;
  }
}

/** Tensors of an HF checkpoint that carry nothing growlm needs (recomputed from the config). */
const isDerivedBuffer = (name: string) => /\.rotary_emb\.inv_freq$/.test(name);

/**
 * Check every tensor of the checkpoint against the config: names, shapes, dtypes; biases and
 * anything else unexpected are errors. Returns the tensors to read, in growlm's parameter order.
 */
function checkTensors(reader: CheckpointReader, config: ModelConfig, where: string): { names: string[]; dtypes: Record<string, number>; dropTiedHead: boolean } {
  const specs = paramSpecs(config);
  const want = new Set(specs.map((s) => s.name));
  const dtypes: Record<string, number> = {};
  for (const p of specs) {
    const s = reader.spec(p.name);
    if (!s) throw new HfImportError(`${where}: missing tensor ${p.name}`);
    if (!isStoreDType(s.dtype)) throw new HfImportError(`${where}: tensor ${p.name} is ${s.dtype}; expected float32, float16 or bfloat16`);
    if (s.dims.length !== p.shape.length || s.dims.some((d, i) => d !== p.shape[i])) {
      throw new HfImportError(`${where}: tensor ${p.name} has shape [${s.dims}], config.json needs [${p.shape}]`);
    }
    dtypes[s.dtype] = (dtypes[s.dtype] ?? 0) + 1;
  }
  let dropTiedHead = false;
  for (const name of reader.names()) {
    if (want.has(name) || isDerivedBuffer(name)) continue;
    if (/\.bias$/.test(name)) throw new HfImportError(`${where}: tensor ${name} is a bias; growlm's decoder has no biases`);
    if (name === LM_HEAD && config.tieWordEmbeddings) {
      dropTiedHead = true; // some checkpoints store the tied head too: it must be the embedding
      continue;
    }
    throw new HfImportError(`${where}: unexpected tensor ${name} (not a parameter of this config)`);
  }
  return { names: specs.map((s) => s.name), dtypes, dropTiedHead };
}

/** A tied checkpoint that stores lm_head.weight too: it must equal the embedding. */
function checkTiedHead(reader: CheckpointReader, where: string): void {
  const e = reader.spec(EMBED)!, h = reader.spec(LM_HEAD)!;
  if (h.dims.length !== e.dims.length || h.dims.some((d, i) => d !== e.dims[i])) throw new HfImportError(`${where}: tie_word_embeddings is true but lm_head.weight has shape [${h.dims}], not the embedding's [${e.dims}]`);
  const a = reader.readFloat32(EMBED).data, b = reader.readFloat32(LM_HEAD).data;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) throw new HfImportError(`${where}: tie_word_embeddings is true but lm_head.weight differs from model.embed_tokens.weight`);
  }
}

function openCheckpoint(from: string): { reader: CheckpointReader; where: string } {
  const index = join(from, INDEX_FILE), single = join(from, WEIGHTS_FILE);
  if (!existsSync(index) && !existsSync(single)) {
    const other = ['pytorch_model.bin', 'pytorch_model.bin.index.json'].find((f) => existsSync(join(from, f)));
    throw new HfImportError(`${from} has no ${WEIGHTS_FILE} or ${INDEX_FILE}${other ? ` (${other} is not read: only safetensors weights are)` : ''}`);
  }
  try {
    return { reader: CheckpointReader.open(from), where: existsSync(index) ? index : single };
  } catch (e) {
    if (e instanceof GrowlmError) throw new HfImportError(e.message);
    throw e;
  }
}

/** Import a Hugging Face Llama/Mistral directory as a new growlm model directory. */
export async function importHfModel(o: ImportOptions): Promise<ImportResult> {
  const t0 = performance.now();
  const { from, out } = o;
  if (!existsSync(from) || !statSync(from).isDirectory()) throw new HfImportError(`${from} is not a folder`);
  if (existsSync(out)) throw new HfImportError(`${out} already exists: import writes a new model directory`);
  const parent = dirname(resolve(out));
  if (existsSync(parent) && !statSync(parent).isDirectory()) throw new HfImportError(`cannot create ${out}: ${parent} is not a folder`);
  const configPath = join(from, CONFIG_FILE);
  const hf = readJson(configPath);
  const architecture = checkHfConfig(hf, configPath);
  let config = growlmConfig(hf, configPath);

  const tokPath = join(from, TOKENIZER_FILE);
  if (!existsSync(tokPath)) {
    const sp = existsSync(join(from, 'tokenizer.model')) ? ' (a sentencepiece tokenizer.model is not read: save the tokenizer as tokenizer.json)' : '';
    throw new HfImportError(`${from} has no ${TOKENIZER_FILE}${sp}`);
  }
  let tokenizer;
  try {
    tokenizer = await loadTokenizer(tokPath);
  } catch (e) {
    if (e instanceof GrowlmError) throw new HfImportError(e.message);
    throw e;
  }
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new HfImportError(`${tokPath}: the tokenizer has ids up to ${tokenizer.vocabSize - 1}, which do not fit vocab_size ${config.vocabSize} of ${configPath}`);
  }
  const tokConfig = existsSync(join(from, TOKENIZER_CONFIG_FILE)) ? readJson(join(from, TOKENIZER_CONFIG_FILE)) : undefined;
  const chatTemplateFile = join(from, CHAT_TEMPLATE_FILE);
  const genConfig = join(from, GENERATION_CONFIG_FILE);
  if (existsSync(genConfig)) readJson(genConfig); // a broken one is an error now, not when something reads it

  const { reader, where } = openCheckpoint(from);
  const tmp = join(parent, `.${basename(out)}.importing-${process.pid}`);
  let created: string | undefined; // the first parent folder this import made, removed again on failure
  try {
    const { names, dtypes, dropTiedHead } = checkTensors(reader, config, where);
    if (dropTiedHead) checkTiedHead(reader, where);
    const sourceFiles = new Set(names.map((n) => reader.fileOf(n))).size;

    // everything checked: write into a temporary folder, rename at the end
    created = mkdirSync(parent, { recursive: true });
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp);
    writeCheckpointStream(tmp, names.map((name) => ({ name, dtype: 'float32' as const, dims: reader.spec(name)!.dims })), (i) => reader.readFloat32(names[i]!), o.shardBytes ?? Infinity, { format: 'pt', producer: 'growlm import' });
    const files = [TOKENIZER_FILE];
    copyFileSync(tokPath, join(tmp, TOKENIZER_FILE));
    // the chat template may sit in its own file (newer transformers): keep it in tokenizer_config.json
    const template = tokConfig?.chat_template === undefined && existsSync(chatTemplateFile) ? readFileSync(chatTemplateFile, 'utf8') : undefined;
    if (template !== undefined) writeFileAtomic(join(tmp, TOKENIZER_CONFIG_FILE), [JSON.stringify({ ...tokConfig, chat_template: template }, null, 2) + '\n']);
    else if (tokConfig) copyFileSync(join(from, TOKENIZER_CONFIG_FILE), join(tmp, TOKENIZER_CONFIG_FILE));
    if (tokConfig || template !== undefined) files.push(TOKENIZER_CONFIG_FILE);
    if (existsSync(genConfig)) {
      copyFileSync(genConfig, join(tmp, GENERATION_CONFIG_FILE));
      files.push(GENERATION_CONFIG_FILE);
    }
    const meta: Record<string, unknown> = { ...(tokenizer.meta() as unknown as Record<string, unknown>), ...(files.includes(TOKENIZER_CONFIG_FILE) ? { config_file: TOKENIZER_CONFIG_FILE } : {}) };
    config = { ...config, tokenizer: meta };
    writeConfig(tmp, config);
    renameSync(tmp, out);
    created = undefined;
    return {
      from, out, architecture, parameters: parameterCount(config), source_dtypes: dtypes, source_files: sourceFiles,
      tokenizer: { vocab_size: tokenizer.vocabSize, eot_id: tokenizer.eotId ?? null, model_type: (meta.model_type as string | undefined) ?? null },
      files: [CONFIG_FILE, ...files], seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    reader.close();
    rmSync(tmp, { recursive: true, force: true });
    if (created) rmSync(created, { recursive: true, force: true });
  }
}
