/**
 * Corpus → token shards (`growlm data prepare`).
 *
 * Streaming: files are read in chunks (`readChunkBytes`, 1 MiB) with positioned reads, decoded as
 * strict UTF-8 across chunk boundaries, and tokenized in pieces of about `pieceChars` characters
 * cut at a safe boundary (see `safeSplit`); tokens go to shards written incrementally. Memory use
 * is bounded by the chunk and piece sizes (and the longest .jsonl line), not by the corpus.
 *
 * Documents: a .txt file is one document, each non-blank line of a .jsonl file (an object with a
 * text field) is one. Each document is followed by the tokenizer's end-of-text token; a tokenizer
 * without one (the byte tokenizer) gets the text "\n\n" instead.
 *
 * Validation split (whole documents; deterministic; never overlapping training):
 * - a .txt file whose share `val_fraction × size` is at least MIN_SLICE_BYTES contributes its tail:
 *   from the first blank line (else the first line break) at or after byte `size × (1 − f)` to the
 *   end (keeping at least half the share). So every Gutenberg book gives its last ~1% to
 *   validation, which keeps val in-distribution.
 * - any other document (a .jsonl line, a small .txt file) goes wholly to train or val, chosen by
 *   error diffusion over document bytes: val gets ≈ f of those bytes, spread evenly in order.
 * `valTokens: N` turns N into a fraction from a tokenized sample of the corpus (so it is
 * approximate; meta.json has the exact count).
 *
 * Output is written into a temporary folder inside the output directory and moved into place at
 * the end, meta.json last; on failure the temporary folder (and the output directory, if this run
 * created it) is removed, and an existing dataset replaced with `force` stays intact.
 */
