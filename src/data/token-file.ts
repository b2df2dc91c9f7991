/**
 * Token files (`.tok`): a 16-byte header — ASCII magic `GLMTOK01`, u32 bytes per token (2 or 4),
 * u32 vocabulary size — followed by the token ids, little-endian unsigned. Documents are simply
 * concatenated; the data pipeline writes shards of this format and `eval` reads it.
 */
import { GrowlmError } from '../util/errors.js';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomic.js';

export const TOKEN_MAGIC = 'GLMTOK01';
export const TOKEN_HEADER_BYTES = 16;

export class TokenFileError extends GrowlmError {}

export interface TokenFile {
  vocabSize: number;
  tokens: Uint16Array | Uint32Array;
}

export function encodeTokenFile(tokens: ArrayLike<number>, vocabSize: number): Uint8Array[] {
  if (!Number.isInteger(vocabSize) || vocabSize <= 0) throw new TokenFileError(`bad vocabulary size ${vocabSize}`);
  const width = vocabSize <= 65536 ? 2 : 4;
  const header = Buffer.alloc(TOKEN_HEADER_BYTES);
  header.write(TOKEN_MAGIC, 0, 'ascii');
  header.writeUInt32LE(width, 8);
  header.writeUInt32LE(vocabSize, 12);
  const body = width === 2 ? new Uint16Array(tokens.length) : new Uint32Array(tokens.length);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (!Number.isInteger(t) || t < 0 || t >= vocabSize) throw new TokenFileError(`token id ${t} at position ${i} is outside the vocabulary (size ${vocabSize})`);
    body[i] = t;
  }
  return [header, new Uint8Array(body.buffer)];
}

export function writeTokenFile(path: string, tokens: ArrayLike<number>, vocabSize: number): void {
  writeFileAtomic(path, encodeTokenFile(tokens, vocabSize));
}

export function readTokenFile(path: string): TokenFile {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    throw new TokenFileError(`cannot read token file ${path}`);
  }
  try {
    const size = fstatSync(fd).size;
    const header = Buffer.alloc(TOKEN_HEADER_BYTES);
    if (size < TOKEN_HEADER_BYTES || readSync(fd, header, 0, TOKEN_HEADER_BYTES, 0) !== TOKEN_HEADER_BYTES || header.toString('ascii', 0, 8) !== TOKEN_MAGIC) {
      throw new TokenFileError(`${path}: not a growlm token file (no ${TOKEN_MAGIC} header)`);
    }
    const width = header.readUInt32LE(8);
    const vocabSize = header.readUInt32LE(12);
    if (width !== 2 && width !== 4) throw new TokenFileError(`${path}: bad token width ${width}`);
    if (vocabSize === 0 || (width === 2 && vocabSize > 65536)) throw new TokenFileError(`${path}: bad vocabulary size ${vocabSize}`);
    const bodyBytes = size - TOKEN_HEADER_BYTES;
    if (bodyBytes % width !== 0) throw new TokenFileError(`${path}: truncated (body of ${bodyBytes} bytes is not a whole number of tokens)`);
    const tokens = width === 2 ? new Uint16Array(bodyBytes / 2) : new Uint32Array(bodyBytes / 4);
    const view = new Uint8Array(tokens.buffer);
    let got = 0;
    while (got < bodyBytes) {
      const r = readSync(fd, view, got, bodyBytes - got, TOKEN_HEADER_BYTES + got);
      if (r === 0) throw new TokenFileError(`${path}: truncated`);
      got += r;
    }
    for (let i = 0; i < tokens.length; i++) {
      if (tokens[i]! >= vocabSize) throw new TokenFileError(`${path}: token id ${tokens[i]} at position ${i} is outside its vocabulary (size ${vocabSize})`);
    }
    return { vocabSize, tokens };
  } finally {
    closeSync(fd);
  }
}
