/**
 * `growlm export --format hf`: a model directory as a plain Hugging Face `LlamaForCausalLM` folder
 * that transformers loads without custom code (docs/hf-export.md#hugging-face-layout):
 *
 *   config.json              HF Llama fields only (no μP fields, no growlm section), torch_dtype
 *   model.safetensors        the folded weights (fold.ts) in float32, float16 or bfloat16 (or HF shards)
 *   generation_config.json   the model's own (imported models), else one naming the end-of-text id if any
 *   tokenizer.json, tokenizer_config.json
 *                            growlm's byte or GPT-2 tokenizer as a real tokenizer.json (tokenizer-files.ts),
 *                            or the model's own tokenizer files (imported models keep their chat_template)
 *   optimizer.safetensors, optimizer.json
 *                            with `withOptimizer`: the AdamW state for a distributed trainer (handoff.ts)
 *
 * Everything is checked first; then the files are written into a temporary folder beside the output,
 * which is renamed into place at the end: a failure leaves nothing behind, and an existing output is
 * refused. Weights and moments stream one tensor at a time (memory bounded by the largest tensor), so
 * a sharded checkpoint larger than memory exports as it grows.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { CheckpointReader, type TensorSpec, writeCheckpointStream } from '../model/checkpoint-files.js';
import { ConfigError, type ModelConfig, configToJson } from '../model/config.js';
import { type StoreDType, fromFloat32, toFloat32 } from '../model/half-float.js';
import { CONFIG_FILE, readConfigFile } from '../model/model-dir.js';
import { paramSpecs } from '../model/params.js';
import { WeightsError } from '../model/weights.js';
import { writeFileAtomic } from '../util/atomic.js';
import { GrowlmError } from '../util/errors.js';
import { applyScale, foldPlan } from './fold.js';
import { type HandoffFiles, optimizerHandoff } from './handoff.js';
import { byteTokenizerConfig, byteTokenizerJson, gpt2TokenizerConfig, gpt2TokenizerJson, withModelTemplate } from './tokenizer-files.js';

export type HfDType = StoreDType;
export const HF_DTYPES: readonly HfDType[] = ['float32', 'float16', 'bfloat16'];

export interface HfExportOptions {
  /** The dtype of model.safetensors (the optimizer state stays float32). */
  dtype: HfDType;
  /** Also write optimizer.safetensors + optimizer.json: AdamW moments, step, schedule and data position. */
  withOptimizer: boolean;
  /** Write the weights as HF shards of at most this many bytes (Infinity: one model.safetensors). */
  shardBytes: number;
}

export const DEFAULT_HF_EXPORT: HfExportOptions = { dtype: 'float32', withOptimizer: false, shardBytes: Infinity };

export interface HfExportResult {
  out: string;
  files: string[];
  dtype: HfDType;
  /** Whether the exported model ties its head to the embedding. */
  tied: boolean;
  /** Where the tokenizer files came from: growlm's byte or GPT-2 tokenizer, the model's own files, or none. */
  tokenizer: 'byte' | 'gpt2' | 'model' | null;
  /** MSG masks that were still ramping and are baked at their current values. */
  masks_baked: boolean;
  /** The optimizer step the moments are at, with `withOptimizer`. */
  optimizer_step?: number;
}

export class HfExportError extends GrowlmError {}

/** Fields of the model's own config.json that a Hugging Face config carries over (token ids). */
const TOKEN_ID_FIELDS = ['bos_token_id', 'eos_token_id', 'pad_token_id'] as const;
/** Tokenizer files an imported model keeps beside its config. */
const OWN_TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];
const GENERATION_CONFIG_FILE = 'generation_config.json';

/** The HF config.json of a plain (folded) config: Llama fields only, the stored dtype, token ids. */
export function hfConfigJson(plain: ModelConfig, dtype: HfDType, tokenIds: Record<string, unknown> = {}): Record<string, unknown> {
  const { input_mult: _i, output_mult: _o, mup_scale_factor: _m, growlm: _g, ...hf } = configToJson(plain);
  return { ...hf, torch_dtype: dtype, ...tokenIds };
}

type FileOut = { name: string; text?: string; copyFrom?: string };

/** Token ids to put in config.json: the model's own (imported), else the recorded end-of-text id. */
function tokenIds(modelDir: string, config: ModelConfig): Record<string, unknown> {
  let raw: Record<string, unknown> = {};
  try {
    raw = JSON.parse(readFileSync(join(modelDir, CONFIG_FILE), 'utf8')) as Record<string, unknown>;
  } catch {
    // loadModelDir has read it already; nothing to carry over
  }
  const own = Object.fromEntries(TOKEN_ID_FIELDS.filter((k) => raw[k] !== undefined && raw[k] !== null).map((k) => [k, raw[k]]));
  if (Object.keys(own).length > 0) return own;
  const eot = config.tokenizer?.eot_id;
  return typeof eot === 'number' ? { bos_token_id: eot, eos_token_id: eot } : {};
}

