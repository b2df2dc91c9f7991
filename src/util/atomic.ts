/** Crash-safe file writes: write a temp file beside the target, fsync it, then rename over the target. */
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { GrowlmError } from './errors.js';

/** The target of a write cannot be a file (it is a folder, or its folder is missing). */
export class OutputPathError extends GrowlmError {}

/** Check that `path` can be written as a file: its folder exists and it is not itself a folder. */
export function checkFileTarget(path: string): void {
  const dir = dirname(path);
  if (!existsSync(dir)) throw new OutputPathError(`cannot write ${path}: the folder ${dir} does not exist`);
  if (!statSync(dir).isDirectory()) throw new OutputPathError(`cannot write ${path}: ${dir} is not a folder`);
  if (existsSync(path) && statSync(path).isDirectory()) throw new OutputPathError(`cannot write ${path}: it is a folder, not a file`);
}

/** Write `chunks` to `path` atomically: readers see the old file or the complete new one. */
export function writeFileAtomic(path: string, chunks: Iterable<Uint8Array | string>): void {
  checkFileTarget(path);
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