import { closeSync, existsSync, mkdirSync, openSync, readSync, readdirSync, renameSync, rmSync, copyFileSync, statSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import { pausePoint } from '../util/pause-point.js';
import { pidAlive } from '../util/dir-lock.js';
import { GrowlmError, InvalidSettingError, OutputExistsError } from '../util/errors.js';
import { DATASET_FORMAT, DATASET_VERSION, type DatasetMeta, META_FILE, type SplitMeta, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE, VAL_FILE, isDatasetDir } from './meta.js';
import { MODEL_CONFIG_FILE, isModelDir } from '../util/dir-kinds.js';
import { builtinSources, pathSources, type SourceFile, type Sources } from './sources.js';
import { ShardedTokenWriter, TokenWriter, tokenWidth } from './token-writer.js';
import { ByteTokenizer, loadTokenizer, type Tokenizer } from './tokenizer.js';
import { findInvalidUtf8, Utf8StreamDecoder } from './utf8.js';

export const DEFAULT_SHARD_TOKENS = 64 * 1024 * 1024;
export const DEFAULT_VAL_FRACTION = 0.01;
export const DEFAULT_MIN_TRAIN_TOKENS = 1024;
/** A .txt file whose validation share is at least this many bytes gives its tail to validation. */
export const MIN_SLICE_BYTES = 64;
const TAIL_SEARCH_BYTES = 64 * 1024;
const BYTE_SEPARATOR = '\n\n';

export interface PrepareProgress {
  bytes: number;
  totalBytes: number;
  tokens: number;
  file: string;
}

export interface PrepareOptions {
  /** A built-in corpus name ('gutenberg'), or … */
  builtin?: string;
  /** … input paths (.txt, .jsonl, folders). */
  inputs?: string[];
  /** 'byte', 'gpt2', a tokenizer.json path, or a loaded tokenizer. */
  tokenizer: string | Tokenizer;
  outDir: string;
  /** Fraction of the text held out for validation (default 0.01). */
  valFraction?: number;
  /** Hold out about this many tokens instead. */
  valTokens?: number;
  /** Text field of .jsonl objects (default 'text'). */
  textField?: string;
  /** Replace a dataset already in outDir. */
  force?: boolean;
  shardTokens?: number;
  minTrainTokens?: number;
  readChunkBytes?: number;
  pieceChars?: number;
  onProgress?: (p: PrepareProgress) => void;
  signal?: AbortSignal;
}

export interface PrepareResult {
  dir: string;
  meta: DatasetMeta;
}

export class DataError extends GrowlmError {}

/** A .jsonl line has no text field of the configured name. */
export class MissingTextFieldError extends DataError {
  override name = 'MissingTextFieldError';
  constructor(readonly file: string, readonly line: number, readonly field: string) {
    super(`${file}:${line}: no "${field}" field`);
  }
}

/**
 * The document of one .jsonl line (`line`, without its newline, at byte `offset` of `file`): the
 * string in its `field`, or undefined for a blank line; a DataError for anything else.
 */
export function jsonlDocument(line: Uint8Array, file: string, lineNo: number, offset: number, field: string): string | undefined {
  let i = 0;
  while (i < line.length && (line[i] === 0x20 || line[i] === 0x09 || line[i] === 0x0d)) i++;
  if (i === line.length) return undefined;
  if (!isUtf8(line)) {
    const at = Math.max(0, findInvalidUtf8(line));
    throw new DataError(`${file}:${lineNo}: invalid UTF-8 at byte offset ${offset + at}`);
  }
  let s = Buffer.from(line.buffer, line.byteOffset, line.byteLength).toString('utf8');
  if (lineNo === 1 && s.charCodeAt(0) === 0xfeff) s = s.slice(1);
  let obj: unknown;
  try {
    obj = JSON.parse(s);
  } catch (e) {
    throw new DataError(`${file}:${lineNo}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new DataError(`${file}:${lineNo}: not a JSON object`);
  const text = (obj as Record<string, unknown>)[field];
  if (text === undefined) throw new MissingTextFieldError(file, lineNo, field);
  if (typeof text !== 'string') throw new DataError(`${file}:${lineNo}: field "${field}" is not a string`);
  return text;
}

/** Token ids and text bytes going to one split. */
interface SplitSink extends SplitMeta {
  append(ids: ArrayLike<number>): void;
}

function isAsciiWord(c: number): boolean {
  return c > 0x20 && c < 0x7f;
}

function isWs(ch: string): boolean {
  return /\s/u.test(ch);
}

/**
 * Where to cut `s` (at most `s.length`, at least 1) so that tokenizing the two parts separately
 * gives the same ids as tokenizing `s` whole. Preferred: just before a single space between two
 * visible ASCII characters — exact for GPT-2-style regex pre-tokenizers (byte-level BPE), whitespace
 * pre-tokenizers and Metaspace ("▁") ones. Text without such a place (e.g. long runs of CJK) is cut
 * after a line break, or at worst anywhere outside a surrogate pair, once the buffer is 4× the
 * piece size; those rare cuts may differ from whole-text tokenization by a token at the cut.
 */
export function safeSplit(s: string, pieceChars: number): number {
  for (let p = s.length - 2; p >= 1; p--) {
    if (s.charCodeAt(p) === 0x20 && isAsciiWord(s.charCodeAt(p - 1)) && isAsciiWord(s.charCodeAt(p + 1))) return p;
  }
  if (s.length < 4 * pieceChars) return 0;
  for (let p = s.length - 2; p >= 1; p--) {
    if (s.charCodeAt(p - 1) === 0x0a && !isWs(s[p]!) && p >= 2 && !isWs(s[p - 2]!)) return p;
  }
  let p = pieceChars;
  const c = s.charCodeAt(p - 1);
  if (c >= 0xd800 && c <= 0xdbff) p++;
  return p;
}

/** Tokenizes one document at a time, in pieces, into a split. */
class DocumentEncoder {
  private buf = '';
  private sink: SplitSink | undefined;
  private docBytes = 0;
  private readonly byteFast: ByteTokenizer | undefined;
  private readonly separator: ArrayLike<number>;
  private readonly separatorBytes: number;
  tokens = 0;

  constructor(private readonly tok: Tokenizer, private readonly pieceChars: number) {
    this.byteFast = tok instanceof ByteTokenizer ? tok : undefined;
    if (tok.eotId !== undefined) {
      this.separator = [tok.eotId];
      this.separatorBytes = 0;
    } else {
      this.separator = tok.encode(BYTE_SEPARATOR);
      this.separatorBytes = Buffer.byteLength(BYTE_SEPARATOR);
    }
  }

  begin(sink: SplitSink): void {
    this.sink = sink;
    this.buf = '';
    this.docBytes = 0;
  }

  push(text: string): void {
    if (text.length === 0) return;
    this.buf += text;
    if (this.buf.length >= this.pieceChars) {
      const cut = safeSplit(this.buf, this.pieceChars);
      if (cut > 0) {
        const head = this.buf.slice(0, cut);
        this.buf = this.buf.slice(cut);
        this.encode(head);
      }
    }
  }

  end(): void {
    if (this.buf.length > 0) this.encode(this.buf);
    this.buf = '';
    if (this.docBytes > 0) {
      this.write(this.separator);
      this.sink!.bytes += this.separatorBytes;
      this.sink!.documents++;
    }
    this.sink = undefined;
  }

  private encode(text: string): void {
    const ids = this.byteFast ? this.byteFast.encodeBytes(text) : this.tok.encode(text);
    const bytes = this.byteFast ? ids.length : Buffer.byteLength(text, 'utf8');
    this.docBytes += bytes;
    this.sink!.bytes += bytes;
    this.write(ids);
  }

  private write(ids: ArrayLike<number>): void {
    this.sink!.append(ids);
    this.sink!.tokens += ids.length;
    this.tokens += ids.length;
  }
}

/**
 * Where the validation tail of a text file starts: the first byte after a blank line (else after a
 * line break) at or after `from`, leaving the tail at least `minTail` bytes; undefined if none.
 */
function findTailCut(fd: number, size: number, from: number, minTail: number): number | undefined {
  const len = Math.min(TAIL_SEARCH_BYTES, size - from);
  if (len <= 0) return undefined;
  const w = Buffer.allocUnsafe(len);
  let got = 0;
  while (got < len) {
    const r = readSync(fd, w, got, len - got, from + got);
    if (r === 0) break;
    got += r;
  }
  let firstNl: number | undefined;
  for (let i = 0; i < got && size - (from + i + 1) >= minTail; i++) {
    if (w[i] !== 0x0a) continue;
    firstNl ??= from + i + 1;
    if (w[i + 1] === 0x0a) return from + i + 2;
    if (w[i + 1] === 0x0d && w[i + 2] === 0x0a) return from + i + 3;
  }
  return firstNl;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Sample the corpus to turn a token count into a fraction of the bytes. */
function estimateTokensPerByte(files: SourceFile[], tok: Tokenizer, field: string): number {
  const picks = files.length <= 8 ? files : Array.from({ length: 8 }, (_, i) => files[Math.floor((i * files.length) / 8)]!);
  let tokens = 0, bytes = 0;
  for (const f of picks) {
    const n = Math.min(f.size, 128 * 1024);
    if (n === 0) continue;
    const buf = Buffer.allocUnsafe(n);
    const fd = openSync(f.path, 'r');
    let got = 0;
    try {
      got = readSync(fd, buf, 0, n, 0);
    } finally {
      closeSync(fd);
    }
    let text = f.encoding === 'latin1' ? buf.toString('latin1', 0, got) : buf.toString('utf8', 0, got);
    let used = got;
    if (f.type === 'jsonl') {
      const lastNl = buf.lastIndexOf(0x0a, got - 1);
      const complete = lastNl >= 0 && got < f.size ? buf.toString('utf8', 0, lastNl) : text;
      used = lastNl >= 0 && got < f.size ? lastNl + 1 : got;
      text = complete.split('\n').map((l) => {
        try {
          const v = (JSON.parse(l) as Record<string, unknown>)[field];
          return typeof v === 'string' ? v : '';
        } catch {
          return '';
        }
      }).join(BYTE_SEPARATOR);
    }
    tokens += tok.encode(text).length;
    bytes += used;
  }
  return bytes > 0 ? tokens / bytes : 1;
}

export async function prepareDataset(opts: PrepareOptions): Promise<PrepareResult> {
  const t0 = performance.now();
  if ((opts.builtin === undefined) === (opts.inputs === undefined || opts.inputs.length === 0)) {
    throw new InvalidSettingError('builtin', 'give either a builtin corpus or inputs');
  }
  if (opts.valFraction !== undefined && opts.valTokens !== undefined) throw new InvalidSettingError('valTokens', 'give either valFraction or valTokens, not both');
  if (opts.valFraction !== undefined && !(opts.valFraction > 0 && opts.valFraction <= 0.5)) throw new InvalidSettingError('valFraction', `valFraction must be in (0, 0.5], got ${opts.valFraction}`);
  if (opts.valTokens !== undefined && !(Number.isSafeInteger(opts.valTokens) && opts.valTokens >= 1)) throw new InvalidSettingError('valTokens', `valTokens must be a positive integer, got ${opts.valTokens}`);
  const field = opts.textField ?? 'text';
  const shardTokens = opts.shardTokens ?? DEFAULT_SHARD_TOKENS;
  const minTrain = opts.minTrainTokens ?? DEFAULT_MIN_TRAIN_TOKENS;
  const chunkBytes = opts.readChunkBytes ?? 1 << 20;
  const pieceChars = opts.pieceChars ?? 1 << 18;
  const outDir = opts.outDir;

  // Everything that can be checked before writing anything.
  if (existsSync(outDir)) {
    if (!statSync(outDir).isDirectory()) throw new DataError(`output ${outDir} exists and is not a folder`);
    if (isModelDir(outDir)) throw new DataError(`${outDir} holds a model (${MODEL_CONFIG_FILE}), not a dataset: choose another output folder`);
    if (isDatasetDir(outDir) && !opts.force) throw new OutputExistsError(outDir, 'a dataset');
  }
  const sources: Sources = opts.builtin !== undefined ? builtinSources(opts.builtin) : pathSources(opts.inputs!);
  if (sources.totalBytes === 0) throw new DataError('the input is empty (no text)');
  const tok = typeof opts.tokenizer === 'string' ? await loadTokenizer(opts.tokenizer) : opts.tokenizer;

  let valFraction = opts.valFraction ?? DEFAULT_VAL_FRACTION;
  if (opts.valTokens !== undefined) {
    const estTotal = sources.totalBytes * estimateTokensPerByte(sources.files, tok, field);
    if (opts.valTokens > estTotal / 2) throw new DataError(`the ${opts.valTokens} validation tokens asked for are more than half of the corpus (about ${Math.round(estTotal)} tokens)`);
    valFraction = opts.valTokens / estTotal;
  }

  const created = mkdirSync(outDir, { recursive: true });
  removeStaleTemps(outDir);
  const tmp = join(outDir, `.prepare-${process.pid}-${Date.now().toString(36)}.tmp`);
  mkdirSync(tmp);
  const train = new ShardedTokenWriter(tmp, 'train', tok.vocabSize, shardTokens);
  const valWriter = new TokenWriter(join(tmp, VAL_FILE), tok.vocabSize);
  const trainSink: SplitSink = { tokens: 0, bytes: 0, documents: 0, append: (ids) => train.append(ids) };
  const valSink: SplitSink = { tokens: 0, bytes: 0, documents: 0, append: (ids) => valWriter.append(ids) };
  const enc = new DocumentEncoder(tok, pieceChars);
  let bytesRead = 0;
  let deficit = 0;
  let emptyDocs = 0;
  let currentFile = '';

  const progress = (n: number): void => {
    bytesRead += n;
    opts.onProgress?.({ bytes: bytesRead, totalBytes: sources.totalBytes, tokens: enc.tokens, file: currentFile });
  };
  const checkAbort = (): void => {
    if (opts.signal?.aborted) throw new DataError('interrupted');
  };
  /** Whole-document assignment: keeps val at ≈ f of these documents' bytes. */
  const chooseWhole = (bytes: number): SplitSink => {
    deficit += valFraction * bytes;
    if (deficit >= bytes / 2) {
      deficit -= bytes;
      return valSink;
    }
    return trainSink;
  };

  /** Stream bytes [start, end) of a text file as one document into `sink`. */
  const streamRange = async (fd: number, file: SourceFile, start: number, end: number, sink: SplitSink): Promise<void> => {
    enc.begin(sink);
    const dec = file.encoding === 'utf8' ? new Utf8StreamDecoder(file.name, start === 0) : undefined;
    let pos = start;
    while (pos < end) {
      const n = Math.min(chunkBytes, end - pos);
      const buf = Buffer.allocUnsafe(n);
      const r = readSync(fd, buf, 0, n, pos);
      if (r === 0) throw new DataError(`${file.name}: file shrank while being read`);
      const chunk = buf.subarray(0, r);
      enc.push(dec ? dec.push(chunk, pos) : chunk.toString('latin1'));
      pos += r;
      progress(r);
      checkAbort();
      await tick();
    }
    dec?.end();
    enc.end();
  };

  const processTxt = async (file: SourceFile): Promise<void> => {
    const fd = openSync(file.path, 'r');
    try {
      const size = file.size;
      let cut: number | undefined;
      const share = valFraction * size;
      if (share >= MIN_SLICE_BYTES) cut = findTailCut(fd, size, Math.floor(size - share), Math.ceil(share / 2));
      if (cut !== undefined && cut < size) {
        await streamRange(fd, file, 0, cut, trainSink);
        await streamRange(fd, file, cut, size, valSink);
      } else {
        await streamRange(fd, file, 0, size, chooseWhole(size));
      }
    } finally {
      closeSync(fd);
    }
  };

  const processJsonl = async (file: SourceFile): Promise<void> => {
    const fd = openSync(file.path, 'r');
    let lineNo = 0;
    const handleLine = (line: Buffer, offset: number): void => {
      lineNo++;
      const text = jsonlDocument(line, file.name, lineNo, offset, field);
      if (text === undefined) return;
      if (text.length === 0) {
        emptyDocs++;
        return;
      }
      enc.begin(chooseWhole(Buffer.byteLength(text, 'utf8')));
      enc.push(text);
      enc.end();
    };
    try {
      let carry: Buffer[] = [];
      let lineStart = 0;
      let pos = 0;
      while (pos < file.size) {
        const n = Math.min(chunkBytes, file.size - pos);
        const buf = Buffer.allocUnsafe(n);
        const r = readSync(fd, buf, 0, n, pos);
        if (r === 0) throw new DataError(`${file.name}: file shrank while being read`);
        const chunk = buf.subarray(0, r);
        let s = 0;
        for (let nl = chunk.indexOf(0x0a, 0); nl !== -1; nl = chunk.indexOf(0x0a, s)) {
          const piece = chunk.subarray(s, nl);
          handleLine(carry.length ? Buffer.concat([...carry, piece]) : piece, lineStart);
          carry = [];
          s = nl + 1;
          lineStart = pos + s;
        }
        if (s < r) carry.push(chunk.subarray(s));
        pos += r;
        progress(r);
        checkAbort();
        await tick();
      }
      if (carry.length) handleLine(Buffer.concat(carry), lineStart);
    } finally {
      closeSync(fd);
    }
  };

  let ok = false;
  try {
    for (const file of sources.files) {
      currentFile = file.name;
      if (file.size === 0) continue;
      if (file.type === 'txt') await processTxt(file);
      else await processJsonl(file);
    }
    train.close();
    valWriter.close();
    if (trainSink.tokens < minTrain) {
      throw new DataError(`too little text: ${trainSink.tokens} training tokens (need at least ${minTrain})`);
    }
    if (valSink.tokens < 2) {
      throw new DataError(`the validation split is empty (${trainSink.documents} training documents; raise the validation fraction or add documents)`);
    }
    // Copy the tokenizer files so the dataset is self-contained.
    for (const [src, name] of tok.files) copyFileSync(src, join(tmp, name));
    const seconds = (performance.now() - t0) / 1000;
    const tokens = trainSink.tokens + valSink.tokens;
    const meta: DatasetMeta = {
      format: DATASET_FORMAT,
      version: DATASET_VERSION,
      created: new Date().toISOString(),
      tokenizer: tok.meta(),
      token_bytes: tokenWidth(tok.vocabSize),
      document_separator: tok.eotId !== undefined ? { kind: 'eot', id: tok.eotId } : { kind: 'text', text: BYTE_SEPARATOR },
      source: { ...sources.description, ...(sources.files.some((f) => f.type === 'jsonl') ? { text_field: field } : {}) },
      split: {
        method: `tail of each .txt file whose val share is ≥ ${MIN_SLICE_BYTES} bytes (from the next blank line); other documents whole, by error diffusion over bytes`,
        val_fraction: valFraction,
        ...(opts.valTokens !== undefined ? { val_tokens_requested: opts.valTokens } : {}),
      },
      train: { tokens: trainSink.tokens, bytes: trainSink.bytes, documents: trainSink.documents, shard_tokens: shardTokens, shards: train.shards.map((s) => ({ ...s })) },
      val: { file: VAL_FILE, tokens: valSink.tokens, bytes: valSink.bytes, documents: valSink.documents },
      throughput: { seconds, tokens_per_s: tokens / seconds, bytes_per_s: sources.totalBytes / seconds },
    };
    if (emptyDocs > 0) meta.source.empty_documents_skipped = emptyDocs;
    pausePoint('data-commit');
    commit(outDir, tmp, meta, Boolean(opts.force));
    ok = true;
    return { dir: outDir, meta };
  } finally {
    if (!ok) {
      train.abort();
      valWriter.abort();
      rmSync(tmp, { recursive: true, force: true });
      if (created !== undefined) rmSync(created, { recursive: true, force: true });
    }
  }
}


/** Temporary folders left by interrupted runs (whose process is gone). */
function removeStaleTemps(dir: string): void {
  for (const f of readdirSync(dir)) {
    const m = /^\.prepare-(\d+)-[0-9a-z]+\.tmp$/.exec(f);
    if (m && !pidAlive(Number(m[1]))) rmSync(join(dir, f), { recursive: true, force: true });
  }
}

/** Move the prepared files from `tmp` into `dir` (replacing an old dataset), meta.json last. */
function commit(dir: string, tmp: string, meta: DatasetMeta, force: boolean): void {
  if (force) {
    // meta.json goes first, so an interrupted replacement leaves no valid dataset behind.
    rmSync(join(dir, META_FILE), { force: true });
    for (const f of readdirSync(dir)) {
      if (f === VAL_FILE || f === TOKENIZER_FILE || f === TOKENIZER_CONFIG_FILE || /^train-\d+\.tok$/.test(f)) rmSync(join(dir, f), { force: true });
    }
  }
  for (const f of readdirSync(tmp)) renameSync(join(tmp, f), join(dir, f));
  pausePoint('data-replace');
  writeFileAtomic(join(dir, META_FILE), [JSON.stringify(meta, null, 2) + '\n']);
  rmSync(tmp, { recursive: true, force: true });
}
