/**
 * Training checkpoints: `DIR/checkpoints/step-NNNNNNNN/` holding `model.safetensors` (weights),
 * `optimizer.safetensors` (AdamW moments) and `state.json` (step, data position, RNG state, config).
 * A checkpoint is written into a temporary folder, every file fsynced, and renamed into place in
 * one step, so a crash leaves either the previous checkpoints or a complete new one; older ones are
 * pruned only after the new one exists.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type ModelConfig, configToJson } from '../model/config.js';
import { loadSafetensors, saveSafetensors } from '../model/safetensors.js';
import type { Weights } from '../model/weights.js';
import { writeFileAtomic } from '../util/atomic.js';
import { GrowlmError } from '../util/errors.js';
import { type OptimizerState, OPTIMIZER_FILE, loadOptimizerState, saveOptimizerState } from '../model/training-state.js';

export class CheckpointError extends GrowlmError {}

export interface CheckpointState {
  step: number;
  /** Data sampler state (opaque to the checkpoint). */
  data: unknown;
  /** Anything else the trainer needs to continue exactly (schedule, counters). */
  trainer: Record<string, unknown>;
}

export interface Checkpoint {
  dir: string;
  weights: Weights;
  optimizer: OptimizerState;
  state: CheckpointState;
  config: Record<string, unknown>;
}

const PREFIX = 'step-';
export const checkpointsDir = (modelDir: string) => join(modelDir, 'checkpoints');
const stepDir = (root: string, step: number) => join(root, `${PREFIX}${String(step).padStart(8, '0')}`);

/** Checkpoint folders of a model directory, oldest first (temporary leftovers are ignored). */
export function listCheckpoints(modelDir: string): string[] {
  const root = checkpointsDir(modelDir);
  if (!existsSync(root)) return [];
  return readdirSync(root).filter((d) => /^step-\d{8}$/.test(d)).sort().map((d) => join(root, d));
}

export function saveCheckpoint(modelDir: string, config: ModelConfig, weights: Weights, opt: OptimizerState, state: CheckpointState, keep: number): string {
  const root = checkpointsDir(modelDir);
  mkdirSync(root, { recursive: true });
  const final = stepDir(root, state.step);
  const tmp = `${final}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  saveSafetensors(join(tmp, 'model.safetensors'), weights, { format: 'pt', producer: 'growlm' });
  saveOptimizerState(join(tmp, OPTIMIZER_FILE), weights, opt);
  writeFileAtomic(join(tmp, 'state.json'), [JSON.stringify({ ...state, optimizer_step: opt.step, config: configToJson(config) }, null, 1) + '\n']);
  if (existsSync(final)) rmSync(final, { recursive: true }); // re-saving the same step (after a resume)
  renameSync(tmp, final);
  const all = listCheckpoints(modelDir);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) rmSync(old, { recursive: true, force: true });
  return final;
}

export function loadCheckpoint(dir: string): Checkpoint {
  let raw: { step: number; data: unknown; trainer: Record<string, unknown>; optimizer_step: number; config: Record<string, unknown> };
  try {
    raw = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'));
  } catch {
    throw new CheckpointError(`${dir}: missing or unreadable state.json`);
  }
  const { tensors: weights } = loadSafetensors(join(dir, 'model.safetensors'));
  return {
    dir, weights, config: raw.config,
    optimizer: loadOptimizerState(join(dir, OPTIMIZER_FILE)),
    state: { step: raw.step, data: raw.data, trainer: raw.trainer },
  };
}
