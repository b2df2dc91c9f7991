/** Shared test helpers: fixture paths and numeric comparisons. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readTokenFile } from '../src/data/token-file.js';
import type { Batch } from '../src/data/batch.js';

export const FIXTURES = join(import.meta.dirname, 'fixtures');

export function readJson<T = any>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) { num += (a[i]! - b[i]!) ** 2; den += b[i]! ** 2; }
  return Math.sqrt(num / den);
}

/** The reference's batch: the first B·(S+1) tokens of a token file as [B, S+1] rows. */
export function referenceBatch(tokFile: string, B: number, S: number, targets?: number[][]): Batch {
  const { tokens } = readTokenFile(tokFile);
  const inputs = new BigInt64Array(B * S), tgt = new BigInt64Array(B * S);
  for (let r = 0; r < B; r++) {
    for (let t = 0; t < S; t++) {
      inputs[r * S + t] = BigInt(tokens[r * (S + 1) + t]!);
      tgt[r * S + t] = BigInt(targets ? targets[r]![t]! : tokens[r * (S + 1) + t + 1]!);
    }
  }
  return { inputs, targets: tgt, batch: B, seq: S };
}
