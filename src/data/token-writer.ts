/**
 * Incremental writers of token files (`.tok`, see token-file.ts): tokens are appended in pieces and
 * flushed in large writes, so a corpus never has to fit in memory. `ShardedTokenWriter` rolls over
 * to a new file (`train-00000.tok`, `train-00001.tok`, …) every `shardTokens` tokens.
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { TOKEN_HEADER_BYTES, TOKEN_MAGIC, TokenFileError } from './token-file.js';

const BUFFER_TOKENS = 1 << 20;

export function tokenWidth(vocabSize: number): 2 | 4 {
  return vocabSize <= 65536 ? 2 : 4;
}

export function tokenFileHeader(vocabSize: number): Buffer {
  const header = Buffer.alloc(TOKEN_HEADER_BYTES);
  header.write(TOKEN_MAGIC, 0, 'ascii');
  header.writeUInt32LE(tokenWidth(vocabSize), 8);
  header.writeUInt32LE(vocabSize, 12);
  return header;
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.byteLength) off += writeSync(fd, bytes, off, bytes.byteLength - off);
}

/** One token file, written incrementally; `close()` flushes and fsyncs it. */
export class TokenWriter {
  private fd: number;
  private buf: Uint16Array | Uint32Array;
  private used = 0;
  /** Tokens appended so far. */
  count = 0;

  constructor(readonly path: string, readonly vocabSize: number) {
    if (!Number.isInteger(vocabSize) || vocabSize <= 0) throw new TokenFileError(`bad vocabulary size ${vocabSize}`);
    this.buf = tokenWidth(vocabSize) === 2 ? new Uint16Array(BUFFER_TOKENS) : new Uint32Array(BUFFER_TOKENS);
    this.fd = openSync(path, 'w');
    writeAll(this.fd, tokenFileHeader(vocabSize));
  }

  /** Append ids[from, to). */
  append(ids: ArrayLike<number>, from = 0, to = ids.length): void {
    const V = this.vocabSize;
    for (let i = from; i < to; i++) {
      const t = ids[i]!;
      // `t >= 0 && t < V` is false for undefined/NaN too; the integer test is needed for fractions.
      if (!(t >= 0 && t < V) || t !== Math.floor(t)) throw new TokenFileError(`token id ${t} is outside the vocabulary (size ${V})`);
      this.buf[this.used++] = t;
      if (this.used === this.buf.length) this.flush();
    }
    this.count += to - from;
  }

  private flush(): void {
    if (this.used === 0) return;
    writeAll(this.fd, new Uint8Array(this.buf.buffer, 0, this.used * this.buf.BYTES_PER_ELEMENT));
    this.used = 0;
  }

  close(): void {
    if (this.fd < 0) return;
    try {
      this.flush();
      fsyncSync(this.fd);
    } finally {
      closeSync(this.fd);
      this.fd = -1;
    }
  }

  /** Close without flushing (on failure; the caller removes the file). */
  abort(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

export interface ShardInfo {
  file: string;
  tokens: number;
}

/** Token shards `${prefix}-00000.tok`, … in `dir`, each at most `shardTokens` tokens. */
export class ShardedTokenWriter {
  private current: TokenWriter | undefined;
  readonly shards: ShardInfo[] = [];
  count = 0;

  constructor(readonly dir: string, readonly prefix: string, readonly vocabSize: number, readonly shardTokens: number) {
    if (!Number.isSafeInteger(shardTokens) || shardTokens < 1) throw new TokenFileError(`bad shard size ${shardTokens}`);
  }

  append(ids: ArrayLike<number>): void {
    let i = 0;
    while (i < ids.length) {
      if (!this.current) {
        const file = `${this.prefix}-${String(this.shards.length).padStart(5, '0')}.tok`;
        this.current = new TokenWriter(join(this.dir, file), this.vocabSize);
        this.shards.push({ file, tokens: 0 });
      }
      const n = Math.min(ids.length - i, this.shardTokens - this.current.count);
      this.current.append(ids, i, i + n);
      i += n;
      this.count += n;
      this.shards[this.shards.length - 1]!.tokens = this.current.count;
      if (this.current.count === this.shardTokens) {
        this.current.close();
        this.current = undefined;
      }
    }
  }

  close(): void {
    this.current?.close();
    this.current = undefined;
  }

  abort(): void {
    this.current?.abort();
    this.current = undefined;
  }
}
