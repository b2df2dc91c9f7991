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
import { WEIGHTS_FILE } from '../model/model-dir.js';
import { METRICS_FILE } from './metrics.js';

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
export const CHECKPOINTS_DIR = 'checkpoints';
export const CHECKPOINT_STATE_FILE = 'state.json';
export const checkpointsDir = (modelDir: string) => join(modelDir, CHECKPOINTS_DIR);
const stepDir = (root: string, step: number) => join(root, `${PREFIX}${String(step).padStart(8, '0')}`);

/** Checkpoint folders of a model directory, oldest first (temporary leftovers are ignored). */
export function listCheckpoints(modelDir: string): string[] {
  const root = checkpointsDir(modelDir);
  if (!existsSync(root)) return [];
  return readdirSync(root).filter((d) => /^step-\d{8}$/.test(d)).sort().map((d) => join(root, d));
}

/**
 * Set an earlier run aside before a fresh start (`train --restart`): DIR/checkpoints/ becomes
 * DIR/checkpoints.old-<UTC time>/ and DIR/metrics.jsonl moves into it, so that nothing of the old
 * run can be resumed or mixed into the new run's metrics. Returns the archive, or undefined when
 * there was nothing to set aside.
 */
export function archiveRun(modelDir: string, now = new Date()): string | undefined {
  const root = checkpointsDir(modelDir);
  if (!existsSync(root)) return undefined;
  const stamp = now.toISOString().slice(0, 19).replace(/:/g, '-') + 'Z';
  let archive = `${root}.old-${stamp}`;
  for (let i = 2; existsSync(archive); i++) archive = `${root}.old-${stamp}-${i}`;
  renameSync(root, archive);
  const metrics = join(modelDir, METRICS_FILE);
  if (existsSync(metrics)) renameSync(metrics, join(archive, METRICS_FILE));
  return archive;
}

export function saveCheckpoint(modelDir: string, config: ModelConfig, weights: Weights, opt: OptimizerState, state: CheckpointState, keep: number): string {
  const root = checkpointsDir(modelDir);
  mkdirSync(root, { recursive: true });
  const final = stepDir(root, state.step);
  const tmp = `${final}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  saveSafetensors(join(tmp, WEIGHTS_FILE), weights, { format: 'pt', producer: 'growlm' });
  saveOptimizerState(join(tmp, OPTIMIZER_FILE), weights, opt);
  writeFileAtomic(join(tmp, CHECKPOINT_STATE_FILE), [JSON.stringify({ ...state, optimizer_step: opt.step, config: configToJson(config) }, null, 1) + '\n']);
  if (existsSync(final)) rmSync(final, { recursive: true }); // re-saving the same step (after a resume)
  renameSync(tmp, final);
  const all = listCheckpoints(modelDir);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) rmSync(old, { recursive: true, force: true });
  return final;
}

export function loadCheckpoint(dir: string): Checkpoint {
  let raw: { step: number; data: unknown; trainer: Record<string, unknown>; optimizer_step: number; config: Record<string, unknown> };
  try {
    raw = JSON.parse(readFileSync(join(dir, CHECKPOINT_STATE_FILE), 'utf8'));
  } catch {
    throw new CheckpointError(`${dir}: missing or unreadable ${CHECKPOINT_STATE_FILE}`);
  }
  const { tensors: weights } = loadSafetensors(join(dir, WEIGHTS_FILE));
  return {
    dir, weights, config: raw.config,
    optimizer: loadOptimizerState(join(dir, OPTIMIZER_FILE)),
    state: { step: raw.step, data: raw.data, trainer: raw.trainer },
  };
}
