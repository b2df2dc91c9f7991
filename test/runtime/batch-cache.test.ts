// The batch cache's row operations: joins left-pad to the longer past, leaves trim the columns that
// only padding holds, each row's values stay right-aligned with its mask.
import { describe, expect, it } from 'vitest';
import { type BatchCache, appendColumn, appendRows, emptyCache, fullCache, keepRows, rowLength, stepMask } from '../../src/runtime/batch-cache.js';

const S = { heads: 2, headDim: 3 };

/** One layer's cache of single-row caches: row r's value at (h, p, d) is 1000·tag + 100·h + 10·p + d. */
function single(tag: number, past: number): BatchCache {
  const t = new Float32Array(S.heads * past * S.headDim);
  for (let h = 0; h < S.heads; h++) for (let p = 0; p < past; p++) for (let d = 0; d < S.headDim; d++) t[(h * past + p) * S.headDim + d] = 1000 * tag + 100 * h + 10 * p + d;
  return fullCache(1, past, new BigInt64Array(past).fill(1n), [t, t.map((x) => -x)]);
}

/** Row r of one tensor as [heads][past][headDim] numbers (0 for padding). */
function row(c: BatchCache, r: number, i = 0): number[][][] {
  return Array.from({ length: S.heads }, (_, h) => Array.from({ length: c.cap }, (_, p) =>
    Array.from(c.tensors[i]!.subarray(((r * S.heads + h) * c.cap + p) * S.headDim, ((r * S.heads + h) * c.cap + p + 1) * S.headDim))));
}

describe('batch cache', () => {
  it('joins left-pad the shorter rows; leaves keep the rest right-aligned and trim all-padding columns', () => {
    let c = appendRows(emptyCache(1), single(1, 2), S);
    c = appendRows(c, single(2, 4), S);
    c = appendRows(c, single(3, 3), S);
    expect([c.rows, c.past]).toEqual([3, 4]);
    expect(Array.from(c.mask)).toEqual([0, 0, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1].map(BigInt));
    expect([0, 1, 2].map((r) => rowLength(c, r))).toEqual([2, 4, 3]);
    expect(row(c, 0)[1]).toEqual([[0, 0, 0], [0, 0, 0], [1100, 1101, 1102], [1110, 1111, 1112]]);
    expect(row(c, 2, 1)[0]![3]).toEqual([-3020, -3021, -3022]);
    expect(Array.from(stepMask(c))).toEqual([0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1].map(BigInt));

    const k = keepRows(c, [2, 0], S); // the longest row leaves: one column of padding goes
    expect([k.rows, k.past]).toEqual([2, 3]);
    expect(Array.from(k.mask)).toEqual([1, 1, 1, 0, 1, 1].map(BigInt));
    expect(row(k, 0)).toEqual(row(single(3, 3), 0));
    expect(row(k, 1)[0]).toEqual([[0, 0, 0], [1000, 1001, 1002], [1010, 1011, 1012]]);
    expect(keepRows(c, [], S)).toMatchObject({ rows: 0, past: 0, cap: 0 });
  });

  it('decode steps write into spare columns in place; the step mask covers them, masked', () => {
    const c = appendRows(appendRows(emptyCache(1), single(1, 1), S), single(2, 2), S, 2);
    expect([c.rows, c.past, c.cap]).toEqual([2, 2, 4]);
    expect(Array.from(stepMask(c))).toEqual([0, 1, 0, 0, 1, 1, 1, 0, 0, 1].map(BigInt));
    const added = [Float32Array.from({ length: 2 * S.heads * S.headDim }, (_, j) => 7000 + j)];
    added.push(added[0]!.map((x) => -x));
    const tensors = c.tensors;
    appendColumn(c, added, S);
    expect(c.tensors).toBe(tensors);
    expect([c.past, c.cap]).toEqual([3, 4]);
    expect(Array.from(c.mask)).toEqual([0, 1, 1, 0, 1, 1, 1, 0].map(BigInt));
    expect(row(c, 1)[1]).toEqual([[2100, 2101, 2102], [2110, 2111, 2112], [7009, 7010, 7011], [0, 0, 0]]);
    expect(row(c, 0, 1)[0]![2]).toEqual([-7000, -7001, -7002]);
    expect([rowLength(c, 0), rowLength(c, 1)]).toEqual([2, 3]);
    appendColumn(c, added, S);
    expect(() => appendColumn(c, added, S)).toThrow(/no spare column/);
  });
});
