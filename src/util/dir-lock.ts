/**
 * One process per directory: `DIR/.growlm.lock` holds the owner's PID, host and start time. It is
 * created with O_EXCL, so of two processes starting together exactly one gets it. A lock whose PID
 * is no longer alive on this host (the owner was killed) is stale and is taken over. The lock is
 * removed on release and, as a last resort, when the process exits (process.exit included).
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { GrowlmError } from './errors.js';

export const LOCK_FILE = '.growlm.lock';

interface LockOwner {
  pid: number;
  host: string;
  started: string;
}

/** Another live process holds the directory. */
export class DirLockedError extends GrowlmError {
  override name = 'DirLockedError';
  constructor(readonly dir: string, readonly owner: LockOwner) {
    super(`${dir} is in use by another growlm process (PID ${owner.pid} on ${owner.host}, since ${owner.started}); wait for it to finish or stop it (lock file ${join(dir, LOCK_FILE)})`);
  }
}

export interface DirLock {
  /** Set when a stale lock of a dead process was taken over (to tell the user). */
  note?: string;
  release(): void;
}

/** Locks this process holds: path → how many times acquired (nested acquisitions share one file). */
const held = new Map<string, number>();
let exitHookInstalled = false;

function readOwner(path: string): LockOwner | undefined {
  try {
    const o = JSON.parse(readFileSync(path, 'utf8')) as LockOwner;
    return Number.isSafeInteger(o.pid) && o.pid > 0 && typeof o.host === 'string' ? o : undefined;
  } catch {
    return undefined;
  }
}

/** Is `pid` a live process on this host? (EPERM: alive, owned by another user.) */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tryCreate(path: string, owner: LockOwner): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new GrowlmError(`cannot create the lock file ${path}: ${(e as Error).message}`);
  }
  try {
    writeSync(fd, JSON.stringify(owner) + '\n');
  } finally {
    closeSync(fd);
  }
  return true;
}

/** Take `dir` (which must exist) for this process, or throw DirLockedError naming the owner. */
export function acquireDirLock(dir: string): DirLock {
  const path = resolve(dir, LOCK_FILE);
  const release = (): void => {
    const n = held.get(path) ?? 0;
    if (n > 1) held.set(path, n - 1);
    else if (n === 1) {
      held.delete(path);
      rmSync(path, { force: true });
    }
  };
  if (held.has(path)) {
    held.set(path, held.get(path)! + 1);
    return { release };
  }
  const me: LockOwner = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
  let note: string | undefined;
  if (!tryCreate(path, me)) {
    const owner = readOwner(path);
    // an unreadable lock is left by a process killed between creating and writing it
    if (owner && (owner.host !== me.host || pidAlive(owner.pid))) throw new DirLockedError(dir, owner);
    note = owner
      ? `took over the lock of ${dir} from PID ${owner.pid}, which is no longer running`
      : `took over the unreadable lock file ${path}`;
    rmSync(path, { force: true });
    if (!tryCreate(path, me)) {
      const now = readOwner(path);
      throw new DirLockedError(dir, now ?? { pid: 0, host: me.host, started: 'unknown' });
    }
  }
  held.set(path, 1);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const p of held.keys()) rmSync(p, { force: true });
    });
  }
  return { ...(note ? { note } : {}), release };
}
