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
import type { GrowthMethod, Placement } from '../passes/grow.js';
import { readTunedLr } from '../train/tune.js';
import { GrowlmError } from '../util/errors.js';
import { modelsDir } from '../util/paths.js';

export class PlanError extends GrowlmError {}

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
  const plan: Plan = { ...raw, baseDir: join(path, '..') };
  if (typeof plan.name !== 'string' || !/^[\w.-]+$/.test(plan.name)) throw new PlanError(`${path}: "name" must be a simple name`);
  if (!Array.isArray(plan.stages) || plan.stages.length === 0) throw new PlanError(`${path}: "stages" must be a non-empty list`);
  const b = plan.baselines;
  if (b !== undefined && (typeof b !== 'object' || b === null || Object.entries(b).some(([k, v]) => !['scratch', 'continue_first'].includes(k) || typeof v !== 'boolean'))) {
    throw new PlanError(`${path}: "baselines" must be an object with optional booleans "scratch" and "continue_first"`);
  }
  const names = new Set<string>();
  plan.stages.forEach((s, i) => {
    if (typeof s.name !== 'string' || !/^[\w.-]+$/.test(s.name) || names.has(s.name)) throw new PlanError(`${path}: stage ${i} needs a unique simple name`);
    names.add(s.name);
    if (i === 0 && s.grow) throw new PlanError(`${path}: the first stage cannot grow (it has no predecessor)`);
    if (typeof s.train !== 'object') throw new PlanError(`${path}: stage ${s.name} needs a "train" section`);
    resolveStageConfig(plan, s); // validates the config
  });
  return plan;
}

export function stageTrain(plan: Plan, stage: PlanStage): StageTrain {
  const t = { ...plan.defaults, ...stage.train };
  if (t.lr === undefined && plan.tuned) t.lr = readTunedLr(join(plan.baseDir, plan.tuned));
  return t;
}
