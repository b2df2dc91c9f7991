/**
 * The KV cache of a continuously batched decoder, kept in JavaScript between steps: per layer a key
 * and a value [rows, kv_heads, cap, head_dim] and an attention mask [rows, cap]. Columns [0, past)
 * hold the tokens so far, every row left-padded (its real tokens the last of that range, padding
 * masked), the layout KvSession's batched prefill produces; columns [past, cap) are spare room,
 * masked and zero. The whole `cap` columns go to the graph as its past; a decode step writes the
 * new token's key and value (the graph's `new.*` outputs) into column `past` of every row, so a
 * step copies no cache through JavaScript (fetching `present.*` costs ≈ 0.2 ms per MB: 15 MB at
 * batch 8 after 100 tokens on bench-small). Masked columns add exact zeros to the attention, so
 * where the spare room sits changes no result.
 *
 * A sequence joins by being prefilled and merged in (both caches left-padded to the longer past);
 * a finished one leaves by its row being dropped (and the leading columns that only padding holds
 * then, trimmed). These copies happen when the batch changes, not at every step.
 */

/** Spare columns allocated ahead when a cache grows, so that decode steps write in place. */
export const SPARE_COLUMNS = 32;

export interface BatchCache {
  rows: number;
  /** Columns in use. */
  past: number;
  /** Columns allocated (≥ past). */
  cap: number;
  /** [rows, cap]: 1 for real tokens, 0 for padding and spare room. */
  mask: BigInt64Array;
  /** Per layer key then value, each [rows, heads, cap, headDim]. */
  tensors: Float32Array[];
}

/** Shape of one cache entry apart from rows and columns. */
export interface CacheShape {
  heads: number;
  headDim: number;
}

export function emptyCache(layers: number): BatchCache {
  return { rows: 0, past: 0, cap: 0, mask: new BigInt64Array(0), tensors: Array.from({ length: 2 * layers }, () => new Float32Array(0)) };
}

/** A cache of `rows` rows whose `past` columns are all in use (a prefill's present outputs). */
export function fullCache(rows: number, past: number, mask: BigInt64Array, tensors: Float32Array[]): BatchCache {
  return { rows, past, cap: past, mask, tensors };
}

/** The real length of row r (its unmasked tokens). */
export function rowLength(c: BatchCache, r: number): number {
  let n = 0;
  for (let p = 0; p < c.past; p++) n += Number(c.mask[r * c.cap + p]);
  return n;
}

/**
 * Copy columns [skip, c.past) of row `r` of tensor `src` (of cache c) into row `dst` of `out`
 * (`cap` columns), ending at column `end`.
 */
function copyRow(c: BatchCache, src: Float32Array, r: number, skip: number, out: Float32Array, dst: number, cap: number, end: number, s: CacheShape): void {
  const { heads, headDim: D } = s;
  const keep = c.past - skip;
  for (let h = 0; h < heads; h++) {
    const a = ((r * heads + h) * c.cap + skip) * D;
    const b = ((dst * heads + h) * cap + (end - keep)) * D;
    out.set(src.subarray(a, a + keep * D), b);
  }
}

/** The mask row r of c, columns [skip, past), into `out` at row dst (cap columns), ending at column end. */
function copyMask(c: BatchCache, r: number, skip: number, out: BigInt64Array, dst: number, cap: number, end: number): void {
  out.set(c.mask.subarray(r * c.cap + skip, r * c.cap + c.past), dst * cap + end - (c.past - skip));
}

/** The rows of `a` followed by the rows of `b`, both left-padded to the longer past, with `spare` columns of room. */
export function appendRows(a: BatchCache, b: BatchCache, s: CacheShape, spare = 0): BatchCache {
  const past = Math.max(a.past, b.past), rows = a.rows + b.rows, cap = past + spare;
  const mask = new BigInt64Array(rows * cap);
  for (let r = 0; r < a.rows; r++) copyMask(a, r, 0, mask, r, cap, past);
  for (let r = 0; r < b.rows; r++) copyMask(b, r, 0, mask, a.rows + r, cap, past);
  const tensors = b.tensors.map((tb, i) => {
    const out = new Float32Array(rows * s.heads * cap * s.headDim);
    for (let r = 0; r < a.rows; r++) copyRow(a, a.tensors[i]!, r, 0, out, r, cap, past, s);
    for (let r = 0; r < b.rows; r++) copyRow(b, tb, r, 0, out, a.rows + r, cap, past, s);
    return out;
  });
  return { rows, past, cap, mask, tensors };
}

/** Only the given rows (in that order), without the leading columns that are padding in all of them, with `spare` columns of room. */
export function keepRows(c: BatchCache, keep: readonly number[], s: CacheShape, spare = 0): BatchCache {
  const rows = keep.length;
  let skip = c.past;
  for (const r of keep) {
    let p = 0;
    while (p < skip && c.mask[r * c.cap + p] === 0n) p++;
    skip = Math.min(skip, p);
  }
  const past = c.past - skip, cap = rows === 0 ? 0 : past + spare;
  const mask = new BigInt64Array(rows * cap);
  keep.forEach((r, i) => copyMask(c, r, skip, mask, i, cap, past));
  const tensors = c.tensors.map((t) => {
    const out = new Float32Array(rows * s.heads * cap * s.headDim);
    keep.forEach((r, i) => copyRow(c, t, r, skip, out, i, cap, past, s));
    return out;
  });
  return { rows, past: rows === 0 ? 0 : past, cap, mask, tensors };
}

/** The attention mask of a decode step against all `cap` columns: each row's mask with a 1 appended. */
export function stepMask(c: BatchCache): BigInt64Array {
  const n = c.cap + 1;
  const out = new BigInt64Array(c.rows * n);
  for (let r = 0; r < c.rows; r++) {
    out.set(c.mask.subarray(r * c.cap, (r + 1) * c.cap), r * n);
    out[r * n + c.cap] = 1n;
  }
  return out;
}

/** Write one decode step's keys and values ([rows, heads, 1, headDim] per entry) into column `past` (in place; needs past < cap). */
export function appendColumn(c: BatchCache, added: readonly Float32Array[], s: CacheShape): void {
  if (c.past >= c.cap) throw new Error('batch cache: no spare column');
  const { heads, headDim: D } = s;
  c.tensors.forEach((t, i) => {
    const src = added[i]!;
    for (let rh = 0; rh < c.rows * heads; rh++) t.set(src.subarray(rh * D, (rh + 1) * D), (rh * c.cap + c.past) * D);
  });
  for (let r = 0; r < c.rows; r++) c.mask[r * c.cap + c.past] = 1n;
  c.past++;
}
