/**
 * Staged-growth plans: a JSON file naming the data, then stages that each start from a preset
 * (init) or grow the previous stage's model (grow), and train it. `growlm plan run` executes them
 * (resumably), `growlm plan show` prints sizes and costs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ModelConfig } from '../model/config.js';
import { readConfigFile } from '../model/model-dir.js';
import { loadPreset, presetNames } from '../model/presets.js';
import { GROWTH_METHODS, type GrowthMethod, PLACEMENTS, type Placement } from '../growth/types.js';
import { readTunedLr } from '../train/tune.js';
import { GrowlmError } from '../util/errors.js';
import { modelsDir } from '../util/paths.js';

export class PlanError extends GrowlmError {}

/** A plan run stopped by its signal; everything trained so far is checkpointed. */
export class PlanInterruptedError extends GrowlmError {
  override name = 'PlanInterruptedError';
  constructor(readonly part: string, readonly step: number) {
    super(`interrupted in ${part} at step ${step} (checkpointed)`);
  }
}

export interface StageTrain {
  steps?: number;
  /** Tokens planned for the stage (used by `plan show` when steps are not given, e.g. the real Tele-FLM plan). */
  tokens?: number;
  batch?: number;
  seq?: number;
  lr?: number;
  warmup?: number;
  schedule?: 'cosine' | 'wsd' | 'constant';
  min_lr_ratio?: number;
  eval_every?: number;
  eval_batches?: number;
  checkpoint_every?: number;
  /**
   * Learning rate after growth: 'rewind' (default) runs this stage's own schedule — warm up again to
   * `lr` (equal to the first stage's peak: MSG's rewind; lower: FLM-101B's lower peak per stage);
   * 'keep' continues at the previous stage's last learning rate, constant.
   */
  lr_policy?: 'rewind' | 'keep';
  /** Seed of the training data order (default 0). */
  data_seed?: number;
}

export interface PlanStage {
  name: string;
  /** The model of this stage: a preset name or a config file (relative to the plan file). */
  model: string;
  /** First stage: initialize with this seed. Later stages grow from the previous stage. */
  seed?: number;
  grow?: { method?: GrowthMethod; placement?: Placement; ramp_steps?: number; stagger?: boolean; seed?: number };
  train: StageTrain;
}

export interface Plan {
  name: string;
  description?: string;
  data?: { builtin?: string; input?: string; tokenizer?: string; val_fraction?: number };
  defaults?: StageTrain;
  /** A growlm tune result (relative to the plan file): its chosen LR is the peak LR of stages that set none. */
  tuned?: string;
  stages: PlanStage[];
  samples?: { prompts: string[]; max_tokens?: number; temperature?: number; top_k?: number; seed?: number };
  /** Baselines trained after the stages with the staged run's total training FLOPs (src/plan/baselines.ts). */
  baselines?: { scratch?: boolean; continue_first?: boolean };
  /** Where the plan file is (config paths are relative to it). */
  baseDir: string;
}

/**
 * The plan file's schema: every field's type, the allowed values of the enumerations, and no other
 * keys (a typo is an error naming the field, not a setting silently ignored).
 */
type Field = 'string' | 'int' | 'count' | 'number' | 'positive' | 'fraction' | 'boolean' | { oneOf: readonly string[] } | { list: Field } | { fields: Schema };
type Schema = Record<string, Field>;

const TRAIN: Schema = {
  steps: 'count', tokens: 'count', batch: 'count', seq: 'count', lr: 'positive', warmup: 'int',
  schedule: { oneOf: ['cosine', 'wsd', 'constant'] }, min_lr_ratio: 'fraction', eval_every: 'int', eval_batches: 'count',
  checkpoint_every: 'int', lr_policy: { oneOf: ['rewind', 'keep'] }, data_seed: 'int',
};


const PLAN: Schema = {
  name: 'string', description: 'string', tuned: 'string',
  data: { fields: { builtin: 'string', input: 'string', tokenizer: 'string', val_fraction: 'fraction' } },
  defaults: { fields: TRAIN },
  stages: {
    list: {
      fields: {
        name: 'string', model: 'string', seed: 'int',
        grow: { fields: { method: { oneOf: GROWTH_METHODS }, placement: { oneOf: PLACEMENTS }, ramp_steps: 'count', stagger: 'boolean', seed: 'int' } },
        train: { fields: TRAIN },
      },
    },
  },
  baselines: { fields: { scratch: 'boolean', continue_first: 'boolean' } },
  samples: { fields: { prompts: { list: 'string' }, max_tokens: 'count', temperature: 'number', top_k: 'int', seed: 'int' } },
};

