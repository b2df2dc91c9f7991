/**
 * The KV cache of a continuously batched decoder, kept in JavaScript between steps: per layer a key
 * and a value [rows, kv_heads, past, head_dim] and an attention mask [rows, past]. Every row is
 * left-padded (its real tokens are the last of its row, padding masked), the layout KvSession's
 * batched prefill produces, so one decode step appends a column to all rows at once.
 *
 * A sequence joins by being prefilled alone and merged in (both caches left-padded to the longer
 * past); a finished one leaves by its row being dropped (and the leading columns that only padding
 * holds then, trimmed). These copies happen when the batch changes, not at every step.
 */

export interface BatchCache {
  rows: number;
  past: number;
  /** [rows, past]: 1 for real tokens, 0 for padding. */
  mask: BigInt64Array;
  /** Per layer key then value, each [rows, heads, past, headDim]. */
  tensors: Float32Array[];
}

/** Shape of one cache entry apart from rows and past. */
export interface CacheShape {
  heads: number;
  headDim: number;
}

export function emptyCache(layers: number): BatchCache {
  return { rows: 0, past: 0, mask: new BigInt64Array(0), tensors: Array.from({ length: 2 * layers }, () => new Float32Array(0)) };
}

/** The real length of row r (its unmasked tokens). */
export function rowLength(c: BatchCache, r: number): number {
  let n = 0;
  for (let p = 0; p < c.past; p++) n += Number(c.mask[r * c.past + p]);
  return n;
}

/** Copy row `r` of `src` (past `from`) into row `dst` of `out` (past `to` ≥ from), right-aligned, dropping the first `skip` columns of src. */
function copyRow(src: Float32Array, r: number, from: number, skip: number, out: Float32Array, dst: number, to: number, s: CacheShape): void {
  const { heads, headDim: D } = s;
  const keep = from - skip;
  for (let h = 0; h < heads; h++) {
    const a = ((r * heads + h) * from + skip) * D;
    const b = ((dst * heads + h) * to + (to - keep)) * D;
    out.set(src.subarray(a, a + keep * D), b);
  }
}

/** The rows of `a` followed by the rows of `b`, both left-padded to the longer past. */
export function appendRows(a: BatchCache, b: BatchCache, s: CacheShape): BatchCache {
  if (a.rows === 0) return b;
  const past = Math.max(a.past, b.past), rows = a.rows + b.rows;
  const mask = new BigInt64Array(rows * past);
  const put = (c: BatchCache, offset: number) => {
    for (let r = 0; r < c.rows; r++) mask.set(c.mask.subarray(r * c.past, (r + 1) * c.past), (offset + r) * past + past - c.past);
  };
  put(a, 0);
  put(b, a.rows);
  const tensors = a.tensors.map((ta, i) => {
    const out = new Float32Array(rows * s.heads * past * s.headDim);
    for (let r = 0; r < a.rows; r++) copyRow(ta, r, a.past, 0, out, r, past, s);
    for (let r = 0; r < b.rows; r++) copyRow(b.tensors[i]!, r, b.past, 0, out, a.rows + r, past, s);
    return out;
  });
  return { rows, past, mask, tensors };
}

/** Only the given rows (in that order), without the leading columns that are padding in all of them. */
export function keepRows(c: BatchCache, keep: readonly number[], s: CacheShape): BatchCache {
  const rows = keep.length;
  let skip = c.past;
  for (const r of keep) {
    let p = 0;
    while (p < skip && c.mask[r * c.past + p] === 0n) p++;
    skip = Math.min(skip, p);
  }
  if (rows === 0) skip = c.past;
  const past = c.past - skip;
  const mask = new BigInt64Array(rows * past);
  keep.forEach((r, i) => mask.set(c.mask.subarray(r * c.past + skip, (r + 1) * c.past), i * past));
  const tensors = c.tensors.map((t) => {
    const out = new Float32Array(rows * s.heads * past * s.headDim);
    keep.forEach((r, i) => copyRow(t, r, c.past, skip, out, i, past, s));
    return out;
  });
  return { rows, past, mask, tensors };
}

/** The attention mask of a decode step: each row's mask with a 1 appended. */
export function stepMask(c: BatchCache): BigInt64Array {
  const n = c.past + 1;
  const out = new BigInt64Array(c.rows * n);
  for (let r = 0; r < c.rows; r++) {
    out.set(c.mask.subarray(r * c.past, (r + 1) * c.past), r * n);
    out[r * n + c.past] = 1n;
  }
  return out;
}
