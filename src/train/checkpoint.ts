/**
 * Training checkpoints: `DIR/checkpoints/step-NNNNNNNN/` holding `model.safetensors` (weights),
 * `optimizer.safetensors` (AdamW moments) and `state.json` (step, data position, RNG state, config).
 * A checkpoint is written into a temporary folder, every file fsynced, and renamed into place in
 * one step, so a crash leaves either the previous checkpoints or a complete new one; older ones are
 * pruned only after the new one exists. `state.json` records the sha256 of every other file of the
 * checkpoint; loading verifies them, so a corrupt or incomplete checkpoint is detected, never used.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type ModelConfig, configToJson } from '../model/config.js';
import { loadSafetensors, saveSafetensors } from '../model/safetensors.js';
import type { Weights } from '../model/weights.js';
import { type AtomicWriter, writeFileAtomic } from '../util/atomic.js';
import { fileSha256 } from '../util/checksum.js';
import { GrowlmError } from '../util/errors.js';
import { pausePoint } from '../util/pause-point.js';
import { pidAlive } from '../util/dir-lock.js';
import { type OptimizerState, OPTIMIZER_FILE, loadOptimizerState, saveOptimizerState } from '../model/training-state.js';
import { WEIGHTS_FILE } from '../model/model-dir.js';
import { METRICS_FILE } from './metrics.js';

export class CheckpointError extends GrowlmError {}

/** A checkpoint's files do not match the checksums recorded when it was written (corrupt or incomplete). */
export class CheckpointCorruptError extends CheckpointError {
  override name = 'CheckpointCorruptError';
}

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
/** The files of a checkpoint whose checksums `state.json` records. */
const CHECKSUMMED = [WEIGHTS_FILE, OPTIMIZER_FILE];
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

/**
 * Write the checkpoint of `state.step` and prune to the newest `keep`. When writing fails (disk full,
 * no permission) the temporary folder is removed, the earlier checkpoints are left as they were and
 * a CheckpointError says what failed where. `write` writes one file (a parameter for tests).
 */
export function saveCheckpoint(modelDir: string, config: ModelConfig, weights: Weights, opt: OptimizerState, state: CheckpointState, keep: number, write: AtomicWriter = writeFileAtomic): string {
  const root = checkpointsDir(modelDir);
  const final = stepDir(root, state.step);
  const tmp = `${final}.tmp-${process.pid}`;
  try {
    mkdirSync(root, { recursive: true });
    removeStaleTemps(root);
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp);
    saveSafetensors(join(tmp, WEIGHTS_FILE), weights, { format: 'pt', producer: 'growlm' }, write);
    pausePoint('checkpoint-write');
    saveOptimizerState(join(tmp, OPTIMIZER_FILE), weights, opt, write);
    const sha256 = Object.fromEntries(CHECKSUMMED.map((f) => [f, fileSha256(join(tmp, f))]));
    write(join(tmp, CHECKPOINT_STATE_FILE), [JSON.stringify({ ...state, optimizer_step: opt.step, config: configToJson(config), sha256 }, null, 1) + '\n']);
    if (existsSync(final)) rmSync(final, { recursive: true }); // re-saving the same step (after a resume)
    renameSync(tmp, final);
    pausePoint('checkpoint-prune');
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (!(e instanceof GrowlmError) && typeof (e as NodeJS.ErrnoException).code !== 'string') throw e; // a bug, not the file system
    throw new CheckpointError(`could not write the checkpoint of step ${state.step} in ${root} (earlier checkpoints are kept): ${(e as Error).message}`);
  }
  const all = listCheckpoints(modelDir);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) rmSync(old, { recursive: true, force: true });
  return final;
}

/** Temporary checkpoint folders of processes that are gone (killed while writing a checkpoint). */
function removeStaleTemps(root: string): void {
  for (const d of readdirSync(root)) {
    const m = /^step-\d{8}\.tmp-(\d+)$/.exec(d);
    if (m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) rmSync(join(root, d), { recursive: true, force: true });
  }
}

/**
 * Check a checkpoint's files against the checksums in its state.json (checkpoints written before
 * checksums were recorded have none: their files are only checked by the safetensors parser).
 */
export function verifyCheckpoint(dir: string, sha256: unknown): void {
  if (sha256 === undefined) return;
  if (typeof sha256 !== 'object' || sha256 === null) throw new CheckpointCorruptError(`${dir}: ${CHECKPOINT_STATE_FILE} has a malformed sha256 record`);
  for (const f of CHECKSUMMED) {
    const want = (sha256 as Record<string, unknown>)[f];
    if (typeof want !== 'string') throw new CheckpointCorruptError(`${dir}: ${CHECKPOINT_STATE_FILE} records no checksum for ${f}`);
    let got: string;
    try {
      got = fileSha256(join(dir, f));
    } catch {
      throw new CheckpointCorruptError(`${dir}: ${f} is missing or unreadable`);
    }
    if (got !== want) throw new CheckpointCorruptError(`${dir}: ${f} does not match its recorded checksum (corrupt or incomplete)`);
  }
}

export function loadCheckpoint(dir: string): Checkpoint {
  let raw: { step: number; data: unknown; trainer: Record<string, unknown>; optimizer_step: number; config: Record<string, unknown>; sha256?: unknown };
  try {
    raw = JSON.parse(readFileSync(join(dir, CHECKPOINT_STATE_FILE), 'utf8'));
  } catch {
    throw new CheckpointCorruptError(`${dir}: missing or unreadable ${CHECKPOINT_STATE_FILE}`);
  }
  if (typeof raw !== 'object' || raw === null || !Number.isSafeInteger(raw.step) || typeof raw.config !== 'object' || raw.config === null) {
    throw new CheckpointCorruptError(`${dir}: ${CHECKPOINT_STATE_FILE} is not a checkpoint state`);
  }
  verifyCheckpoint(dir, raw.sha256);
  const { tensors: weights } = loadSafetensors(join(dir, WEIGHTS_FILE));
  return {
    dir, weights, config: raw.config,
    optimizer: loadOptimizerState(join(dir, OPTIMIZER_FILE)),
    state: { step: raw.step, data: raw.data, trainer: raw.trainer },
  };
}
