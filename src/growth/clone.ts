/**
 * clone (HyperCloning) of one tensor, for growths by integer factors: the output dims are
 * duplicated, the input dims too with the weights divided by their factor, so W'·[x; x] = [Wx; Wx].
 * Hidden dims, heads and FFN units grow this way; what cloning cannot do falls back to mask-free
 * (plan.ts): a non-integer FFN factor's new units, new layers' zero output projections.
 */
import { type Rng, fillNormalFast } from '../util/rng.js';
import { expand, tile } from './tensors.js';
import { type Role, isNorm } from './types.js';

/**
 * The cloned [r2, c2] tensor of `role` from its [r1, c1] `data`, or undefined where cloning does not
 * apply (neither factor an integer, a new layer's output projections). Moments: old entries kept,
 * new ones zero. `rng`/`std` draw the inputs of new FFN units under a non-integer factor.
 */
export function cloneTensor(role: Role, newLayer: boolean, data: Float32Array, r1: number, c1: number, r2: number, c2: number, moments: boolean, rng: Rng, std: number): Float32Array | undefined {
  if (newLayer && (role === 'o' || role === 'down')) return undefined; // zero outputs: the new layer is an identity
  if (moments) return expand(data, r1, c1, r2, c2, () => {}); // old moments kept, new entries zero
  const rowsTile = r2 % r1 === 0, colsTile = c2 % c1 === 0;
  // an embedding's columns and norm gains are produced values: duplicated, not divided
  const scale = role === 'embed' || isNorm(role) || !colsTile ? 1 : c1 / c2;
  if (rowsTile && colsTile) return tile(data, r1, c1, r2, c2, scale);
  if (colsTile) {
    // gate/up under a non-integer FFN factor: old units read the duplicated hidden dims; new units
    // get random inputs (their down_proj columns are zero)
    const out = new Float32Array(r2 * c2);
    out.set(tile(data, r1, c1, r1, c2, scale));
    fillNormalFast(rng, out.subarray(r1 * c2), std);
    return out;
  }
  if (rowsTile) {
    // down under a non-integer FFN factor: duplicated output rows, new units' columns zero
    const out = new Float32Array(r2 * c2);
    for (let r = 0; r < r2; r++) out.set(data.subarray((r % r1) * c1, (r % r1 + 1) * c1), r * c2);
    return out;
  }
  return undefined;
}
