/**
 * Strict, streaming UTF-8 decoding that reports where input is invalid (file and byte offset).
 * Chunks may end inside a multi-byte character: the incomplete tail is carried to the next chunk.
 */
import { isUtf8 } from 'node:buffer';
import { GrowlmError } from '../util/errors.js';

export class InvalidUtf8Error extends GrowlmError {}

/**
 * Index of the first byte in buf[start, end) that starts an invalid (or, at `end`, incomplete)
 * UTF-8 sequence, or -1 when the range is valid. Rejects overlongs, surrogates and > U+10FFFF.
 */
export function findInvalidUtf8(buf: Uint8Array, start = 0, end = buf.length): number {
  let i = start;
  while (i < end) {
    const b = buf[i]!;
    if (b < 0x80) { i++; continue; }
    let n: number, lo = 0x80, hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) n = 1;
    else if (b >= 0xe0 && b <= 0xef) { n = 2; if (b === 0xe0) lo = 0xa0; else if (b === 0xed) hi = 0x9f; }
    else if (b >= 0xf0 && b <= 0xf4) { n = 3; if (b === 0xf0) lo = 0x90; else if (b === 0xf4) hi = 0x8f; }
    else return i;
    if (i + n >= end) return i;
    const b1 = buf[i + 1]!;
    if (b1 < lo || b1 > hi) return i;
    for (let k = 2; k <= n; k++) if ((buf[i + k]! & 0xc0) !== 0x80) return i;
    i += n + 1;
  }
  return -1;
}

/** Length of the prefix of buf that does not end inside an incomplete multi-byte sequence. */
export function completePrefixLength(buf: Uint8Array): number {
  const n = buf.length;
  for (let k = 1; k <= Math.min(3, n); k++) {
    const b = buf[n - k]!;
    if ((b & 0xc0) === 0x80) continue;
    if (b < 0x80) return n;
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return k < need ? n - k : n;
  }
  return n;
}

/** Decodes consecutive chunks of one file; throws InvalidUtf8Error naming the file and byte offset. */
export class Utf8StreamDecoder {
  private pending: Buffer | null = null;
  private pendingOffset = 0;
  private first = true;

  /** @param stripBom drop a U+FEFF byte-order mark at the very start of the stream */
  constructor(private readonly file: string, private readonly stripBom = false) {}

  /** Decode `chunk`, whose first byte is at byte `offset` of the file. */
  push(chunk: Uint8Array, offset: number): string {
    let buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let base = offset;
    if (this.pending) {
      buf = Buffer.concat([this.pending, buf]);
      base = this.pendingOffset;
      this.pending = null;
    }
    const cut = completePrefixLength(buf);
    if (!isUtf8(buf.subarray(0, cut))) {
      const at = findInvalidUtf8(buf, 0, cut);
      throw new InvalidUtf8Error(`${this.file}: invalid UTF-8 at byte offset ${base + Math.max(0, at)}`);
    }
    if (cut < buf.length) {
      this.pending = Buffer.from(buf.subarray(cut));
      this.pendingOffset = base + cut;
    }
    let s = buf.toString('utf8', 0, cut);
    if (this.first && s.length > 0) {
      this.first = false;
      if (this.stripBom && s.charCodeAt(0) === 0xfeff) s = s.slice(1);
    }
    return s;
  }

  /** The stream ended: an incomplete sequence left over is an error. */
  end(): void {
    if (this.pending) {
      const off = this.pendingOffset;
      this.pending = null;
      throw new InvalidUtf8Error(`${this.file}: truncated UTF-8 sequence at byte offset ${off}`);
    }
  }
}
