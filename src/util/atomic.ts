/** Crash-safe file writes: write a temp file beside the target, fsync it, then rename over the target. */
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { GrowlmError } from './errors.js';

/** The target of a write cannot be a file (it is a folder, or its folder is missing). */
export class OutputPathError extends GrowlmError {}

/** The file system refused a write (disk full, no permission, read-only file system…). */
export class WriteFailedError extends GrowlmError {
  override name = 'WriteFailedError';
  /** `code`: the system error code, e.g. ENOSPC or EACCES. */
  constructor(readonly path: string, readonly code: string, reason: string) {
    super(`cannot write ${path}: ${reason}`);
  }
}

/** A system error of the file system (it has an errno code), as opposed to a bug or a typed error. */
const isSystemError = (e: unknown): e is NodeJS.ErrnoException =>
  e instanceof Error && !(e instanceof GrowlmError) && typeof (e as NodeJS.ErrnoException).code === 'string';

/** Writes `chunks` to `path` atomically (writeFileAtomic; a parameter so tests can inject failures). */
export type AtomicWriter = (path: string, chunks: Iterable<Uint8Array | string>) => void;

/** Check that `path` can be written as a file: its folder exists and it is not itself a folder. */
export function checkFileTarget(path: string): void {
  const dir = dirname(path);
  if (!existsSync(dir)) throw new OutputPathError(`cannot write ${path}: the folder ${dir} does not exist`);
  if (!statSync(dir).isDirectory()) throw new OutputPathError(`cannot write ${path}: ${dir} is not a folder`);
  if (existsSync(path) && statSync(path).isDirectory()) throw new OutputPathError(`cannot write ${path}: it is a folder, not a file`);
}

/**
 * Write `chunks` to `path` atomically: readers see the old file or the complete new one. A failure of
 * the file system leaves no temporary file and throws WriteFailedError naming `path` and the cause.
 */
export function writeFileAtomic(path: string, chunks: Iterable<Uint8Array | string>): void {
  checkFileTarget(path);
  try {
    writeThenRename(path, chunks);
  } catch (e) {
    if (isSystemError(e)) throw new WriteFailedError(path, e.code!, e.message);
    throw e;
  }
}

function writeThenRename(path: string, chunks: Iterable<Uint8Array | string>): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    for (const c of chunks) {
      const bytes = typeof c === 'string' ? Buffer.from(c, 'utf8') : c;
      let off = 0;
      while (off < bytes.byteLength) off += writeSync(fd, bytes, off, bytes.byteLength - off);
    }
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  try {
    const dfd = openSync(dirname(path), 'r');
    fsyncSync(dfd);
    closeSync(dfd);
  } catch {
    // directories cannot be fsynced on every platform; the rename is still atomic
  }
}
