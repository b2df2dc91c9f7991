/** Crash-safe file writes: write a temp file beside the target, fsync it, then rename over the target. */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Write `chunks` to `path` atomically: readers see the old file or the complete new one. */
export function writeFileAtomic(path: string, chunks: Iterable<Uint8Array | string>): void {
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