/** The tokenizer and generation files of the export (see the file comment). */
function tokenizerFiles(modelDir: string, config: ModelConfig, ids: Record<string, unknown>): { files: FileOut[]; source: HfExportResult['tokenizer'] } {
  const files: FileOut[] = [];
  let source: HfExportResult['tokenizer'] = null;
  const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';
  if (config.tokenizer?.kind === 'byte') {
    files.push({ name: 'tokenizer.json', text: JSON.stringify(byteTokenizerJson()) + '\n' }, { name: 'tokenizer_config.json', text: json(withModelTemplate(modelDir, byteTokenizerConfig(config.maxSeqLen))) });
    source = 'byte';
  } else if (config.tokenizer?.kind === 'gpt2') {
    files.push({ name: 'tokenizer.json', text: JSON.stringify(gpt2TokenizerJson()) + '\n' }, { name: 'tokenizer_config.json', text: json(withModelTemplate(modelDir, gpt2TokenizerConfig(config.maxSeqLen))) });
    source = 'gpt2';
  } else if (existsSync(join(modelDir, 'tokenizer.json'))) {
    for (const f of OWN_TOKENIZER_FILES) if (existsSync(join(modelDir, f))) files.push({ name: f, copyFrom: join(modelDir, f) });
    source = 'model';
  }
  if (existsSync(join(modelDir, GENERATION_CONFIG_FILE))) files.push({ name: GENERATION_CONFIG_FILE, copyFrom: join(modelDir, GENERATION_CONFIG_FILE) });
  else files.push({ name: GENERATION_CONFIG_FILE, text: json({ _from_model_config: true, ...ids }) });
  return { files, source };
}

/** Refuse an output that exists, or whose parent is a file. */
function checkOut(out: string): void {
  if (existsSync(out)) throw new HfExportError(`${out} already exists: a Hugging Face export is written to a new folder`);
  let dir = dirname(resolve(out));
  while (!existsSync(dir)) dir = dirname(dir);
  if (!statSync(dir).isDirectory()) throw new HfExportError(`${dir} is a file, not a folder`);
}

/** Check that the checkpoint holds every tensor of `config` with its shape (float32, float16 or bfloat16). */
function checkTensors(dir: string, config: ModelConfig, reader: CheckpointReader): void {
  for (const p of paramSpecs(config)) {
    const t = reader.spec(p.name);
    if (!t) throw new WeightsError(`${dir}: missing tensor ${p.name}`);
    if (!['float32', 'float16', 'bfloat16'].includes(t.dtype)) throw new WeightsError(`${dir}: tensor ${p.name} is ${t.dtype}, expected float32, float16 or bfloat16`);
    if (t.dims.join() !== p.shape.join()) throw new WeightsError(`${dir}: tensor ${p.name} has shape [${t.dims}], config needs [${p.shape}]`);
  }
}

/** Write a model directory as a plain Hugging Face Llama folder `out` (which must not exist). */
export function exportHfModel(modelDir: string, out: string, options: Partial<HfExportOptions> = {}): HfExportResult {
  const o = { ...DEFAULT_HF_EXPORT, ...options };
  if (!HF_DTYPES.includes(o.dtype)) throw new HfExportError(`dtype must be one of ${HF_DTYPES.join(', ')}, got ${String(o.dtype)}`);
  if (!(o.shardBytes > 0)) throw new HfExportError(`the shard size must be positive, got ${o.shardBytes}`);
  checkOut(out);
  if (!existsSync(join(modelDir, CONFIG_FILE))) throw new ConfigError(`${modelDir} is not a model directory (no ${CONFIG_FILE})`);
  const config = readConfigFile(join(modelDir, CONFIG_FILE));
  const plan = foldPlan(config);
  const reader = CheckpointReader.open(modelDir);
  try {
    checkTensors(modelDir, config, reader);
    const ids = tokenIds(modelDir, config);
    const tok = tokenizerFiles(modelDir, config, ids);
    const handoff: HandoffFiles | undefined = o.withOptimizer ? optimizerHandoff(modelDir, config, plan) : undefined;
    const specs: TensorSpec[] = paramSpecs(plan.config).map((p) => ({ name: p.name, dtype: o.dtype, dims: [...p.shape] }));

    // everything is checked: write into a temporary folder, then rename it into place
    const parent = dirname(resolve(out));
    const created = mkdirSync(parent, { recursive: true });
    const tmp = join(parent, `.${basename(out)}.partial-${process.pid}`);
    try {
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(tmp);
      // one tensor in memory at a time: read, widen to float32, fold, store in the asked dtype
      writeCheckpointStream(tmp, specs, (i) => {
        const entry = plan.tensors.get(specs[i]!.name)!;
        const t = toFloat32(reader.read(entry.source), entry.source);
        return fromFloat32({ dtype: 'float32', dims: specs[i]!.dims, data: applyScale(t.data, t.dims, entry.scale) }, o.dtype);
      }, o.shardBytes, { format: 'pt' });
      const files = readdirSync(tmp).filter((f) => f.endsWith('.safetensors') || f.endsWith('.index.json')).sort();
      for (const f of tok.files) {
        if (f.copyFrom) copyFileSync(f.copyFrom, join(tmp, f.name));
        else writeFileAtomic(join(tmp, f.name), [f.text!]);
        files.push(f.name);
      }
      if (handoff) {
        handoff.writeTensors(join(tmp, handoff.tensorsFile));
        writeFileAtomic(join(tmp, handoff.jsonFile), [JSON.stringify(handoff.json, null, 2) + '\n']);
        files.push(handoff.tensorsFile, handoff.jsonFile);
      }
      writeFileAtomic(join(tmp, CONFIG_FILE), [JSON.stringify(hfConfigJson(plan.config, o.dtype, ids), null, 2) + '\n']);
      files.push(CONFIG_FILE);
      renameSync(tmp, out);
      return {
        out, files, dtype: o.dtype, tied: plan.config.tieWordEmbeddings, tokenizer: tok.source,
        masks_baked: config.growth.masks !== undefined, ...(handoff ? { optimizer_step: handoff.json.step } : {}),
      };
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      if (created) rmSync(created, { recursive: true, force: true });
      throw e;
    }
  } finally {
    reader.close();
  }
}
