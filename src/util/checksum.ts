/** File checksums (sha256), read in fixed-size chunks so a file of any size is hashed in bounded memory. */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';

const CHUNK = 1 << 20;

/** The sha256 of a file's bytes, as lowercase hex. */
export function fileSha256(path: string): string {
  const hash = createHash('sha256');
  const buf = Buffer.alloc(CHUNK);
  const fd = openSync(path, 'r');
  try {
    for (let n; (n = readSync(fd, buf, 0, CHUNK, null)) > 0;) hash.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}