function checkField(v: unknown, f: Field, where: string): void {
  const bad = (expected: string): never => { throw new PlanError(`${where}: expected ${expected}, got ${JSON.stringify(v)}`); };
  if (typeof f === 'object') {
    if ('oneOf' in f) {
      if (typeof v !== 'string' || !f.oneOf.includes(v)) bad(`one of ${f.oneOf.join(', ')}`);
    } else if ('list' in f) {
      if (!Array.isArray(v)) bad('a list');
      (v as unknown[]).forEach((e, i) => checkField(e, f.list, `${where}[${i}]`));
    } else {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) bad('an object');
      checkObject(v as Record<string, unknown>, f.fields, where);
    }
    return;
  }
  const n = v as number;
  switch (f) {
    case 'string': if (typeof v !== 'string') bad('a string'); break;
    case 'boolean': if (typeof v !== 'boolean') bad('true or false'); break;
    case 'number': if (typeof v !== 'number' || !Number.isFinite(v)) bad('a number'); break;
    case 'positive': if (typeof v !== 'number' || !(n > 0) || !Number.isFinite(n)) bad('a positive number'); break;
    case 'fraction': if (typeof v !== 'number' || !(n >= 0 && n <= 1)) bad('a number in [0, 1]'); break;
    case 'int': if (!Number.isInteger(v) || n < 0) bad('an integer ≥ 0'); break;
    case 'count': if (!Number.isInteger(v) || n < 1) bad('an integer ≥ 1'); break;
  }
}

function checkObject(o: Record<string, unknown>, schema: Schema, where: string): void {
  for (const [k, v] of Object.entries(o)) {
    const f = schema[k];
    if (!f) throw new PlanError(`${where}.${k}: unknown field (known: ${Object.keys(schema).join(', ')})`);
    if (v !== undefined) checkField(v, f, `${where}.${k}`);
  }
}

/** Validate a parsed plan file against the schema; throws a PlanError naming the first bad field. */
export function validatePlanJson(raw: unknown): void {
  checkField(raw, { fields: PLAN }, 'plan');
}

export function resolveStageConfig(plan: Plan, stage: PlanStage): ModelConfig {
  if (presetNames().includes(stage.model)) return loadPreset(stage.model);
  const path = join(plan.baseDir, stage.model);
  if (!existsSync(path)) throw new PlanError(`stage ${stage.name}: "${stage.model}" is neither a preset nor a config file`);
  return readConfigFile(path);
}

/** A plan file path, or the name of a plan in models/ (`tele-flm-analog` → models/tele-flm-analog.plan.json). */
export function loadPlan(spec: string): Plan {
  const candidates = [spec, join(modelsDir(), `${spec}.plan.json`)];
  const path = candidates.find((p) => existsSync(p) && p.endsWith('.json'));
  if (!path) throw new PlanError(`no plan "${spec}" (a .plan.json file, or one of models/*.plan.json)`);
  let raw: Plan;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8')) as Plan;
  } catch {
    throw new PlanError(`${path}: not valid JSON`);
  }
  try {
    validatePlanJson(raw);
  } catch (e) {
    if (e instanceof PlanError) throw new PlanError(`${path}: ${e.message}`);
    throw e;
  }
  const plan: Plan = { ...raw, baseDir: join(path, '..') };
  if (typeof plan.name !== 'string' || !/^[\w.-]+$/.test(plan.name)) throw new PlanError(`${path}: "name" must be a simple name`);
  if (!Array.isArray(plan.stages) || plan.stages.length === 0) throw new PlanError(`${path}: "stages" must be a non-empty list`);
  const names = new Set<string>();
  plan.stages.forEach((s, i) => {
    if (typeof s.name !== 'string' || !/^[\w.-]+$/.test(s.name) || names.has(s.name)) throw new PlanError(`${path}: stage ${i} needs a unique simple name`);
    names.add(s.name);
    if (i === 0 && s.grow) throw new PlanError(`${path}: the first stage cannot grow (it has no predecessor)`);
    if (typeof s.train !== 'object') throw new PlanError(`${path}: stage ${s.name} needs a "train" section`);
    if (typeof s.model !== 'string' || s.model === '') throw new PlanError(`${path}: stage ${s.name} needs a "model" (a preset name or a config file)`);
    resolveStageConfig(plan, s); // validates the config
  });
  return plan;
}

export function stageTrain(plan: Plan, stage: PlanStage): StageTrain {
  const t = { ...plan.defaults, ...stage.train };
  if (t.lr === undefined && plan.tuned) t.lr = readTunedLr(join(plan.baseDir, plan.tuned));
  return t;
}
